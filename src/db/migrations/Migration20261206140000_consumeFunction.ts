import { Migration } from '@mikro-orm/migrations';

/**
 * The consume rules move into the database, so that a batch of uses is one statement and one round trip
 * instead of one or two per use, and recordUsage (a batch of one) follows the very same rules:
 * - tollgate_plan_in_force and tollgate_windows: the plan in force and the period windows, shared with
 *   the read side (billing/limitsSql.ts LIMITS_SQL and FEATURE_SQL call them);
 * - tollgate_consume: takes the uses as a JSON array and answers one row per use, in order.
 * The function replaces the single consume statement and tollgate_usage_refused(), which it made raise.
 */
export class Migration20261206140000_consumeFunction extends Migration {
  override async up(): Promise<void> {
    this.addSql(PLAN_IN_FORCE);
    this.addSql(WINDOWS);
    this.addSql(CONSUME);
    this.addSql(`drop function "tollgate_usage_refused"();`);
  }

  override async down(): Promise<void> {
    this.addSql(`create function "tollgate_usage_refused"() returns int language plpgsql as $$
      begin raise exception 'usage refused by a limit' using errcode = 'TG429'; end $$;`);
    this.addSql(`drop function "tollgate_consume"(jsonb, timestamptz, int, int, int);`);
    this.addSql(
      `drop function "tollgate_windows"(timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz);`,
    );
    this.addSql(`drop function "tollgate_plan_in_force"(uuid, timestamptz, int, int);`);
  }
}

/**
 * The plan in force for a user at p_now, with the subscription's period (the BILLING_PERIOD window):
 * - active/trialing within its period;
 * - active/trialing that renews, past its period end by less than p_renewal seconds: the renewal webhook
 *   is awaited (a Day Pass, cancel_at_period_end, gets none); its usage counts toward the next period,
 *   which Stripe starts at the old period's end;
 * - past_due less than p_past_due days after its period start (Stripe retries the renewal meanwhile);
 * the newest one in force before any in grace; otherwise the default plan.
 * A single-SELECT SQL function that is not strict, so PostgreSQL inlines it into the statements that call it.
 */
const PLAN_IN_FORCE = `create function "tollgate_plan_in_force"(p_user uuid, p_now timestamptz, p_renewal int, p_past_due int)
  returns table (plan_id uuid, from_subscription boolean, period_start timestamptz, period_end timestamptz)
  language sql stable as $$
  with candidates as (
    select s.plan_id, s.current_period_start, s.current_period_end,
           (s.current_period_end is not null and s.current_period_end <= p_now) as renewing,
           s.status = 'past_due' as past_due
      from subscription s
     where s.user_id = p_user and s.ended_at is null
       and (
         (s.status in ('active', 'trialing')
           and (s.current_period_end is null or s.current_period_end > p_now
                or (not s.cancel_at_period_end and s.current_period_end + p_renewal * interval '1 second' > p_now)))
         or (s.status = 'past_due' and s.current_period_start + p_past_due * interval '1 day' > p_now)
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
  )
  select coalesce((select a.plan_id from active a), (select p.id from plan p where p.is_default)),
         exists (select 1 from active),
         (select a.current_period_start from active a),
         (select a.current_period_end from active a)
$$;`;

/**
 * Every period's current window: start and end (null = never ends), from the user's local windows (computed
 * in their time zone by billing/periods.ts) and the plan in force's period. The default plan's billing period
 * is the local month.
 */
const WINDOWS = `create function "tollgate_windows"(day_start timestamptz, day_end timestamptz, week_start timestamptz,
    week_end timestamptz, month_start timestamptz, month_end timestamptz, period_start timestamptz, period_end timestamptz)
  returns table (period text, start timestamptz, ends timestamptz, rank int)
  language sql immutable as $$
  values ('day', day_start, day_end, 1), ('week', week_start, week_end, 2), ('month', month_start, month_end, 3),
         ('billing_period', coalesce(period_start, month_start), case when period_start is null then month_end else period_end end, 4),
         ('total', 'epoch'::timestamptz, null::timestamptz, 5)
$$;`;

