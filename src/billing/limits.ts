import type { EntityManager } from '@mikro-orm/postgresql';
import { DateTime } from 'luxon';
import { z } from 'zod';
import { query } from '../db/sql';
import { DomainError, badInput, conflict } from '../errors';
import { boundedString, MAX_LENGTH, parseInput, shorten } from '../input';
import { usageConsumed, usageRefused } from '../metrics';

/**
 * Daily limits and usage. A user's limits today come from their active subscription's plan (status
 * active or trialing, period not ended), otherwise from the default plan; "today" is the user's own day.
 * Counters are keyed (user, metric, day), so a new day needs no reset job, and a plan change mid-day keeps
 * what was used that day.
 */

export interface LimitOwner {
  id: string;
  timezone: string;
}

export interface MetricUsage {
  metric: string;
  /** null = unlimited */
  limit: number | null;
  used: number;
  /** null = unlimited */
  remaining: number | null;
}

export interface LimitsPlan {
  id: string;
  code: string;
  name: string;
  description: string;
  isDefault: boolean;
}

export interface Limits {
  plan: LimitsPlan;
  source: 'SUBSCRIPTION' | 'DEFAULT_PLAN';
  /** The user's local date, YYYY-MM-DD. */
  day: string;
  /** The next local midnight. */
  resetsAt: Date;
  metrics: MetricUsage[];
}

/** The last local day computed per time zone: it stays the answer until its midnight (the hot path of every call). */
const dayCache = new Map<string, { day: string; start: number; end: number }>();

/** The user's local day at `now` and the instant it ends. */
export function localDay(timezone: string, now: Date = new Date()): { day: string; resetsAt: Date } {
  const t = now.getTime();
  const cached = dayCache.get(timezone);
  if (cached && cached.start <= t && t < cached.end) return { day: cached.day, resetsAt: new Date(cached.end) };
  const start = DateTime.fromJSDate(now, { zone: timezone }).startOf('day');
  const entry = { day: start.toISODate()!, start: start.toMillis(), end: start.plus({ days: 1 }).toMillis() };
  if (dayCache.size > 1000) dayCache.clear();
  dayCache.set(timezone, entry);
  return { day: entry.day, resetsAt: new Date(entry.end) };
}

/**
 * The plan in force for a user at $2: the newest active/trialing subscription whose period has not ended,
 * else the default plan. Used as a CTE by both statements below, so the limit is decided in the same
 * statement that reads or consumes it.
 */
const CHOSEN_PLAN = `
  active as (
    select s.plan_id from subscription s
     where s.user_id = $1 and s.status in ('active', 'trialing') and s.ended_at is null
       and (s.current_period_end is null or s.current_period_end > $2)
     order by s.current_period_end desc nulls first
     limit 1
  ),
  chosen as (
    select coalesce((select plan_id from active), (select id from plan where is_default)) as plan_id,
           exists (select 1 from active) as from_subscription
  )`;

/** The plan in force, its limits and today's usage, in one statement. $1 user id, $2 now, $3 local day. */
export const LIMITS_SQL = `with ${CHOSEN_PLAN}
     select p.id as plan_id, p.code, p.name, p.description, p.is_default, c.from_subscription,
            l.metric, l.per_day, coalesce(u.used, 0)::int as used
       from chosen c
       join plan p on p.id = c.plan_id
       left join plan_limit l on l.plan_id = p.id
       left join usage_counter u on u.user_id = $1 and u.metric = l.metric and u.day = $3::date
      order by l.metric`;

/** The most a day's counter holds (a PostgreSQL int, and GraphQL's Int): an unlimited metric stops there. */
export const MAX_COUNT = 2_147_483_647;

/**
 * Check and consume in one statement: INSERT ... ON CONFLICT DO UPDATE ... WHERE used + n <= limit (an
 * unlimited metric's limit is MAX_COUNT; the sum is taken as bigint so it cannot overflow).
 * $1 user id, $2 now, $3 metric, $4 local day, $5 amount. No row back = nothing consumed.
 */
export const CONSUME_SQL = `with ${CHOSEN_PLAN},
     lim as (select l.per_day from chosen c join plan_limit l on l.plan_id = c.plan_id and l.metric = $3)
     insert into usage_counter as u (user_id, metric, day, used, updated_at)
     select $1, $3, $4::date, $5, now() from lim where lim.per_day is null or $5 <= lim.per_day
     on conflict (user_id, metric, day) do update
        set used = u.used + excluded.used, updated_at = now()
      where u.used::bigint + excluded.used <= coalesce((select per_day from lim), ${MAX_COUNT})
     returning u.used, (select per_day from lim) as per_day`;

interface LimitsRow {
  plan_id: string;
  code: string;
  name: string;
  description: string;
  is_default: boolean;
  from_subscription: boolean;
  metric: string | null;
  per_day: number | null;
  used: number;
}

