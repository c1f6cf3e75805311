import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { badInput, conflict, notFound } from '../errors';
import { UUID } from '../ids';
import { parseInput } from '../input';
import { Plan, PlanLimit, PlanPricing } from '../entities';
import {
  createPlanInput,
  planCode,
  pricingChange,
  pricingInput,
  updatePlanInput,
  type CreatePlanInput,
  type PricingChange,
  type PricingInput,
  type UpdatePlanInput,
} from './catalogInputs';
import { parseAmount } from './money';
import type { LimitDefinition, PlanDefinition, PricingDefinition } from './catalog';

/**
 * Writing the catalog: plans, their limits and features, their pricing options. The GraphQL mutations and
 * the seed use these, so both refuse and write the same way. Stripe is made to match afterwards by
 * sync/catalog (billing may not call sync/). Pricing rows change in place: a subscription keeps the
 * Stripe Price it was bought at, while the lookup key moves to the new Price.
 */

/** Runs a catalog change in one transaction, serialised with every other; the database's refusals become coded errors. */
export async function catalogChange<T>(em: EntityManager, change: (tx: EntityManager) => Promise<T>): Promise<T> {
  try {
    return await em.transactional(async (tx) => {
      // Serialise concurrent changes (the server's first seed, a script and an admin at the same moment).
      await tx.execute(`select pg_advisory_xact_lock(hashtext('tollgate:seed-catalog'))`);
      return change(tx);
    });
  } catch (err) {
    throw constraintError(err);
  }
}

export function createPlan(em: EntityManager, input: CreatePlanInput): Promise<Plan> {
  const checked = parseInput(createPlanInput, input);
  return catalogChange(em, async (tx) => {
    // A second default or a taken code is refused by the database's constraints (see constraintError).
    const plan = writePlan(tx, null, { ...checked, sortOrder: checked.rank });
    for (const option of checked.pricingOptions) writePricing(tx, plan, option);
    await tx.flush();
    return plan;
  });
}

/** Making a plan the default takes the flag from the current default, in the same transaction. */
export function updatePlan(em: EntityManager, code: string, input: UpdatePlanInput): Promise<Plan> {
  const checkedCode = parseInput(planCode, code);
  const checked = parseInput(updatePlanInput, input);
  return catalogChange(em, async (tx) => {
    const plan = await tx.findOne(Plan, { code: checkedCode, active: true }, { populate: ['limits'] });
    if (!plan) throw notFound(`Plan "${checkedCode}"`);
    if (checked.isDefault && !plan.isDefault) await tx.nativeUpdate(Plan, { isDefault: true }, { isDefault: false });
    writePlan(tx, plan, { ...checked, code: plan.code, sortOrder: checked.rank });
    await tx.flush();
    return plan;
  });
}

export function addPricingOption(em: EntityManager, code: string, input: PricingInput): Promise<PlanPricing> {
  const checkedCode = parseInput(planCode, code);
  const checked = parseInput(pricingInput, input);
  return catalogChange(em, async (tx) => {
    const plan = await tx.findOne(Plan, { code: checkedCode, active: true }, { populate: ['pricings'] });
    if (!plan) throw notFound(`Plan "${checkedCode}"`);
    const pricing = writePricing(tx, plan, checked, { adding: true });
    await tx.flush();
    return pricing;
  });
}

/**
 * A changed amount, currency or interval makes a new Stripe Price at the next sync; subscribers keep theirs.
 * A changed trial applies to subscriptions made from then on (Stripe is told it when one is made).
 */
export function updatePricingOption(em: EntityManager, id: string, input: PricingChange): Promise<PlanPricing> {
  const checkedId = parseInput(pricingId, id);
  const checked = parseInput(pricingChange, input);
  return catalogChange(em, async (tx) => {
    const pricing = await activePricing(tx, checkedId);
    const currency = checked.currency ?? pricing.currency;
    // A new currency needs the amount restated in it: the old minor units mean something else there.
    if (checked.currency && checked.currency !== pricing.currency && checked.amount === undefined) {
      throw badInput('Changing the currency needs the amount in the new currency too', { field: 'amount' });
    }
    const amountMinor = checked.amount === undefined ? pricing.amountMinor : parseAmount(checked.amount, currency, { allowZero: true });
    const interval = checked.interval ?? pricing.interval;
    const intervalCount = checked.intervalCount ?? (checked.interval ? 1 : pricing.intervalCount);
    const autoRenew = checked.autoRenew ?? pricing.autoRenew;
    const trialDays = checked.trialDays ?? pricing.trialDays;
    parseInput(pricingChange, { interval, intervalCount, autoRenew, trialDays });
    tx.assign(pricing, { amountMinor, currency, interval, intervalCount, autoRenew, trialDays });
    await tx.flush();
    return pricing;
  });
}