/**
 * Records uses in order, each exactly as if alone: p_events is a JSON array of
 * { u: user id, m: metric, a: amount, k: idempotency key or null, d: local date, w: [day start, day end,
 * week start, week end, month start, month end] }. Answers one row per use (ord from 1):
 * - ok: consumed in every window of its metric (each limited period, plus the DAY window the history reads);
 *   period/allowance/used/resets_at are the tightest window's;
 * - retry: its key was used before for the same metric and amount: the first answer, counting nothing;
 * - conflict: its key was used for another metric or amount (metric/amount say which);
 * - refused: some limit refuses it: the window that frees up last (period/allowance/used/resets_at);
 * - overflow: an unlimited counter would go past 2147483647 (used = the fullest counter);
 * - unknown: the plan in force does not know the metric (known = the metrics it does know).
 *
 * Nothing is read then written unlocked: idempotency keys are claimed first (in key order), then every counter
 * of the batch is locked by an upsert (in key order, so concurrent batches cannot deadlock), then the uses are
 * decided one after the other in memory and the counters, records, usage events (usage.threshold when a use
 * takes a limited window from below p_threshold percent to at or above it, usage.limit_reached when it fills
 * one exactly) and a notification per user on 'tollgate_usage' (sent on commit) are written at the end.
 */
