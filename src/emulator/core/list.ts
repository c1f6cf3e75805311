import type Stripe from 'stripe';
import { invalidRequest, resourceMissing } from './errors';
import type { ApiRequest } from './router';
import type { StoredObject } from './store';
import type { Params } from './params';

/**
 * Stripe's cursor pagination over objects given newest first: `limit` (1..100, default 10),
 * `starting_after` (older than the cursor) and `ending_before` (newer than the cursor).
 * Cursors are compared by insertion order, so an id filtered out of this list still works as a cursor.
 */
export function paginate<T extends StoredObject>(req: ApiRequest, items: T[], url = req.path): Stripe.ApiList<T> {
  const p = req.params;
  const limit = p.int('limit', { min: 1, max: 100 }) ?? 10;
  const after = p.str('starting_after');
  const before = p.str('ending_before');
  const store = req.ctx.store;
  const seqOf = (id: string, param: string): number => {
    const s = store.seqOf(id);
    if (s === undefined) {
      const type = store.deleted(id)?.object ?? guessObject(items);
      throw resourceMissing(req.ctx.typeOf(type)?.name ?? type, id, param);
    }
    return s;
  };
  const seq = (o: T) => store.seqOf(o.id) ?? 0;
  let data: T[];
  let hasMore: boolean;
  if (before) {
    const cursor = seqOf(before, 'ending_before');
    const newer = items.filter((o) => seq(o) > cursor);
    data = newer.slice(Math.max(0, newer.length - limit));
    hasMore = newer.length > limit;
  } else {
    const rest = after ? items.filter((o) => seq(o) < seqOf(after, 'starting_after')) : items;
    data = rest.slice(0, limit);
    hasMore = rest.length > limit;
  }
  return { object: 'list', data, has_more: hasMore, url };
}

function guessObject(items: StoredObject[]): string {
  return items[0]?.object ?? 'object';
}

/** The `created` filter of list endpoints: an exact timestamp or a range hash (gt, gte, lt, lte). */
export function filterCreated<T extends { created?: number }>(p: Params, items: T[], key = 'created'): T[] {
  if (!p.has(key)) return items;
  const exact = typeof p.raw[key] === 'string' ? p.int(key) : undefined;
  if (exact !== undefined) return items.filter((o) => o.created === exact);
  const range = p.obj(key);
  if (!range) return items;
  const gt = range.int('gt');
  const gte = range.int('gte');
  const lt = range.int('lt');
  const lte = range.int('lte');
  if ([gt, gte, lt, lte].every((v) => v === undefined))
    throw invalidRequest(`Invalid ${key}: must be an integer or a hash with gt, gte, lt or lte`, { param: key });
  return items.filter((o) => {
    const c = o.created ?? 0;
    return (
      (gt === undefined || c > gt) && (gte === undefined || c >= gte) && (lt === undefined || c < lt) && (lte === undefined || c <= lte)
    );
  });
}
