import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { query } from '../db/sql';
import { DomainError, badInput, conflict } from '../errors';
import { boundedString, MAX_LENGTH, parseInput, shorten } from '../input';
import { LimitPeriod } from '../entities';
import { usageConsumed, usageRefused } from '../metrics';
import { getLimits, usage, type LimitOwner, type MetricUsage } from './limitsRead';
import { CONSUME_SQL, DEFAULT_PLAN_GRACE, graceParams, MAX_COUNT, type PlanGrace, REFUSED_SQLSTATE } from './limitsSql';
import { localWindows, periodLabel, windowParams, windowWords } from './periods';

export { LIMITS_SQL, CONSUME_SQL, MAX_COUNT, DEFAULT_PLAN_GRACE, type PlanGrace } from './limitsSql';
export { getLimits, hasFeature, type LimitOwner, type Limits, type LimitsPlan, type MetricUsage } from './limitsRead';
export { localDay, localWindows } from './periods';

/**
 * Limits and usage. A user's limits come from the plan in force (limitsSql CHOSEN_PLAN: their subscription
 * that is active, trialing or within its grace), otherwise from the default plan. A metric may be limited in several periods
 * at once; a use must fit all of them. Counters are keyed (user, metric, period, window start), so a new
 * window needs no reset job, and a plan change keeps what was used in the current windows.
 */

/** usage.threshold's share of a limit when EVENTS_USAGE_THRESHOLD is not set, in percent. */
export const DEFAULT_USAGE_THRESHOLD = 80;

export interface RecordUsageInput {
  metric: string;
  amount: number;
  idempotencyKey?: string | null;
}

// Keys in the order they are checked: the first problem is the one reported. Built from zod's own checks
// only: a refine or transform costs several microseconds per call on this hot path, checks a fraction.
const usageInput = z.object({
  amount: z
    .number({ errorMap: (_, ctx) => ({ message: `Invalid amount ${ctx.data}: must be a positive whole number` }) })
    .int()
    .positive()
    .safe(),
  metric: boundedString('metric', MAX_LENGTH.code).trim().min(1, 'metric must not be empty'),
  idempotencyKey: boundedString('idempotencyKey', MAX_LENGTH.idempotencyKey).trim().min(1, 'idempotencyKey must not be empty').nullish(),
});

/** A consume some window refused (or an unknown metric): explained after the statement, which changed nothing. */
class Refused extends Error {}

/**
 * Consumes `amount` of `metric` in every window it is limited in, in one SQL statement, and answers the
 * tightest of them. Over any limit nothing is consumed and LIMIT_EXCEEDED names the period that refused.
 * With an idempotency key, a retry returns the first answer and counts nothing.
 */
export async function recordUsage(
  em: EntityManager,
  user: LimitOwner,
  input: RecordUsageInput,
  now: Date = new Date(),
  grace: PlanGrace = DEFAULT_PLAN_GRACE,
  thresholdPercent: number = DEFAULT_USAGE_THRESHOLD,
): Promise<MetricUsage> {
  const { metric, amount, idempotencyKey: key } = parseInput(usageInput, input);
  const use: Use = { metric, amount, thresholdPercent };
  try {
    return key ? await consumeOnce(em, user, use, key, now, grace) : await consume(em, user, use, now, grace);
  } catch (err) {
    if (err instanceof Refused) throw await explainRefusal(em, user, metric, amount, now, grace);
    throw err;
  }
}

interface PriorUse {
  metric: string;
  amount: number;
  used_after: number;
  per_day_after: number | null;
  period_after: LimitPeriod | null;
  resets_at_after: Date | string | null;
}

/** One consume: what, how much, and the share of a limit that makes a usage.threshold event. */
interface Use {
  metric: string;
  amount: number;
  thresholdPercent: number;
}

/** The key is claimed in the transaction of the consume: a refusal rolls both back and leaves the key free. */
function consumeOnce(em: EntityManager, user: LimitOwner, use: Use, key: string, now: Date, grace: PlanGrace): Promise<MetricUsage> {
  const { metric, amount } = use;
  return em.transactional(async (tx) => {
    const { day } = localWindows(user.timezone, now);
    const claimed = await query<{ id: string }>(
      tx,
      `insert into usage_record (id, created_at, updated_at, user_id, idempotency_key, metric, day, amount, used_after)
       values (gen_random_uuid(), now(), now(), $1, $2, $3, $4::date, $5, 0)
       on conflict (user_id, idempotency_key) do nothing
       returning id`,
      [user.id, key, metric, day, amount],
    );
    if (claimed.length === 0) {
      // A retry: the first answer, as it was given (the plan in force may have changed since).
      const [prior] = await query<PriorUse>(
        tx,
        `select metric, amount, used_after, per_day_after, period_after, resets_at_after from usage_record
          where user_id = $1 and idempotency_key = $2`,
        [user.id, key],
      );
      if (prior.metric !== metric || prior.amount !== amount) {
        throw conflict(`idempotencyKey "${shorten(key)}" was already used for ${prior.amount} ${prior.metric}`, {
          field: 'idempotencyKey',
        });
      }
      return usage(metric, prior.period_after ?? LimitPeriod.DAY, prior.per_day_after, prior.used_after, prior.resets_at_after);
    }
    const result = await consume(tx, user, use, now, grace);
    await query(tx, `update usage_record set used_after = $1, per_day_after = $2, period_after = $3, resets_at_after = $4 where id = $5`, [
      result.used,
      result.limit,
      result.period,
      result.resetsAt,
      claimed[0].id,
    ]);
    return result;
  });
}

