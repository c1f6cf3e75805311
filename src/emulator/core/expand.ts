import { clone, type EmulatorContext } from './context';
import { invalidRequest } from './errors';

const MAX_DEPTH = 4;

/**
 * The generic `expand[]`: each dotted path walks the response; a string id met on the way is replaced by
 * the stored object with that id (whatever its type: ids carry their prefix), or by its `deleted` stub.
 * Arrays are walked element by element (so `data.customer` works on lists). Fields that only exist when
 * expanded (`charge.refunds`, ...) come from the resolvers registered with `ctx.registerExpandable`.
 * Mutates and returns `value`, which must already be a copy.
 */
export function expandResponse(ctx: EmulatorContext, value: unknown, paths: string[]): unknown {
  for (const path of paths) {
    const segs = path.split('.').filter(Boolean);
    if (segs.length === 0) continue;
    if (segs.length > MAX_DEPTH)
      throw invalidRequest(`You cannot expand more than ${MAX_DEPTH} levels of a property. Property: ${path}`, { param: 'expand' });
    walk(ctx, value, segs, path);
  }
  return value;
}

function walk(ctx: EmulatorContext, node: unknown, segs: string[], full: string): void {
  if (Array.isArray(node)) {
    for (const el of node) walk(ctx, el, segs, full);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const obj = node as Record<string, unknown>;
  const [seg, ...rest] = segs as [string, ...string[]];
  let v = obj[seg];
  if (v === undefined) {
    const virtual = typeof obj['object'] === 'string' ? ctx.expandable(obj['object'], seg) : undefined;
    if (!virtual) throw cannotExpand(full);
    v = clone(virtual(obj, ctx));
    obj[seg] = v;
  } else if (typeof v === 'number' || typeof v === 'boolean') {
    throw cannotExpand(full);
  } else if (typeof v === 'string') {
    const target = ctx.store.get(v) ?? ctx.store.deleted(v);
    if (!target) throw cannotExpand(full);
    v = clone(target);
    obj[seg] = v;
  }
  if (rest.length && v !== null) walk(ctx, v, rest, full);
}

function cannotExpand(path: string) {
  return invalidRequest(`This property cannot be expanded (${path}).`, { param: 'expand' });
}
