import type { EntityManager } from '@mikro-orm/postgresql';
import { Plan, PlanLimit, PlanPricing, type LimitPeriod, type PricingInterval } from '../entities';
import { badInput } from '../errors';
import { MAX_LENGTH } from '../input';
import { catalogChange, writePlan, writePricing } from './catalogAdmin';
import { catalogFilePath, readCatalogFile } from './catalogFile';
import { trialDaysSchema } from './catalogInputs';
import { formatAmount, parseAmount } from './money';
import { PERIOD_ORDER } from './periods';

/**
 * The product catalog: which plans exist, their limits, features and pricing options. The definition the
 * seed and the first start apply is seeds/catalog.json (catalogFile.ts); `seedCatalog` makes the database
 * match it with the writers the GraphQL catalog administration uses and reports what it changed, so running it twice
 * changes nothing the second time.
 */

export const METRICS = ['minutes', 'megabytes'] as const;

/** The seed's amount flags: decimal strings in USD ("5" or "4.99"); an absent one keeps the catalog file's amount. */
export interface CatalogAmounts {
  free: string;
  dayPass: string;
  premium: string;
}

export interface PricingDefinition {
  lookupKey: string;
  amountMinor: number;
  currency: string;
  interval: PricingInterval;
  intervalCount: number;
  autoRenew: boolean;
  /** Days of free trial for a new subscriber (0: none). */
  trialDays: number;
}

export interface LimitDefinition {
  metric: string;
  period: LimitPeriod;
  /** null = unlimited */
  limit: number | null;
}

export interface PlanDefinition {
  code: string;
  name: string;
  description: string;
  isDefault: boolean;
  sortOrder: number;
  limits: LimitDefinition[];
  /** Boolean features the plan grants, by key. */
  features: string[];
  pricing: PricingDefinition[];
}

/** The pricing option each amount flag sets. */
const AMOUNT_FLAGS: Record<keyof CatalogAmounts, { lookupKey: string; field: string; allowZero: boolean }> = {
  free: { lookupKey: 'free_monthly', field: 'free amount', allowZero: true },
  dayPass: { lookupKey: 'day_pass_daily', field: 'day pass amount', allowZero: false },
  premium: { lookupKey: 'premium_monthly', field: 'premium amount', allowZero: false },
};

/**
 * The amounts the seed's flags set, as the pricing options have them now (decimal strings); an option not
 * created yet is left out. The seed keeps these for every flag not given: a price change makes a new
 * Stripe Price, so it never happens because a flag was left out (or an admin's change would be undone).
 */
export async function currentAmounts(em: EntityManager): Promise<Partial<CatalogAmounts>> {
  const rows = await em.find(PlanPricing, { lookupKey: { $in: Object.values(AMOUNT_FLAGS).map((f) => f.lookupKey) } });
  const current: Partial<CatalogAmounts> = {};
  for (const [flag, { lookupKey }] of Object.entries(AMOUNT_FLAGS) as Array<[keyof CatalogAmounts, { lookupKey: string }]>) {
    const row = rows.find((r) => r.lookupKey === lookupKey);
    if (row) current[flag] = formatAmount(row.amountMinor, row.currency);
  }
  return current;
}

/** The seed's trial flags: days of free trial; an absent one keeps the option's trial as it is now. */
export interface CatalogTrials {
  premium: number;
}

/** The pricing option each trial flag sets. */
const TRIAL_FLAGS: Record<keyof CatalogTrials, { lookupKey: string; field: string }> = {
  premium: { lookupKey: 'premium_monthly', field: 'premium trial days' },
};

/** The trials the seed's flags set, as the pricing options have them now; an option not created yet is left out. */
export async function currentTrials(em: EntityManager): Promise<Partial<CatalogTrials>> {
  const rows = await em.find(PlanPricing, { lookupKey: { $in: Object.values(TRIAL_FLAGS).map((f) => f.lookupKey) } });
  const current: Partial<CatalogTrials> = {};
  for (const [flag, { lookupKey }] of Object.entries(TRIAL_FLAGS) as Array<[keyof CatalogTrials, { lookupKey: string }]>) {
    const row = rows.find((r) => r.lookupKey === lookupKey);
    if (row) current[flag] = row.trialDays;
  }
  return current;
}

/**
 * The catalog file (seeds/catalog.json), with the amounts and trials the seed's flags give in place of the
 * file's.
 */