/** Archived options are no longer offered; subscriptions bought with them go on as they are. */
export function archivePricingOption(em: EntityManager, id: string): Promise<PlanPricing> {
  const checkedId = parseInput(pricingId, id);
  return catalogChange(em, async (tx) => {
    const pricing = await activePricing(tx, checkedId);
    pricing.active = false;
    await tx.flush();
    return pricing;
  });
}

type PlanFields = Partial<Omit<PlanDefinition, 'code' | 'pricing'>> & { code: string };

/** A plan's own fields; limits and features, when given, replace the plan's whole set. */
export function writePlan(tx: EntityManager, found: Plan | null, def: PlanFields): Plan {
  const fields = definedOnly({
    name: def.name,
    description: def.description,
    isDefault: def.isDefault,
    sortOrder: def.sortOrder,
    features: def.features,
  });
  const plan = found ?? tx.create(Plan, { code: def.code, name: def.name ?? def.code, ...fields });
  if (found) tx.assign(found, { ...fields, active: true });
  if (def.limits) replaceLimits(tx, plan, def.limits);
  return plan;
}

function replaceLimits(tx: EntityManager, plan: Plan, limits: LimitDefinition[]): void {
  for (const { metric, period, limit: allowance } of limits) {
    const limit = plan.limits.getItems().find((l) => l.metric === metric && l.period === period);
    if (limit) limit.allowance = allowance;
    else plan.limits.add(tx.create(PlanLimit, { plan, metric, period, allowance }));
  }
  for (const limit of plan.limits.getItems()) {
    if (!limits.some((d) => d.metric === limit.metric && d.period === limit.period)) tx.remove(limit);
  }
}

/** Creates or updates (and reactivates) the plan's pricing option with the definition's lookup key. */
export function writePricing(tx: EntityManager, plan: Plan, def: PricingDefinition, opts: { adding?: boolean } = {}): PlanPricing {
  const fields = {
    lookupKey: def.lookupKey,
    amountMinor: def.amountMinor,
    currency: def.currency,
    interval: def.interval,
    intervalCount: def.intervalCount,
    autoRenew: def.autoRenew,
    trialDays: def.trialDays,
    active: true,
  };
  const existing = opts.adding ? undefined : plan.pricings.getItems().find((x) => x.lookupKey === def.lookupKey);
  if (existing) return tx.assign(existing, fields);
  const created = tx.create(PlanPricing, { plan, ...fields });
  plan.pricings.add(created);
  return created;
}

// Checked before it reaches a uuid column, where a malformed id would be a SQL error rather than a refusal.
const pricingId = z.string().refine(
  (id) => UUID.test(id),
  (id) => ({ message: `Invalid pricing option id "${id.slice(0, 60)}"` }),
);

async function activePricing(tx: EntityManager, id: string): Promise<PlanPricing> {
  const pricing = await tx.findOne(PlanPricing, { id, active: true }, { populate: ['plan'] });
  if (!pricing) throw notFound('Pricing option');
  return pricing;
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The constraints that keep the catalog whole, as what the client did wrong. */
function constraintError(err: unknown): unknown {
  if (err instanceof UniqueConstraintViolationException) {
    const { constraint, detail } = err as unknown as { constraint?: string; detail?: string };
    const value = shorten(/=\((.*)\)/.exec(detail ?? '')?.[1] ?? '');
    if (constraint === 'plan_code_unique') return conflict(`A plan with code "${value}" already exists`, { field: 'code' });
    if (constraint === 'plan_pricing_lookup_key_unique') {
      return conflict(`A pricing option with lookup key "${value}" already exists (archived ones keep their key)`, { field: 'lookupKey' });
    }
    if (constraint === 'plan_single_default') {
      return conflict('Another plan is already the default: create this plan without isDefault, then make it the default with updatePlan', {
        field: 'isDefault',
      });
    }
    if (constraint === 'plan_limit_plan_id_metric_period_unique')
      return conflict('That limit is already set on the plan', { field: 'limits' });
  }
  // The trigger is deferred, so it fires at commit, where the driver's error arrives unconverted.
  if (err instanceof Error && (err as { code?: string }).code === '23514' && /exactly one plan must be the default/.test(err.message)) {
    return badInput('Exactly one plan must be the default: make another plan the default instead of unsetting this one', {
      field: 'isDefault',
    });
  }
  return err;
}

const shorten = (s: string) => (s.length > 60 ? `${s.slice(0, 57)}...` : s);
