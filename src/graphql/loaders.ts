import type { EntityManager } from '@mikro-orm/postgresql';
import DataLoader from 'dataloader';
import { limitsByPlan, pricingsByPlan } from '../billing/catalog';
import { newestInvoices, type NewestInvoicesKey } from '../billing/invoices/queries';
import { logsByPayment } from '../billing/payments/queries';
import { Plan, PlanPricing, type Invoice, type PaymentLog, type PlanLimit } from '../entities';

/** Per-request batching: one statement per kind of child, whatever the number of parents. */
export function createLoaders(em: EntityManager) {
  return {
    planLimits: new DataLoader<string, PlanLimit[]>((ids) => limitsByPlan(em, ids)),
    planPricings: new DataLoader<string, PlanPricing[]>((ids) => pricingsByPlan(em, ids)),
    planById: new DataLoader<string, Plan>((ids) => byId(em, Plan, ids)),
    pricingById: new DataLoader<string, PlanPricing>((ids) => byId(em, PlanPricing, ids)),
    paymentLogs: new DataLoader<string, PaymentLog[]>((ids) => logsByPayment(em, ids)),
    subscriptionInvoices: new DataLoader<NewestInvoicesKey, Invoice[], string>((keys) => newestInvoices(em, keys), {
      cacheKeyFn: (k) => `${k.first ?? ''}:${k.subscriptionId}`,
    }),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;

async function byId<T extends { id: string }>(em: EntityManager, entity: new () => T, ids: readonly string[]): Promise<Array<T | Error>> {
  const rows = await em.find(entity, { id: { $in: ids as string[] } } as never);
  const map = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => map.get(id) ?? new Error(`${entity.name} ${id} not found`));
}
