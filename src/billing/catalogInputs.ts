import { z } from 'zod';
import { DomainError } from '../errors';
import { LimitPeriod, PricingInterval } from '../entities';
import { normalizeCurrency, parseAmount } from './money';

/**
 * What a catalog change may contain, checked before anything is read or written: by the GraphQL
 * mutations and by the catalog file the seed reads, so both refuse the same things the same way.
 */

/** An allowance fits the integer column with room to spare; more is a typo, not a plan. */
export const MAX_LIMIT = 1_000_000_000;
export const MAX_LIMITS_PER_PLAN = 50;
export const MAX_FEATURES_PER_PLAN = 50;
export const MAX_PRICING_OPTIONS = 20;
export const MAX_PLANS = 100;
const MAX_RANK = 10_000;
const MAX_NAME = 100;
const MAX_DESCRIPTION = 1000;
/** Stripe bills at most once a year: 365 days, 12 months or 1 year per period. */
const MAX_INTERVAL_COUNT: Record<PricingInterval, number> = {
  [PricingInterval.DAY]: 365,
  [PricingInterval.MONTH]: 12,
  [PricingInterval.YEAR]: 1,
  [PricingInterval.ONE_TIME]: 1,
};

const key = (what: string, max = 50) =>
  z
    .string()
    .max(max, `${what} is longer than ${max} characters`)
    .regex(new RegExp(`^[a-z0-9_]{1,${max}}$`), `${what} must be 1-${max} characters of a-z, 0-9 and _`);

export const planCode = key('Plan code');

/** An optional field: absent or null (GraphQL sends both) is the default given, or "unchanged". */
function optional<S extends z.ZodTypeAny>(schema: S): z.ZodEffects<z.ZodOptional<z.ZodNullable<S>>, z.output<S> | undefined>;
function optional<S extends z.ZodTypeAny>(schema: S, fallback: z.output<S>): z.ZodEffects<z.ZodOptional<z.ZodNullable<S>>, z.output<S>>;
function optional<S extends z.ZodTypeAny>(schema: S, fallback?: z.output<S>) {
  return schema.nullish().transform((v: z.output<S> | null | undefined) => v ?? fallback);
}
const lookupKey = key('Lookup key', 100);

const limitSchema = z.object({
  metric: key('Metric'),
  period: z.nativeEnum(LimitPeriod, {
    errorMap: () => ({ message: `Unknown period: expected one of ${Object.values(LimitPeriod).join(', ')}` }),
  }),
  limit: z
    .number()
    .int('A limit must be a whole number')
    .min(0, 'A limit cannot be negative (null means unlimited)')
    .max(MAX_LIMIT, `A limit cannot be above ${MAX_LIMIT.toLocaleString('en')} (null means unlimited)`)
    .nullable(),
});

const limitsSchema = z
  .array(limitSchema)
  .max(MAX_LIMITS_PER_PLAN, `A plan has at most ${MAX_LIMITS_PER_PLAN} limits`)
  .superRefine((limits, ctx) => {
    const seen = new Set<string>();
    for (const l of limits) {
      const id = `${l.metric}/${l.period}`;
      if (seen.has(id)) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `Limit ${id} is given twice` });
      seen.add(id);
    }
  });

const featuresSchema = z
  .array(key('Feature'))
  .max(MAX_FEATURES_PER_PLAN, `A plan has at most ${MAX_FEATURES_PER_PLAN} features`)
  .refine((f) => new Set(f).size === f.length, 'A feature is given twice');

const planFields = {
  name: z.string().trim().min(1, 'Name must not be empty').max(MAX_NAME, `Name is longer than ${MAX_NAME} characters`),
  description: z.string().trim().max(MAX_DESCRIPTION, `Description is longer than ${MAX_DESCRIPTION} characters`),
  rank: z.number().int('Rank must be a whole number').min(0, 'Rank cannot be negative').max(MAX_RANK, `Rank cannot be above ${MAX_RANK}`),
  isDefault: z.boolean(),
  limits: limitsSchema,
  features: featuresSchema,
};

const currencySchema = z.string().transform((value, ctx) => asIssue(ctx, () => normalizeCurrency(value)));

/** The amount as a decimal string in its currency ("4.99" USD); zero is a free option, whose Stripe Price is deactivated. */
function withAmountMinor<T extends { amount: string; currency: string }>(value: T, ctx: z.RefinementCtx) {
  const amountMinor = asIssue(ctx, () => parseAmount(value.amount, value.currency, { allowZero: true }));
  return { ...value, amountMinor };
}

const intervalSchema = z.nativeEnum(PricingInterval, {
  errorMap: () => ({ message: `Unknown interval: expected one of ${Object.values(PricingInterval).join(', ')}` }),
});

