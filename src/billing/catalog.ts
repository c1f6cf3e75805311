import type { EntityManager } from '@mikro-orm/postgresql';
import { LimitPeriod, Plan, PlanLimit, PlanPricing, PricingInterval } from '../entities';
import { badInput } from '../errors';
import { MAX_LENGTH } from '../input';
import { parseAmount } from './money';
import { PERIOD_ORDER } from './periods';

/**
 * The product catalog: which plans exist, their daily limits and their pricing options.
 * `seedCatalog` makes the database match the definition and reports what it changed, so running it twice
 * changes nothing the second time.
 */

export const METRICS = ['minutes', 'megabytes'] as const;

export interface CatalogAmounts {
  /** Decimal strings in USD, e.g. "5" or "4.99". */
  free: string;
  dayPass: string;
  premium: string;
}

export const DEFAULT_AMOUNTS: CatalogAmounts = { free: '0', dayPass: '5', premium: '200' };

export interface PricingDefinition {
  lookupKey: string;
  amountMinor: number;
  currency: string;
  interval: PricingInterval;
  intervalCount: number;
  autoRenew: boolean;
}

export interface LimitDefinition {
  metric: string;
  period: LimitPeriod;
  /** null = unlimited */
  limit: number | null;
}

const day = (metric: string, limit: number | null): LimitDefinition => ({ metric, period: LimitPeriod.DAY, limit });

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

export function catalogDefinition(amounts: CatalogAmounts = DEFAULT_AMOUNTS): PlanDefinition[] {
  const usd = (value: string, field: string, allowZero = false) => parseAmount(value, 'usd', { allowZero, field });
  return [
    {
      code: 'free',
      name: 'Free',
      description: 'Everyone starts here: 180 minutes and 300 MB a day, up to 3,000 minutes a month.',
      isDefault: true,
      sortOrder: 0,
      limits: [day('minutes', 180), { metric: 'minutes', period: LimitPeriod.MONTH, limit: 3000 }, day('megabytes', 300)],
      features: [],
      pricing: [
        {
          lookupKey: 'free_monthly',
          amountMinor: usd(amounts.free, 'free amount', true),
          currency: 'usd',
          interval: PricingInterval.MONTH,
          intervalCount: 1,
          autoRenew: true,
        },
      ],
    },
    {
      code: 'day_pass',
      name: 'Day Pass',
      description: '24 hours of heavy use: 1,440 minutes and 5 GB. Does not renew.',
      isDefault: false,
      sortOrder: 1,
      limits: [day('minutes', 1440), day('megabytes', 5120)],
      features: ['priority_support'],
      pricing: [
        {
          lookupKey: 'day_pass_daily',
          amountMinor: usd(amounts.dayPass, 'day pass amount'),
          currency: 'usd',
          interval: PricingInterval.DAY,
          intervalCount: 1,
          autoRenew: false,
        },
      ],
    },
    {
      code: 'premium',
      name: 'Premium',
      description: 'Unlimited minutes and megabytes, billed monthly.',
      isDefault: false,
      sortOrder: 2,
      limits: [day('minutes', null), day('megabytes', null)],
      features: ['priority_support', 'export'],
      pricing: [
        {
          lookupKey: 'premium_monthly',
          amountMinor: usd(amounts.premium, 'premium amount'),
          currency: 'usd',
          interval: PricingInterval.MONTH,
          intervalCount: 1,
          autoRenew: true,
        },
      ],
    },
  ];
}

export interface SeedReport {
  created: string[];
  updated: string[];
  unchanged: string[];
}

/** Creates or updates every plan of the definition, by plan code, in one transaction. */
export async function seedCatalog(em: EntityManager, definition: PlanDefinition[]): Promise<SeedReport> {
  const report: SeedReport = { created: [], updated: [], unchanged: [] };
  await em.transactional(async (tx) => {
    // Serialise concurrent seeds (server start and a script at the same moment).
    await tx.execute(`select pg_advisory_xact_lock(hashtext('tollgate:seed-catalog'))`);
    const existing = await tx.find(Plan, { code: definition.map((d) => d.code) }, { populate: ['limits', 'pricings'] });
    const byCode = new Map(existing.map((p) => [p.code, p]));
    // Only one default plan may exist at any moment: clear the flag elsewhere first.
    const defaultCode = definition.find((d) => d.isDefault)?.code;
    if (defaultCode) {
      await tx.nativeUpdate(Plan, { isDefault: true, code: { $ne: defaultCode } }, { isDefault: false });
    }
    for (const def of definition) {
      const found = byCode.get(def.code);
      const isNew = !found;
      const fields = {
        name: def.name,
        description: def.description,
        isDefault: def.isDefault,
        sortOrder: def.sortOrder,
        features: def.features,
        active: true,
      };
      const plan: Plan = found ?? tx.create(Plan, { code: def.code, ...fields });
      if (found) tx.assign(found, fields);
      for (const { metric, period, limit: allowance } of def.limits) {
        const limit = plan.limits.getItems().find((l) => l.metric === metric && l.period === period);
        if (limit) limit.allowance = allowance;
        else plan.limits.add(tx.create(PlanLimit, { plan, metric, period, allowance }));
      }
      for (const limit of plan.limits.getItems()) {
        if (!def.limits.some((d) => d.metric === limit.metric && d.period === limit.period)) tx.remove(limit);
      }
      for (const p of def.pricing) {
        const pricing = plan.pricings.getItems().find((x) => x.lookupKey === p.lookupKey);
        if (pricing) tx.assign(pricing, { ...p, active: true });
        else plan.pricings.add(tx.create(PlanPricing, { plan, ...p, active: true }));
      }
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
