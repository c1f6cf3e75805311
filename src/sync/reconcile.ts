import { FlushMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { BillingDeps } from '../billing/deps';
import { lockUser } from '../billing/locks';
import { reconcileInvoices } from '../billing/invoices/sync';
import { reconcilePayments } from '../billing/payments/sync';
import { applyExpiredCheckout, upsertFromStripe } from '../billing/subscriptions/stripeState';
import { Subscription, SubscriptionStatus, User } from '../entities';
import { callStripe } from '../stripe/errors';

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

/**
 * Applies Stripe's state for one customer, reading Stripe's lists `pageSize` objects at a time, and
 * leaves its changes unflushed.
 */
export type CustomerReconciler = (em: EntityManager, deps: BillingDeps, user: User, pageSize: number) => Promise<void>;

const reconcileSubscriptions: CustomerReconciler = async (em, deps, user, pageSize) => {
  // The lock subscribe, cancel, resume and the webhook handlers take: no write races this one.
  await lockUser(em, user.id);
  for await (const s of deps.stripe.subscriptions.list({ customer: user.stripeCustomerId!, status: 'all', limit: pageSize })) {
    await upsertFromStripe(em, s, deps.logger);
  }
  // Checkout subscriptions that never got a Stripe subscription: one whose session expired unpaid has ended.
  const waiting = await em.find(Subscription, {
    user,
    stripeSubscriptionId: null,
    stripeCheckoutSessionId: { $ne: null },
    status: SubscriptionStatus.INCOMPLETE,
  });
  for (const sub of waiting) {
    const session = await callStripe(() => deps.stripe.checkout.sessions.retrieve(sub.stripeCheckoutSessionId!), deps);
    applyExpiredCheckout(sub, session);
  }
};

/** Every kind of object stripe:sync reconciles, in order. */
const RECONCILERS: CustomerReconciler[] = [reconcileSubscriptions, reconcileInvoices, reconcilePayments];

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
    const fields = Object.keys(cs.payload).filter((f) => !['id', 'updatedAt', 'stripeSyncedAt', 'createdAt'].includes(f));
    const changes = fields
      .map((field) => ({ field, from: show(original[field]), to: show((cs.payload as Record<string, unknown>)[field]) }))
      .filter((c) => JSON.stringify(c.from) !== JSON.stringify(c.to));
    if (changes.length === 0) return [];
    return [
      {
        entity,
        id: String((cs.entity as { id?: string }).id ?? ''),
        kind: cs.type === 'create' ? ('create' as const) : ('update' as const),
        changes,
      },
    ];
  });
}

export interface ReconcileReport {
  customers: number;
  diffs: ObjectDiff[];
}

/** Customers are read from our database, and objects from Stripe's lists, this many at a time by default (Stripe's most). */
export const DEFAULT_PAGE_SIZE = 100;

export async function reconcileAll(
  em: EntityManager,
  deps: BillingDeps,
  options: { dryRun: boolean; pageSize?: number; onProgress?: (done: number, total: number) => void },
): Promise<ReconcileReport> {
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  const known = { stripeCustomerId: { $ne: null } };
  const total = await em.count(User, known);
  const diffs: ObjectDiff[] = [];
  let done = 0;
  let after: string | undefined;
  for (;;) {
    const page = await em
      .fork()
      .find(User, after ? { ...known, id: { $gt: after } } : known, { orderBy: { id: 'asc' }, limit: pageSize, fields: ['id'] });
    if (page.length === 0) break;
    for (const { id } of page) {
      const fork = em.fork() as EntityManager;
      try {
        // Nothing is flushed before the end (no auto-flush before a query), so the pending changes are
        // every change of this customer: what a dry run shows and a real run writes and reports.
        await fork.transactional(
          async (tx) => {
            const user = await tx.findOneOrFail(User, id);
            for (const reconcile of RECONCILERS) await reconcile(tx, deps, user, pageSize);
            diffs.push(...pendingDiffs(tx));
            if (options.dryRun) throw new DryRun();
          },
          { flushMode: FlushMode.COMMIT },
        );
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