interface ConsumedRow {
  period: LimitPeriod;
  allowance: number | null;
  resets_at: Date | string | null;
  used: number;
}

async function consume(
  em: EntityManager,
  user: LimitOwner,
  { metric, amount, thresholdPercent }: Use,
  now: Date,
  grace: PlanGrace,
): Promise<MetricUsage> {
  const windows = localWindows(user.timezone, now);
  let rows: ConsumedRow[];
  try {
    rows = await query<ConsumedRow>(em, CONSUME_SQL, [
      user.id,
      now,
      ...graceParams(grace),
      ...windowParams(windows),
      metric,
      amount,
      thresholdPercent,
    ]);
  } catch (err) {
    if ((err as { code?: string }).code === REFUSED_SQLSTATE) throw new Refused();
    throw err;
  }
  if (rows.length === 0) throw new Refused();
  usageConsumed.inc({ metric }, amount);
  return tightest(rows.map((r) => usage(metric, r.period, r.allowance, r.used, r.resets_at)))!;
}

/** The entry with the least remaining; unlimited ones only when nothing is limited (the DAY counter first). */
function tightest(entries: MetricUsage[]): MetricUsage | null {
  const limited = entries.filter((e) => e.remaining !== null);
  if (limited.length === 0) return entries[0] ?? null;
  return limited.reduce((best, e) => (e.remaining! < best.remaining! ? e : best));
}

/** The windows `amount` does not fit, the one that frees up last first (the earliest the use can fit again). */
function refusing(entries: MetricUsage[], amount: number): MetricUsage[] {
  const over = entries.filter((e) => e.used + amount > (e.limit ?? MAX_COUNT));
  const end = (e: MetricUsage) => e.resetsAt?.getTime() ?? Infinity;
  return over.sort((a, b) => end(b) - end(a));
}

async function metricEntries(em: EntityManager, user: LimitOwner, metric: string, now: Date, grace: PlanGrace): Promise<MetricUsage[]> {
  const limits = await getLimits(em, user, now, grace);
  const entries = limits.metrics.filter((m) => m.metric === metric);
  if (entries.length === 0) {
    const known = [...new Set(limits.metrics.map((m) => m.metric))];
    throw badInput(`Unknown metric "${shorten(metric)}": expected one of ${known.join(', ')}`, { field: 'metric' });
  }
  return entries;
}

/** Why nothing was consumed: an unknown metric, a full unlimited counter, or the limit that refused. */
async function explainRefusal(
  em: EntityManager,
  user: LimitOwner,
  metric: string,
  amount: number,
  now: Date,
  grace: PlanGrace,
): Promise<DomainError> {
  const entries = await metricEntries(em, user, metric, now, grace);
  const refused = refusing(entries, amount).find((e) => e.limit !== null);
  if (!refused) {
    const used = Math.max(...entries.map((e) => e.used));
    return badInput(`The ${metric} counter cannot go past ${MAX_COUNT}: ${used} used, ${amount} requested`, {
      field: 'amount',
      used,
      requested: amount,
    });
  }
  const { period, limit, used, remaining, resetsAt } = refused;
  usageRefused.inc({ metric });
  return new DomainError(
    'LIMIT_EXCEEDED',
    remaining === 0
      ? `${periodLabel(period)} ${metric} limit of ${limit} reached: nothing left ${windowWords(period)}, ${amount} requested`
      : `Not enough ${metric} left ${windowWords(period)}: ${amount} requested, ${remaining} of ${limit} left; nothing was recorded`,
    { metric, period: period.toUpperCase(), limit, used, remaining, requested: amount, resetsAt: resetsAt?.toISOString() ?? null },
  );
}

export interface UsageCheck {
  allowed: boolean;
  /** The window that refuses (when not allowed) or the tightest one (when allowed). */
  limiting: MetricUsage | null;
}

/** Whether `amount` of `metric` would be accepted now, consuming nothing (a read: a concurrent use may still take it first). */
export async function checkUsage(
  em: EntityManager,
  user: LimitOwner,
  input: { metric: string; amount: number },
  now: Date = new Date(),
  grace: PlanGrace = DEFAULT_PLAN_GRACE,
): Promise<UsageCheck> {
  const { metric, amount } = parseInput(usageInput, input);
  const entries = await metricEntries(em, user, metric, now, grace);
  const [refused] = refusing(entries, amount);
  return refused ? { allowed: false, limiting: refused } : { allowed: true, limiting: tightest(entries) };
}
