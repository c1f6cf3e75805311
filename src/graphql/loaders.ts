import type { EntityManager } from '@mikro-orm/postgresql';
import DataLoader from 'dataloader';
import { limitsByPlan, pricingsByPlan } from '../billing/catalog';
import type { PlanLimit, PlanPricing } from '../entities';

/** Per-request batching: one statement per kind of child, whatever the number of parents. */
export function createLoaders(em: EntityManager) {
  return {
    planLimits: new DataLoader<string, PlanLimit[]>((ids) => limitsByPlan(em, ids)),
    planPricings: new DataLoader<string, PlanPricing[]>((ids) => pricingsByPlan(em, ids)),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