const intervalCountFits = (p: { interval?: PricingInterval; intervalCount?: number }) =>
  !p.interval || p.intervalCount === undefined || p.intervalCount <= MAX_INTERVAL_COUNT[p.interval];
const intervalCountProblem = (p: { interval?: PricingInterval }) => ({
  message: `intervalCount is at most ${MAX_INTERVAL_COUNT[p.interval!]} for ${p.interval}: Stripe bills at least once a year`,
  path: ['intervalCount'],
});

const intervalCountSchema = z.number().int('intervalCount must be a whole number').min(1, 'intervalCount must be at least 1');

/** Stripe's longest trial is two years. */
export const MAX_TRIAL_DAYS = 730;
export const trialDaysSchema = z
  .number()
  .int('trialDays must be a whole number')
  .min(0, 'trialDays cannot be negative (0 means no trial)')
  .max(MAX_TRIAL_DAYS, `trialDays is at most ${MAX_TRIAL_DAYS} (two years, Stripe's longest trial)`);

/** A trial leads into the first paid period, so only an option that renews can have one. */
export const trialFits = (p: { trialDays?: number; autoRenew?: boolean; interval?: PricingInterval }) =>
  !p.trialDays || (p.autoRenew !== false && p.interval !== PricingInterval.ONE_TIME);
const trialProblem = {
  message: 'Only an option that renews can have a trial (one that does not would end when its trial ends)',
  path: ['trialDays'],
};

const pricingFields = {
  lookupKey,
  amount: z.string().max(20, 'Amount is longer than 20 characters'),
  currency: currencySchema,
  interval: intervalSchema,
  intervalCount: optional(intervalCountSchema, 1),
  autoRenew: optional(z.boolean(), true),
  trialDays: optional(trialDaysSchema, 0),
};

export const pricingInput = z
  .object(pricingFields)
  .refine(intervalCountFits, intervalCountProblem)
  .refine(trialFits, trialProblem)
  .transform(withAmountMinor);

export const pricingChange = z
  .object({
    amount: optional(pricingFields.amount),
    currency: optional(currencySchema),
    interval: optional(intervalSchema),
    intervalCount: optional(intervalCountSchema),
    autoRenew: optional(z.boolean()),
    trialDays: optional(trialDaysSchema),
  })
  .refine(intervalCountFits, intervalCountProblem)
  .refine(trialFits, trialProblem);

export const createPlanInput = z.object({
  code: planCode,
  name: planFields.name,
  description: optional(planFields.description, ''),
  rank: optional(planFields.rank, 0),
  isDefault: optional(planFields.isDefault, false),
  limits: optional(limitsSchema, []),
  features: optional(featuresSchema, []),
  pricingOptions: optional(
    z
      .array(pricingInput)
      .max(MAX_PRICING_OPTIONS, `A plan has at most ${MAX_PRICING_OPTIONS} pricing options`)
      .refine((p) => new Set(p.map((x) => x.lookupKey)).size === p.length, 'A lookup key is given twice'),
    [],
  ),
});

/** Only what is given changes; limits and features, when given, replace the plan's whole set. */
export const updatePlanInput = z.object({
  name: optional(planFields.name),
  description: optional(planFields.description),
  rank: optional(planFields.rank),
  isDefault: optional(planFields.isDefault),
  limits: optional(limitsSchema),
  features: optional(featuresSchema),
});

/** seeds/catalog.json: every plan in full; exactly one default, codes and lookup keys unique across the file. */
export const catalogFile = z.object({
  plans: z
    .array(createPlanInput.extend({ description: planFields.description, rank: planFields.rank }))
    .min(1, 'The catalog has no plans')
    .max(MAX_PLANS, `The catalog has at most ${MAX_PLANS} plans`)
    .superRefine((plans, ctx) => {
      const defaults = plans.filter((p) => p.isDefault).map((p) => p.code);
      if (defaults.length !== 1) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          message: `Exactly one plan must be the default, not ${defaults.join(', ') || 'none'}`,
        });
      }
      const codes = plans.map((p) => p.code);
      const keys = plans.flatMap((p) => p.pricingOptions.map((o) => o.lookupKey));
      if (new Set(codes).size !== codes.length) ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'A plan code is given twice' });
      if (new Set(keys).size !== keys.length) ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'A lookup key is given twice' });
    }),
});

export type CreatePlanInput = z.input<typeof createPlanInput>;
export type UpdatePlanInput = z.input<typeof updatePlanInput>;
export type PricingInput = z.input<typeof pricingInput>;
export type PricingChange = z.input<typeof pricingChange>;

/** Money's checks throw BAD_USER_INPUT; inside a schema they become an issue, so parseInput reports them as any other. */
function asIssue<T>(ctx: z.RefinementCtx, check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (!(err instanceof DomainError)) throw err;
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: err.message, params: err.extensions });
    return z.NEVER;
  }
}
