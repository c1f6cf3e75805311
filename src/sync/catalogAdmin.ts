import type { EntityManager } from '@mikro-orm/postgresql';
import * as admin from '../billing/catalogAdmin';
import type { CreatePlanInput, PricingChange, PricingInput, UpdatePlanInput } from '../billing/catalogInputs';
import type { BillingDeps } from '../billing/deps';
import type { Plan, PlanPricing } from '../entities';
import { callStripe } from '../stripe/errors';
import { syncStripeCatalog } from './catalog';

/**
 * Catalog administration as the API offers it: the change is written (billing/catalogAdmin), then the
 * changed plan's Product and Prices are made to match in Stripe, as the seed does. If Stripe cannot be
 * reached the change stays written and the error says so; the next sync (`npm run stripe:sync`, or the
 * next start in local mode) finishes it. Without Stripe (a server started without it) only the database changes.
 */

export async function createPlan(em: EntityManager, deps: BillingDeps | undefined, input: CreatePlanInput): Promise<Plan> {
  const plan = await admin.createPlan(em, input);
  await syncPlan(em, deps, plan.id);
  return plan;
}

export async function updatePlan(em: EntityManager, deps: BillingDeps | undefined, code: string, input: UpdatePlanInput): Promise<Plan> {
  const plan = await admin.updatePlan(em, code, input);
  await syncPlan(em, deps, plan.id);
  return plan;
}

export async function addPricingOption(
  em: EntityManager,
  deps: BillingDeps | undefined,
  code: string,
  input: PricingInput,
): Promise<PlanPricing> {
  const pricing = await admin.addPricingOption(em, code, input);
  await syncPlan(em, deps, pricing.plan.id);
  return pricing;
}

export async function updatePricingOption(
  em: EntityManager,
  deps: BillingDeps | undefined,
  id: string,
  input: PricingChange,
): Promise<PlanPricing> {
  const pricing = await admin.updatePricingOption(em, id, input);
  await syncPlan(em, deps, pricing.plan.id);
  return pricing;
}

export async function archivePricingOption(em: EntityManager, deps: BillingDeps | undefined, id: string): Promise<PlanPricing> {
  const pricing = await admin.archivePricingOption(em, id);
  await syncPlan(em, deps, pricing.plan.id);
  return pricing;
}

async function syncPlan(em: EntityManager, deps: BillingDeps | undefined, planId: string): Promise<void> {
  if (!deps) return;
  // A fork of its own: the sync reads the committed rows, not what the request's identity map holds.
  await callStripe(() => syncStripeCatalog(em.fork() as EntityManager, deps.stripe, deps.logger, { planIds: [planId] }), deps);
}