export async function getLimits(em: EntityManager, user: LimitOwner, now: Date = new Date()): Promise<Limits> {
  const { day, resetsAt } = localDay(user.timezone, now);
  const rows = await query<LimitsRow>(em, LIMITS_SQL, [user.id, now, day]);
  if (rows.length === 0) throw new Error('No plan applies: the catalog has no default plan (run npm run seed)');
  const first = rows[0];
  return {
    plan: { id: first.plan_id, code: first.code, name: first.name, description: first.description, isDefault: first.is_default },
    source: first.from_subscription ? 'SUBSCRIPTION' : 'DEFAULT_PLAN',
    day,
    resetsAt,
    metrics: rows.filter((r) => r.metric !== null).map((r) => usage(r.metric!, r.per_day, r.used)),
  };
}

function usage(metric: string, limit: number | null, used: number): MetricUsage {
  return { metric, limit, used, remaining: limit === null ? null : Math.max(0, limit - used) };
}

export interface RecordUsageInput {
  metric: string;
  amount: number;
  idempotencyKey?: string | null;
}

// Keys in the order they are checked: the first problem is the one reported. Built from zod's own checks
// only: a refine or transform costs several microseconds per call on this hot path, checks a fraction.
const recordUsageInput = z.object({
  amount: z
    .number({ errorMap: (_, ctx) => ({ message: `Invalid amount ${ctx.data}: must be a positive whole number` }) })
    .int()
    .positive()
    .safe(),
  metric: boundedString('metric', MAX_LENGTH.code).trim().min(1, 'metric must not be empty'),
  idempotencyKey: boundedString('idempotencyKey', MAX_LENGTH.idempotencyKey).trim().min(1, 'idempotencyKey must not be empty').nullish(),
});

/**
 * Consumes `amount` of `metric` for the user's current day in one SQL statement:
 * INSERT ... ON CONFLICT DO UPDATE ... WHERE used + n <= limit RETURNING used. Over the limit nothing is
 * consumed and LIMIT_EXCEEDED carries what remains. With an idempotency key, a retry returns the first
 * answer and counts nothing.
 */
export async function recordUsage(
  em: EntityManager,
  user: LimitOwner,
  input: RecordUsageInput,
  now: Date = new Date(),
): Promise<MetricUsage> {
  const { metric, amount, idempotencyKey: key } = parseInput(recordUsageInput, input);
  const { day } = localDay(user.timezone, now);

  if (!key) return consume(em, user, metric, amount, day, now);

  return em.transactional(async (tx) => {
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
      const [prior] = await query<{ metric: string; amount: number; used_after: number; per_day_after: number | null }>(
        tx,
        `select metric, amount, used_after, per_day_after from usage_record where user_id = $1 and idempotency_key = $2`,
        [user.id, key],
      );
      if (prior.metric !== metric || prior.amount !== amount) {
        throw conflict(`idempotencyKey "${shorten(key)}" was already used for ${prior.amount} ${prior.metric}`, {
          field: 'idempotencyKey',
        });
      }
      return usage(metric, prior.per_day_after, prior.used_after);
    }
    const result = await consume(tx, user, metric, amount, day, now);
    await query(tx, `update usage_record set used_after = $1, per_day_after = $2 where id = $3`, [
      result.used,
      result.limit,
      claimed[0].id,
    ]);
    return result;
  });
}

async function consume(em: EntityManager, user: LimitOwner, metric: string, amount: number, day: string, now: Date): Promise<MetricUsage> {
  const rows = await query<{ used: number; per_day: number | null }>(em, CONSUME_SQL, [user.id, now, metric, day, amount]);
  if (rows.length === 1) {
    usageConsumed.inc({ metric }, amount);
    return usage(metric, rows[0].per_day, rows[0].used);
  }

  // Nothing was consumed: say why (unknown metric, or over the limit with what remains).
  const limits = await getLimits(em, user, now);
  const current = limits.metrics.find((m) => m.metric === metric);
  if (!current) {
    throw badInput(`Unknown metric "${shorten(metric)}": expected one of ${limits.metrics.map((m) => m.metric).join(', ')}`, {
      field: 'metric',
    });
  }
  if (current.limit === null) {
    throw badInput(`Today's ${metric} counter cannot go past ${MAX_COUNT}: ${current.used} used, ${amount} requested`, {
      field: 'amount',
      used: current.used,
      requested: amount,
    });
  }
  usageRefused.inc({ metric });
  throw new DomainError(
    'LIMIT_EXCEEDED',
    current.remaining === 0
      ? `Daily ${metric} limit of ${current.limit} reached: nothing left today, ${amount} requested`
      : `Not enough ${metric} left today: ${amount} requested, ${current.remaining} of ${current.limit} left; nothing was recorded`,
    {
      metric,
      limit: current.limit,
      used: current.used,
      remaining: current.remaining,
      requested: amount,
      resetsAt: limits.resetsAt.toISOString(),
    },
  );
}
