import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { badInput } from '../errors';
import { boundedString, MAX_LENGTH, parseInput, shorten } from '../input';
import { consumeUses } from './consume';
import { getLimits, type LimitOwner, type MetricUsage } from './limitsRead';
import { DEFAULT_PLAN_GRACE, MAX_COUNT, type PlanGrace } from './limitsSql';

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

/** A use's metric, amount and key, checked (BAD_USER_INPUT) and trimmed. */
export function parseUse(input: RecordUsageInput): { metric: string; amount: number; idempotencyKey?: string | null } {
  return parseInput(usageInput, input);
}

/**
 * Consumes `amount` of `metric` in every window it is limited in, atomically (consumeUses: the same
 * statement a batch runs), and answers the tightest of them. Over any limit nothing is consumed and
 * LIMIT_EXCEEDED names the period that refused. With an idempotency key, a retry returns the first answer
 * and counts nothing.
 */
export async function recordUsage(
  em: EntityManager,
  user: LimitOwner,
  input: RecordUsageInput,
  now: Date = new Date(),
  grace: PlanGrace = DEFAULT_PLAN_GRACE,
  thresholdPercent: number = DEFAULT_USAGE_THRESHOLD,
): Promise<MetricUsage> {
  const { metric, amount, idempotencyKey } = parseUse(input);
  const [result] = await consumeUses(em, [{ owner: user, metric, amount, key: idempotencyKey ?? null }], now, grace, thresholdPercent);
  if (!result.ok) throw result.error;
  return result.usage;
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