const CONSUME = `create function "tollgate_consume"(p_events jsonb, p_now timestamptz, p_renewal int, p_past_due int, p_threshold int)
  returns table (ord int, status text, metric text, amount int, period text, allowance int, used int, resets_at timestamptz, known text[])
  language plpgsql as $$
declare
  max_count constant bigint := 2147483647;
  n int;
  e_user uuid[]; e_metric text[]; e_amount int[]; e_key text[]; e_day date[];
  e_first int[];          -- the first use of the batch with the same user and key (itself when first or keyless)
  r_id uuid[];            -- per first use: its claimed usage_record (null = the key was used before)
  r_by int[];             -- per first use: the use of the batch that was accepted with its key
  p_metric text[]; p_amount int[]; p_used int[]; p_allowance int[]; p_period text[]; p_resets timestamptz[];
  c_user uuid[]; c_metric text[]; c_period text[]; c_start timestamptz[]; c_used int[]; c_new boolean[];
  t_ord int[]; t_c int[]; t_period text[]; t_allowance int[]; t_ends timestamptz[]; t_limited boolean[]; t_plan uuid[];
  a_period text[]; a_allowance int[]; a_used int[]; a_resets timestamptz[];  -- per use: its answer
  x_user uuid[] := '{}'; x_type text[] := '{}'; x_metric text[] := '{}'; x_period text[] := '{}';
  x_allowance int[] := '{}'; x_used int[] := '{}'; x_ends timestamptz[] := '{}';
  touched uuid[] := '{}';  -- the users a use was accepted for, to notify
  claim_id uuid[]; claim_k int[];
  i int; j int; t int; f int; tp int := 1; nt int; first_t int; last_t int; fits boolean; best int; was bigint; now_used bigint;
begin
  select count(*)::int,
         array_agg((e.j->>'u')::uuid order by e.o), array_agg(e.j->>'m' order by e.o), array_agg((e.j->>'a')::int order by e.o),
         array_agg(e.j->>'k' order by e.o), array_agg((e.j->>'d')::date order by e.o)
    into n, e_user, e_metric, e_amount, e_key, e_day
    from jsonb_array_elements(p_events) with ordinality e(j, o);
  if n = 0 then return; end if;

  -- Claim every key once; a key claimed by another transaction makes this wait for it, as a lone use would.
  select array_agg(s.f order by s.k) into e_first
    from (select k, case when e_key[k] is null then k else min(k) over (partition by e_user[k], e_key[k]) end as f
            from generate_series(1, n) k) s;
  r_id := array_fill(null::uuid, array[n]);
  r_by := array_fill(null::int, array[n]);
  with claimed as (
    insert into usage_record as r (id, created_at, updated_at, user_id, idempotency_key, metric, day, amount, used_after)
    select gen_random_uuid(), now(), now(), e_user[k], e_key[k], e_metric[k], e_day[k], e_amount[k], 0
      from generate_series(1, n) k where e_key[k] is not null and e_first[k] = k
     order by e_user[k], e_key[k]
    on conflict on constraint usage_record_user_id_idempotency_key_unique do nothing
    returning r.id, r.user_id, r.idempotency_key
  )
  select array_agg(c.id order by k), array_agg(k order by k) into claim_id, claim_k
    from claimed c join generate_series(1, n) k on e_key[k] = c.idempotency_key and e_user[k] = c.user_id and e_first[k] = k;
  for j in 1 .. coalesce(array_length(claim_k, 1), 0) loop r_id[claim_k[j]] := claim_id[j]; end loop;

  -- Keys used before (committed: a new statement sees what the transactions waited for wrote).
  p_metric := array_fill(null::text, array[n]); p_amount := array_fill(null::int, array[n]);
  p_used := array_fill(null::int, array[n]); p_allowance := array_fill(null::int, array[n]);
  p_period := array_fill(null::text, array[n]); p_resets := array_fill(null::timestamptz, array[n]);
  for i in
    select k from generate_series(1, n) k where e_key[k] is not null and e_first[k] = k and r_id[k] is null
  loop
    select r.metric, r.amount, r.used_after, r.per_day_after, coalesce(r.period_after, 'day'), r.resets_at_after
      into metric, amount, used, allowance, period, resets_at
      from usage_record r where r.user_id = e_user[i] and r.idempotency_key = e_key[i];
    p_metric[i] := metric; p_amount[i] := amount; p_used[i] := used;
    p_allowance[i] := allowance; p_period[i] := period; p_resets[i] := resets_at;
  end loop;

  -- Every window each use counts in, and a lock on each counter (created at 0 when new), in key order.
  with ev as (
    select e.k::int as k, e.j from jsonb_array_elements(p_events) with ordinality e(j, k)
     where e_key[e.k::int] is null or r_id[e_first[e.k::int]] is not null
  ),
  users as (select distinct e_user[k] as user_id from ev),
  plans as (
    select u.user_id, c.plan_id, c.period_start, c.period_end
      from users u cross join lateral tollgate_plan_in_force(u.user_id, p_now, p_renewal, p_past_due) c
  ),
  targets as (
    select ev.k, e_user[ev.k] as user_id, e_metric[ev.k] as metric, w.period, w.start, w.ends, w.rank, l.allowance,
           l.period is not null as limited, p.plan_id
      from ev join plans p on p.user_id = e_user[ev.k]
     cross join lateral tollgate_windows((ev.j->'w'->>0)::timestamptz, (ev.j->'w'->>1)::timestamptz, (ev.j->'w'->>2)::timestamptz,
                                         (ev.j->'w'->>3)::timestamptz, (ev.j->'w'->>4)::timestamptz, (ev.j->'w'->>5)::timestamptz,
                                         p.period_start, p.period_end) w
      left join plan_limit l on l.plan_id = p.plan_id and l.metric = e_metric[ev.k] and l.period = w.period
     where l.period is not null
        or (w.period = 'day' and exists (select 1 from plan_limit x where x.plan_id = p.plan_id and x.metric = e_metric[ev.k]))
  ),
  locked as (
    insert into usage_counter as u (user_id, metric, period, window_start, used, updated_at)
    select distinct t.user_id, t.metric, t.period, t.start, 0, now() from targets t
     order by t.user_id, t.metric, t.period, t.start
    on conflict on constraint usage_counter_pkey do update set used = u.used
    returning u.user_id, u.metric, u.period, u.window_start, u.used, u.xmax = 0 as created
  ),
  numbered as (select row_number() over (order by l.user_id, l.metric, l.period, l.window_start)::int as c, l.* from locked l),
  counters as (
    select array_agg(c.user_id order by c.c) as users, array_agg(c.metric order by c.c) as metrics,
           array_agg(c.period order by c.c) as periods, array_agg(c.window_start order by c.c) as starts,
           array_agg(c.used order by c.c) as used, array_agg(c.created order by c.c) as created
      from numbered c
  ),
  unknown as (
    select ev.k, p.plan_id from ev join plans p on p.user_id = e_user[ev.k] where not exists (select 1 from targets t where t.k = ev.k)
  ),
  listed as (
    select t.k, t.rank, nb.c, t.period, t.allowance, t.ends, t.limited, t.plan_id
      from targets t join numbered nb on nb.user_id = t.user_id and nb.metric = t.metric and nb.period = t.period and nb.window_start = t.start
    union all select u.k, 0, null, null, null, null, false, u.plan_id from unknown u
  )
  select c.users, c.metrics, c.periods, c.starts, c.used, c.created,
         (select array_agg(l.k order by l.k, l.rank) from listed l), (select array_agg(l.c order by l.k, l.rank) from listed l),
         (select array_agg(l.period order by l.k, l.rank) from listed l), (select array_agg(l.allowance order by l.k, l.rank) from listed l),
         (select array_agg(l.ends order by l.k, l.rank) from listed l), (select array_agg(l.limited order by l.k, l.rank) from listed l),
         (select array_agg(l.plan_id order by l.k, l.rank) from listed l)
    into c_user, c_metric, c_period, c_start, c_used, c_new, t_ord, t_c, t_period, t_allowance, t_ends, t_limited, t_plan
    from counters c;

  -- The uses one after the other, as if each were alone: a later one sees what the earlier ones used.
  a_period := array_fill(null::text, array[n]); a_allowance := array_fill(null::int, array[n]);
  a_used := array_fill(null::int, array[n]); a_resets := array_fill(null::timestamptz, array[n]);
  nt := coalesce(array_length(t_ord, 1), 0);
  for i in 1 .. n loop
    f := e_first[i];
    -- This use's windows are t_ord[first_t .. last_t] (the list is in use order; a retry may have some).
    while tp <= nt and t_ord[tp] < i loop tp := tp + 1; end loop;
    first_t := tp;
    while tp <= nt and t_ord[tp] = i loop tp := tp + 1; end loop;
    last_t := tp - 1;
    ord := i; metric := null; amount := null; period := null; allowance := null; used := null; resets_at := null; known := null;
    if e_key[i] is not null and (r_id[f] is null or r_by[f] is not null) then
      -- A key seen before: the first answer, or a conflict when it was for something else.
      j := r_by[f];
      if j is null then
        metric := p_metric[f]; amount := p_amount[f];
        period := p_period[f]; allowance := p_allowance[f]; used := p_used[f]; resets_at := p_resets[f];
      else
        metric := e_metric[j]; amount := e_amount[j];
        period := a_period[j]; allowance := a_allowance[j]; used := a_used[j]; resets_at := a_resets[j];
      end if;
      status := case when metric = e_metric[i] and amount = e_amount[i] then 'retry' else 'conflict' end;
      if status = 'conflict' then period := null; allowance := null; used := null; resets_at := null; end if;
      return next;
      continue;
    end if;
    if first_t > last_t then raise exception 'tollgate_consume: use % has no windows', i; end if;
    if t_c[first_t] is null then
      status := 'unknown';
      select array_agg(distinct l.metric order by l.metric) into known from plan_limit l where l.plan_id = t_plan[first_t];
      return next;
      continue;
    end if;
    fits := true;
    for t in first_t .. last_t loop
      if c_used[t_c[t]]::bigint + e_amount[i] > coalesce(t_allowance[t], max_count) then fits := false; end if;
    end loop;
    if fits then
      best := null;
      for t in first_t .. last_t loop
        was := c_used[t_c[t]];
        now_used := was + e_amount[i];
        c_used[t_c[t]] := now_used;
        if t_allowance[t] is not null then
          if was * 100 < p_threshold::bigint * t_allowance[t] and p_threshold::bigint * t_allowance[t] <= now_used * 100 then
            x_user := x_user || e_user[i]; x_type := x_type || 'usage.threshold'::text; x_metric := x_metric || e_metric[i];
            x_period := x_period || t_period[t]; x_allowance := x_allowance || t_allowance[t]; x_used := x_used || now_used::int;
            x_ends := x_ends || t_ends[t];
          end if;
          if now_used = t_allowance[t] then
            x_user := x_user || e_user[i]; x_type := x_type || 'usage.limit_reached'::text; x_metric := x_metric || e_metric[i];
            x_period := x_period || t_period[t]; x_allowance := x_allowance || t_allowance[t]; x_used := x_used || now_used::int;
            x_ends := x_ends || t_ends[t];
          end if;
          -- The tightest window: the least remaining, the first in period order on a tie.
          if best is null or t_allowance[best] is null
             or t_allowance[t] - now_used < t_allowance[best] - c_used[t_c[best]] then best := t; end if;
        elsif best is null then
          best := t;
        end if;
      end loop;
      status := 'ok';
      period := t_period[best]; allowance := t_allowance[best]; used := c_used[t_c[best]]; resets_at := t_ends[best];
      a_period[i] := period; a_allowance[i] := allowance; a_used[i] := used; a_resets[i] := resets_at;
      if e_key[i] is not null then r_by[f] := i; end if;
      if not e_user[i] = any(touched) then touched := touched || e_user[i]; end if;
    else
      -- The limit that refuses: the one whose window frees up last, the first in period order on a tie.
      best := null;
      for t in first_t .. last_t loop
        if t_allowance[t] is not null and c_used[t_c[t]]::bigint + e_amount[i] > t_allowance[t]
           and (best is null or coalesce(t_ends[t], 'infinity') > coalesce(t_ends[best], 'infinity')) then best := t; end if;
      end loop;
      if best is null then
        status := 'overflow';
        select max(c_used[t_c[s]]) into used from generate_series(first_t, last_t) s where t_limited[s];
      else
        status := 'refused';
        period := t_period[best]; allowance := t_allowance[best]; used := c_used[t_c[best]]; resets_at := t_ends[best];
      end if;
    end if;
    return next;
  end loop;

  -- Write what was decided.
  update usage_counter u set used = v.used, updated_at = now()
    from unnest(c_user, c_metric, c_period, c_start, c_used) v(user_id, metric, period, window_start, used)
   where u.user_id = v.user_id and u.metric = v.metric and u.period = v.period and u.window_start = v.window_start
     and u.used <> v.used;
  -- A counter this call created for uses that were all refused is not kept, as a refused lone use leaves none.
  if 0 = any(c_used) then
    delete from usage_counter u
     using unnest(c_user, c_metric, c_period, c_start, c_used, c_new) v(user_id, metric, period, window_start, used, created)
     where v.created and v.used = 0
       and u.user_id = v.user_id and u.metric = v.metric and u.period = v.period and u.window_start = v.window_start;
  end if;
  -- A claimed key keeps the use accepted with it (and its answer, for retries); a key no use was accepted with is free again.
  update usage_record r
     set metric = e_metric[r_by[k]], amount = e_amount[r_by[k]], day = e_day[r_by[k]], used_after = a_used[r_by[k]],
         per_day_after = a_allowance[r_by[k]], period_after = a_period[r_by[k]], resets_at_after = a_resets[r_by[k]],
         updated_at = now()
    from generate_series(1, n) k
   where r.id = r_id[k] and r_by[k] is not null;
  delete from usage_record r using generate_series(1, n) k where r.id = r_id[k] and r_by[k] is null;
  if array_length(x_type, 1) > 0 then
    insert into outbox_event (id, type, user_id, data, created_at)
    select 'evt_' || substr(replace(gen_random_uuid()::text, '-', ''), 1, 24), x.type, x.user_id,
           jsonb_build_object('object', jsonb_build_object('metric', x.metric, 'period', x.period, 'limit', x.allowance,
             'used', x.used, 'remaining', x.allowance - x.used, 'resetsAt', x.ends)),
           now()
      from unnest(x_user, x_type, x_metric, x_period, x_allowance, x_used, x_ends) with ordinality
           x(user_id, type, metric, period, allowance, used, ends, o)
     order by x.o;
  end if;
  perform pg_notify('tollgate_usage', u::text) from unnest(touched) u;
end $$;`;
