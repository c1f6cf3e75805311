import type { EntityManager } from '@mikro-orm/postgresql';
import type { BillingEnv } from '../billing/env';
import { reconcilePayments } from '../billing/paymentSync';
import { lockUser } from '../billing/locks';
import { upsertFromStripe } from '../billing/subscriptionSync';
import { User } from '../entities';

/**
 * Reconciles every known customer's Stripe objects into our rows, page by page. With dryRun the
 * changes are computed inside a transaction that is rolled back, and returned as readable diffs.
 */
export interface ObjectDiff {
  entity: string;
  id: string;
  kind: 'create' | 'update';
  changes: Array<{ field: string; from: unknown; to: unknown }>;
}

/** Reconcilers per kind of object; payments add theirs. Each applies Stripe's state for one customer. */
export type CustomerReconciler = (em: EntityManager, env: BillingEnv, user: User) => Promise<void>;

const reconcilers: Array<{ name: string; run: CustomerReconciler }> = [];

export function registerReconciler(name: string, run: CustomerReconciler): void {
  reconcilers.push({ name, run });
}

registerReconciler('subscriptions', async (em, env, user) => {
  // Under the user's billing lock, like every other write of their subscriptions.
  await lockUser(em, user.id);
  for await (const s of env.stripe.subscriptions.list({ customer: user.stripeCustomerId!, status: 'all', limit: 100 })) {
    await upsertFromStripe(em, s, env.logger);
  }
});

registerReconciler('payments', reconcilePayments);

class DryRun extends Error {}

const show = (v: unknown) => (v instanceof Date ? v.toISOString() : v === undefined ? null : v);

/** Append-only audit rows written with a synced change; the change itself is the diff shown. */
const AUDIT_ENTITIES = new Set(['PaymentLog']);

/** The pending changes of the unit of work as diffs (what a flush would write). */
function pendingDiffs(em: EntityManager): ObjectDiff[] {
  const uow = em.getUnitOfWork();
  uow.computeChangeSets();
  return uow.getChangeSets().flatMap((cs) => {
    const entity = cs.meta.className;
    if (AUDIT_ENTITIES.has(entity)) return [];
    const original = (cs.originalEntity ?? {}) as Record<string, unknown>;
    const fields = Object.keys(cs.payload).filter((f) => !['updatedAt', 'stripeSyncedAt', 'createdAt'].includes(f));
    const changes = fields
      .map((field) => ({ field, from: show(original[field]), to: show((cs.payload as Record<string, unknown>)[field]) }))
      .filter((c) => JSON.stringify(c.from) !== JSON.stringify(c.to));
    if (changes.length === 0) return [];
    return [{ entity, id: String((cs.entity as { id?: string }).id ?? ''), kind: cs.type === 'create' ? ('create' as const) : ('update' as const), changes }];
  });
}

export interface ReconcileReport {
  customers: number;
  diffs: ObjectDiff[];
}

/** Customers are read from our database this many at a time (Stripe's lists are paged by the SDK). */
const CUSTOMER_PAGE = 100;

export async function reconcileAll(
  em: EntityManager,
  env: BillingEnv,
  options: { dryRun: boolean; onProgress?: (done: number, total: number) => void },
): Promise<ReconcileReport> {
  const known = { stripeCustomerId: { $ne: null } };
  const total = await em.count(User, known);
  const diffs: ObjectDiff[] = [];
  let done = 0;
  let after: string | undefined;
  for (;;) {
    const page = await em.fork().find(User, after ? { ...known, id: { $gt: after } } : known, { orderBy: { id: 'asc' }, limit: CUSTOMER_PAGE, fields: ['id'] });
    if (page.length === 0) break;
    for (const { id } of page) {
      const fork = em.fork() as EntityManager;
      try {
        await fork.transactional(async (tx) => {
          const user = await tx.findOneOrFail(User, id);
          for (const r of reconcilers) await r.run(tx, env, user);
          diffs.push(...pendingDiffs(tx));
          if (options.dryRun) throw new DryRun();
        });
      } catch (err) {
        if (!(err instanceof DryRun)) throw err;
      }
      options.onProgress?.(++done, Math.max(total, done));
    }
    after = page[page.length - 1].id;
  }
  return { customers: done, diffs };
}

export function formatDiff(d: ObjectDiff): string {
  const head = `${d.kind === 'create' ? '+' : '~'} ${d.entity} ${d.id}`;
  return [head, ...d.changes.map((c) => `    ${c.field}: ${JSON.stringify(c.from)} -> ${JSON.stringify(c.to)}`)].join('\n');
}