export function catalogDefinition(
  amounts: Partial<CatalogAmounts> = {},
  file = catalogFilePath(),
  trials: Partial<CatalogTrials> = {},
): PlanDefinition[] {
  const plans = readCatalogFile(file);
  for (const [flag, value] of Object.entries(trials) as Array<[keyof CatalogTrials, number | undefined]>) {
    if (value === undefined) continue;
    const { lookupKey, field } = TRIAL_FLAGS[flag];
    const pricing = plans.flatMap((p) => p.pricing).find((p) => p.lookupKey === lookupKey);
    if (!pricing) throw badInput(`The ${field} sets pricing option "${lookupKey}", which ${file} does not have`, { field });
    const checked = trialDaysSchema.safeParse(value);
    if (!checked.success) throw badInput(`The ${field} (${value}): ${checked.error.issues[0]?.message}`, { field });
    pricing.trialDays = checked.data;
  }
  for (const [flag, value] of Object.entries(amounts) as Array<[keyof CatalogAmounts, string | undefined]>) {
    if (value === undefined) continue;
    const { lookupKey, field, allowZero } = AMOUNT_FLAGS[flag];
    const pricing = plans.flatMap((p) => p.pricing).find((p) => p.lookupKey === lookupKey);
    if (!pricing) throw badInput(`The ${field} sets pricing option "${lookupKey}", which ${file} does not have`, { field });
    pricing.amountMinor = parseAmount(value, pricing.currency, { allowZero, field });
  }
  return plans;
}

export interface SeedReport {
  created: string[];
  updated: string[];
  unchanged: string[];
}

/** Creates or updates every plan of the definition, by plan code, in one transaction. */
export async function seedCatalog(em: EntityManager, definition: PlanDefinition[]): Promise<SeedReport> {
  const report: SeedReport = { created: [], updated: [], unchanged: [] };
  await catalogChange(em, async (tx) => {
    const existing = await tx.find(Plan, { code: definition.map((d) => d.code) }, { populate: ['limits', 'pricings'] });
    const byCode = new Map(existing.map((p) => [p.code, p]));
    // Only one default plan may exist at any moment: clear the flag elsewhere first.
    const defaultCode = definition.find((d) => d.isDefault)?.code;
    if (defaultCode) {
      await tx.nativeUpdate(Plan, { isDefault: true, code: { $ne: defaultCode } }, { isDefault: false });
    }
    for (const def of definition) {
      const found = byCode.get(def.code) ?? null;
      const isNew = !found;
      const plan = writePlan(tx, found, def);
      for (const p of def.pricing) writePricing(tx, plan, p);
      const changed = isNew || hasChanges(tx, plan);
      (isNew ? report.created : changed ? report.updated : report.unchanged).push(def.code);
    }
  });
  return report;
}

function hasChanges(em: EntityManager, plan: Plan): boolean {
  const uow = em.getUnitOfWork();
  uow.computeChangeSets();
  const entities = new Set<object>([plan, ...plan.limits.getItems(), ...plan.pricings.getItems()]);
  return uow.getChangeSets().some((cs) => entities.has(cs.entity));
}

/** Active plans in display order. */
export function listPlans(em: EntityManager): Promise<Plan[]> {
  return em.find(Plan, { active: true }, { orderBy: { sortOrder: 'asc', code: 'asc' } });
}

/** The active plan of that code, or null; a code longer than any plan's is BAD_USER_INPUT. */
export function findPlan(em: EntityManager, code: string): Promise<Plan | null> {
  if (code.length > MAX_LENGTH.code) throw badInput(`code is longer than ${MAX_LENGTH.code} characters`, { field: 'code' });
  return em.findOne(Plan, { code, active: true });
}

export async function isCatalogEmpty(em: EntityManager): Promise<boolean> {
  return (await em.count(Plan, {})) === 0;
}

export async function limitsByPlan(em: EntityManager, planIds: readonly string[]): Promise<PlanLimit[][]> {
  const rows = await em.find(PlanLimit, { plan: planIds as string[] }, { orderBy: { metric: 'asc' } });
  const rank = (l: PlanLimit) => PERIOD_ORDER.indexOf(l.period);
  rows.sort((a, b) => a.metric.localeCompare(b.metric) || rank(a) - rank(b));
  return planIds.map((id) => rows.filter((r) => r.plan.id === id));
}

export async function pricingsByPlan(em: EntityManager, planIds: readonly string[]): Promise<PlanPricing[][]> {
  const rows = await em.find(
    PlanPricing,
    { plan: planIds as string[], active: true },
    { orderBy: { amountMinor: 'asc', lookupKey: 'asc' } },
  );
  return planIds.map((id) => rows.filter((r) => r.plan.id === id));
}
