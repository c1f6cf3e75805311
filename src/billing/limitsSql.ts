import { USAGE_CHANNEL, USAGE_EVENT_INSERT } from '../db/outbox';
/**
 * The statements behind limits and usage. Each decides the plan in force, the windows and the counters in
 * one statement, so a limit is never read in one statement and consumed in another.
 * Parameters shared by all: $1 user id, $2 now, $3 renewal grace in seconds, $4 past-due grace in days
 * (graceParams); LIMITS_SQL and CONSUME_SQL then take $5..$10, the user's local windows (periods.windowParams).
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
 * The plan in force for a user at $2, with the subscription's period (the BILLING_PERIOD window):
 * - active/trialing within its period;
 * - active/trialing that renews, past its period end by less than $3 seconds: the renewal webhook is
 *   awaited (a Day Pass, cancel_at_period_end, gets none); its usage counts toward the next period, which
 *   Stripe starts at the old period's end;
 * - past_due less than $4 days after its period start (Stripe retries the renewal meanwhile);
 * the newest one in force before any in grace; otherwise the default plan.
 */
const CHOSEN_PLAN = `
  candidates as (
    select s.plan_id, s.current_period_start, s.current_period_end,
           (s.current_period_end is not null and s.current_period_end <= $2) as renewing,
           s.status = 'past_due' as past_due
      from subscription s
     where s.user_id = $1 and s.ended_at is null
       and (
         (s.status in ('active', 'trialing')
           and (s.current_period_end is null or s.current_period_end > $2
                or (not s.cancel_at_period_end and s.current_period_end + $3::int * interval '1 second' > $2)))
         or (s.status = 'past_due' and s.current_period_start + $4::int * interval '1 day' > $2)
       )
  ),
  active as (
    select c.plan_id,
           case when c.renewing then c.current_period_end else c.current_period_start end as current_period_start,
           case when c.renewing then c.current_period_end + (c.current_period_end - c.current_period_start)
                else c.current_period_end end as current_period_end
      from candidates c
     order by (c.renewing or c.past_due), c.current_period_end desc nulls first
     limit 1
  ),
  chosen as (
    select coalesce((select plan_id from active), (select id from plan where is_default)) as plan_id,
           exists (select 1 from active) as from_subscription,
           (select current_period_start from active) as period_start,
           (select current_period_end from active) as period_end
  )`;

/** Every period's current window: start and end (null = never ends). The default plan's billing period is the local month. */
const WINDOWS = `
  windows as (
    select 'day' as period, $5::timestamptz as start, $6::timestamptz as ends
    union all select 'week', $7::timestamptz, $8::timestamptz
    union all select 'month', $9::timestamptz, $10::timestamptz
    union all select 'billing_period', coalesce(c.period_start, $9::timestamptz),
                     case when c.period_start is null then $10::timestamptz else c.period_end end from chosen c
    union all select 'total', 'epoch'::timestamptz, null
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
 * Check and consume in one statement: one INSERT ... ON CONFLICT DO UPDATE ... WHERE used + n <= limit
 * over every limited window of metric $11 (plus the DAY window, limited or not, which the usage history
 * reads), in a fixed order so concurrent consumes lock counters alike. The conflict path sees the latest
 * committed counter, so no limit is overshot; when any window refuses, tollgate_usage_refused() raises and
 * the whole statement is undone, so nothing is consumed in part. $12 amount. No row back = unknown metric.
 * $13 the usage.threshold share of a limit, in percent.
 *
 * The usage events come from the same statement: a limited window the consume took from before < share <= after
 * (usage.threshold) or up to its limit exactly (usage.limit_reached) gets an outbox row, so an event commits
 * or rolls back with the consume, costs no extra round trip, and is written once per window (later consumes
 * start above the share; at the limit they are refused). It also notifies USAGE_CHANNEL with the user's id
 * (sent by PostgreSQL on commit only, once per transaction), for live subscribers in any server process.
 */
export const CONSUME_SQL = `with ${CHOSEN_PLAN}, ${WINDOWS},
     lims as (select l.period, l.allowance from chosen c join plan_limit l on l.plan_id = c.plan_id and l.metric = $11),
     targets as (
       select w.period, w.start, w.ends, l.allowance from windows w left join lims l on l.period = w.period
        where l.period is not null or (w.period = 'day' and exists (select 1 from lims))
     ),
     consumed as (
       insert into usage_counter as u (user_id, metric, period, window_start, used, updated_at)
       select $1, $11, t.period, t.start, $12, now() from targets t where t.allowance is null or $12 <= t.allowance
        order by t.period
       on conflict (user_id, metric, period, window_start) do update
          set used = u.used + excluded.used, updated_at = now()
        where u.used::bigint + excluded.used <= coalesce((select allowance from targets t where t.period = excluded.period), ${MAX_COUNT})
       returning u.period, u.used
     ),
     crossed as (
       select k.type, $11::text as metric, c.period, t.allowance, c.used, t.ends
         from consumed c join targets t on t.period = c.period
         cross join lateral (values
           (1, 'usage.threshold', (c.used::bigint - $12) * 100 < $13::bigint * t.allowance and $13::bigint * t.allowance <= c.used::bigint * 100),
           (2, 'usage.limit_reached', c.used = t.allowance)
         ) k(rank, type, hit)
        where t.allowance is not null and k.hit
        order by ${PERIOD_RANK.replace('l.period', 'c.period')}, k.rank
     ),
     evented as (
       ${USAGE_EVENT_INSERT}
     )
     select t.period, t.allowance, t.ends as resets_at, c.used,
            case when (select count(*) from consumed) < (select count(*) from targets) then tollgate_usage_refused() end as refused,
            (select pg_notify('${USAGE_CHANNEL}', $1::text)) as notified
       from targets t left join consumed c on c.period = t.period`;

/** The SQLSTATE tollgate_usage_refused() raises. */
export const REFUSED_SQLSTATE = 'TG429';
