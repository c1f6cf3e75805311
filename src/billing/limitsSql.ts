import { localWindows, windowParams } from './periods';

/**
 * The statements behind limits and usage. Each decides the plan in force, the windows and the counters in
 * one statement, so a limit is never read in one statement and consumed in another.
 * LIMITS_SQL and FEATURE_SQL take $1 user id, $2 now, $3 renewal grace in seconds, $4 past-due grace in days
 * (graceParams); LIMITS_SQL then $5..$10, the user's local windows (periods.windowParams). CONSUME_SQL takes
 * consumeParams.
 */

/** How long a subscription keeps its plan past what its row says (RENEWAL_GRACE_SECONDS, PAST_DUE_GRACE_DAYS). */
export interface PlanGrace {
  renewalSeconds: number;
  pastDueDays: number;
}

export const DEFAULT_PLAN_GRACE: PlanGrace = Object.freeze({ renewalSeconds: 3600, pastDueDays: 3 });

/** $3 and $4 of every statement here. */
export function graceParams(grace: PlanGrace): number[] {
  return [grace.renewalSeconds, grace.pastDueDays];
}

/**
 * The plan in force for user $1 at $2 (its subscription that is active, trialing or within its grace,
 * otherwise the default plan) and its period, and every period's current window from the local windows
 * $5..$10: the database functions tollgate_plan_in_force and tollgate_windows
 * (Migration20261206140000_consumeFunction), which the consume uses too, so reads and consumes agree.
 */
const CHOSEN_PLAN = `chosen as (select * from tollgate_plan_in_force($1, $2, $3, $4))`;

const WINDOWS = `windows as (
    select w.period, w.start, w.ends from chosen c cross join tollgate_windows($5, $6, $7, $8, $9, $10, c.period_start, c.period_end) w
  )`;

const PERIOD_RANK = `array_position(array['day', 'week', 'month', 'billing_period', 'total'], l.period)`;

/** The plan in force, its features, and every limit with its window's usage. */
export const LIMITS_SQL = `with ${CHOSEN_PLAN}, ${WINDOWS}
     select p.id as plan_id, p.code, p.name, p.description, p.is_default, p.sort_order, p.features, c.from_subscription,
            l.metric, l.period, l.allowance, w.ends as resets_at, coalesce(u.used, 0)::int as used
       from chosen c
       join plan p on p.id = c.plan_id
       left join plan_limit l on l.plan_id = p.id
       left join windows w on w.period = l.period
       left join usage_counter u
              on u.user_id = $1 and u.metric = l.metric and u.period = l.period and u.window_start = w.start
      order by l.metric, ${PERIOD_RANK}`;

/** Whether the plan in force grants feature $5. */
export const FEATURE_SQL = `with ${CHOSEN_PLAN}
     select $5 = any(p.features) as granted from chosen c join plan p on p.id = c.plan_id`;

/** The most a counter holds (a PostgreSQL int, and GraphQL's Int): an unlimited metric stops there. */
export const MAX_COUNT = 2_147_483_647;

/**
 * Check and consume: one call of the database function tollgate_consume (its current text is in
 * Migration20261206170000_consumeWritesOnce), for one use (recordUsage) or a batch (recordUsageBatch) alike,
 * with the parameters consumeParams makes. Each use is checked and consumed against every limited window of
 * its metric (plus the DAY window, limited or not, which the usage history reads) with its counters locked,
 * so no limit is overshot; a refused use consumes nothing. Its idempotency key is recorded in the same
 * transaction (SQLSTATE TG409 when another call recorded it meanwhile: nothing is written, run it again),
 * its usage events written to the outbox and its user notified on USAGE_CHANNEL (on commit). One row per
 * use, in order (ConsumedRow).
 */
export const CONSUME_SQL = `select * from tollgate_consume($1::jsonb, $2, $3, $4, $5)`;

/** One use for CONSUME_SQL: whose, what, how much, and its idempotency key (null: none, counted each time). */
export interface ConsumeEvent {
  owner: { id: string; timezone: string };
  metric: string;
  amount: number;
  key: string | null;
}

/** What CONSUME_SQL answers per use: ok, retry, conflict, refused, overflow or unknown (see the migration). */
export interface ConsumedRow {
  ord: number;
  status: 'ok' | 'retry' | 'conflict' | 'refused' | 'overflow' | 'unknown';
  metric: string | null;
  amount: number | null;
  period: string | null;
  allowance: number | null;
  used: number | null;
  resets_at: Date | string | null;
  known: string[] | null;
}

/** One use as tollgate_consume reads it: user, metric, amount, key, local date and local windows at `now`. */
export interface ConsumeUse {
  u: string;
  m: string;
  a: number;
  k: string | null;
  d: string;
  w: Date[];
}

export function consumeUse({ owner, metric, amount, key }: ConsumeEvent, now: Date): ConsumeUse {
  const windows = localWindows(owner.timezone, now);
  return { u: owner.id, m: metric, a: amount, k: key, d: windows.day, w: windowParams(windows) };
}

/** CONSUME_SQL's parameters: the uses with their user's local windows, the time, the grace and the usage.threshold share. */
export function consumeParams(events: ConsumeEvent[], now: Date, grace: PlanGrace, thresholdPercent: number): unknown[] {
  return consumeUseParams(
    events.map((e) => consumeUse(e, now)),
    now,
    grace,
    thresholdPercent,
  );
}

export function consumeUseParams(uses: ConsumeUse[], now: Date, grace: PlanGrace, thresholdPercent: number): unknown[] {
  return [JSON.stringify(uses), now, ...graceParams(grace), thresholdPercent];
}
