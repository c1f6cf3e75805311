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
    // A consume rewrites the counters it locks and the records it claimed: room on their pages lets those
    // updates stay on the page (HOT) instead of adding index entries for every new row version.
    this.addSql(`alter table "usage_counter" set (fillfactor = 70);`);
    this.addSql(`alter table "usage_record" set (fillfactor = 70);`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "usage_record" reset (fillfactor);`);
    this.addSql(`alter table "usage_counter" reset (fillfactor);`);
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
 * Nothing is consumed on a read that is not locked: the keys are claimed first (in key order), then every
 * counter a use may take from is locked by an upsert (in key order, so concurrent calls cannot deadlock),
 * the uses are decided one after the other in memory, and the counters, records, usage events
 * (usage.threshold when a use takes a limited window from below p_threshold percent to at or above it,
 * usage.limit_reached when it fills one exactly) and one notification per user on 'tollgate_usage' (sent on
 * commit) are written at the end. A counter only grows within its window, so a use that a counter read
 * without a lock already refuses is refused without locking it: a full hot counter does not make every
 * call wait for the others.
 */
export const CONSUME = `create function "tollgate_consume"(p_events jsonb, p_now timestamptz, p_renewal int, p_past_due int, p_threshold int)
  returns table (ord int, status text, metric text, amount int, period text, allowance int, used int, resets_at timestamptz, known text[])
  language plpgsql as $$
declare
  max_count constant bigint := 2147483647;
  n int;
  -- Per use (1..n).
  e_user uuid[]; e_metric text[]; e_amount int[]; e_key text[]; e_day date[];
  e_ds timestamptz[]; e_de timestamptz[]; e_ws timestamptz[]; e_we timestamptz[]; e_ms timestamptz[]; e_me timestamptz[];
  e_first int[];          -- the first use with the same user and key (itself when first or keyless)
  e_eval boolean[];       -- whether its windows are needed (keyless, or its key was claimed here)
  e_t1 int[]; e_t2 int[]; -- its windows: t_* from e_t1 to e_t2
  -- Per first use of a key.
  r_id uuid[];            -- its claimed usage_record (null = the key was used before this call)
  r_by int[];             -- the use accepted with the key in this call
  p_metric text[]; p_amount int[]; p_used int[]; p_allowance int[]; p_period text[]; p_resets timestamptz[];
  -- Per window of a use, in use then period order; t_c is its counter.
  t_ord int[]; t_c int[]; t_period text[]; t_allowance int[]; t_ends timestamptz[]; t_limited boolean[];
  t_user uuid[]; t_metric text[]; t_start timestamptz[]; t_read int[]; t_lock boolean[];
  -- Per counter.
  c_user uuid[]; c_metric text[]; c_period text[]; c_start timestamptz[]; c_used int[]; c_was int[]; c_new boolean[];
  l_used int[]; l_new boolean[];
  -- Per use: its answer.
  a_period text[]; a_allowance int[]; a_used int[]; a_resets timestamptz[];
  -- What to write.
  x_user uuid[] := '{}'; x_type text[] := '{}'; x_metric text[] := '{}'; x_period text[] := '{}';
  x_allowance int[] := '{}'; x_used int[] := '{}'; x_ends timestamptz[] := '{}'; nx int := 0;
  w_user uuid[] := '{}'; w_metric text[] := '{}'; w_period text[] := '{}'; w_start timestamptz[] := '{}'; w_used int[] := '{}'; nw int := 0;
  kept_id uuid[] := '{}'; kept_k int[] := '{}'; nk int := 0; freed_id uuid[] := '{}'; nf int := 0;
  touched uuid[] := '{}';  -- the users a use was accepted for, to notify
  claim_id uuid[]; claim_k int[];
  i int; j int; t int; f int; nt int; nc int; fits boolean; best int; was bigint; now_used bigint;
begin
  select count(*)::int,
         array_agg((e.j->>'u')::uuid order by e.o), array_agg(e.j->>'m' order by e.o), array_agg((e.j->>'a')::int order by e.o),
         array_agg(e.j->>'k' order by e.o), array_agg((e.j->>'d')::date order by e.o),
         array_agg((e.j->'w'->>0)::timestamptz order by e.o), array_agg((e.j->'w'->>1)::timestamptz order by e.o),
         array_agg((e.j->'w'->>2)::timestamptz order by e.o), array_agg((e.j->'w'->>3)::timestamptz order by e.o),
         array_agg((e.j->'w'->>4)::timestamptz order by e.o), array_agg((e.j->'w'->>5)::timestamptz order by e.o)
    into n, e_user, e_metric, e_amount, e_key, e_day, e_ds, e_de, e_ws, e_we, e_ms, e_me
    from jsonb_array_elements(p_events) with ordinality e(j, o);
  if n = 0 then return; end if;

  -- Claim every key once; a key another transaction claimed makes this wait for it, as a lone use would.
  select array_agg(v.f order by v.o) into e_first
    from (select v.o, case when v.k is null then v.o else min(v.o) over (partition by v.u, v.k) end as f
            from unnest(e_user, e_key) with ordinality v(u, k, o)) v;
  r_id := array_fill(null::uuid, array[n]); r_by := array_fill(null::int, array[n]);
  with ev as (
    select v.* from unnest(e_user, e_key, e_metric, e_day, e_amount, e_first) with ordinality v(u, k, m, d, a, f, o)
     where v.k is not null and v.f = v.o
  ),
  claimed as (
    -- used_after holds the use's position until its answer is written below (never committed so).
    insert into usage_record as r (id, created_at, updated_at, user_id, idempotency_key, metric, day, amount, used_after)
    select gen_random_uuid(), now(), now(), ev.u, ev.k, ev.m, ev.d, ev.a, ev.o from ev order by ev.u, ev.k
    on conflict on constraint usage_record_user_id_idempotency_key_unique do nothing
    returning r.id, r.used_after
  )
  select array_agg(c.id), array_agg(c.used_after) into claim_id, claim_k from claimed c;
  for j in 1 .. coalesce(array_length(claim_k, 1), 0) loop r_id[claim_k[j]] := claim_id[j]; end loop;

  -- Keys used before (committed: a new statement sees what the transactions waited for wrote).
  e_eval := array_fill(true, array[n]);
  p_metric := array_fill(null::text, array[n]); p_amount := array_fill(null::int, array[n]);
  p_used := array_fill(null::int, array[n]); p_allowance := array_fill(null::int, array[n]);
  p_period := array_fill(null::text, array[n]); p_resets := array_fill(null::timestamptz, array[n]);
  for i in 1 .. n loop
    continue when e_key[i] is null or r_id[e_first[i]] is not null;
    e_eval[i] := false;
    continue when e_first[i] <> i;
    select r.metric, r.amount, r.used_after, r.per_day_after, coalesce(r.period_after, 'day'), r.resets_at_after
      into metric, amount, used, allowance, period, resets_at
      from usage_record r where r.user_id = e_user[i] and r.idempotency_key = e_key[i];
    p_metric[i] := metric; p_amount[i] := amount; p_used[i] := used;
    p_allowance[i] := allowance; p_period[i] := period; p_resets[i] := resets_at;
  end loop;

  -- Every window each use counts in, under the plan in force, with its counter as committed (not locked).
  with ev as (
    select v.* from unnest(e_user, e_metric, e_ds, e_de, e_ws, e_we, e_ms, e_me, e_eval) with ordinality
                    v(u, m, ds, de, ws, we, ms, me, eval, o)
     where v.eval
  ),
  plans as (
    select u.u, c.plan_id, c.period_start, c.period_end
      from (select distinct ev.u from ev) u cross join lateral tollgate_plan_in_force(u.u, p_now, p_renewal, p_past_due) c
  ),
  targets as (
    select ev.o, ev.u, ev.m, w.period, w.start, w.ends, w.rank, l.allowance, l.period is not null as limited
      from ev join plans p on p.u = ev.u
     cross join lateral tollgate_windows(ev.ds, ev.de, ev.ws, ev.we, ev.ms, ev.me, p.period_start, p.period_end) w
      left join plan_limit l on l.plan_id = p.plan_id and l.metric = ev.m and l.period = w.period
     where l.period is not null
        or (w.period = 'day' and exists (select 1 from plan_limit x where x.plan_id = p.plan_id and x.metric = ev.m))
  ),
  listed as (
    select t.o, t.rank, dense_rank() over (order by t.u, t.m, t.period, t.start)::int as c, t.period, t.allowance, t.ends,
           t.limited, t.u, t.m, t.start, coalesce(u.used, 0) as read
      from targets t
      left join usage_counter u on u.user_id = t.u and u.metric = t.m and u.period = t.period and u.window_start = t.start
  )
  select array_agg(l.o::int order by l.o, l.rank), array_agg(l.c order by l.o, l.rank), array_agg(l.period order by l.o, l.rank),
         array_agg(l.allowance order by l.o, l.rank), array_agg(l.ends order by l.o, l.rank), array_agg(l.limited order by l.o, l.rank),
         array_agg(l.u order by l.o, l.rank), array_agg(l.m order by l.o, l.rank),
         array_agg(l.start order by l.o, l.rank), array_agg(l.read order by l.o, l.rank), coalesce(max(l.c), 0)
    into t_ord, t_c, t_period, t_allowance, t_ends, t_limited, t_user, t_metric, t_start, t_read, nc
    from listed l;

  -- Each use's windows; those of a use that some counter already refuses need no lock.
  nt := coalesce(array_length(t_ord, 1), 0);
  e_t1 := array_fill(1, array[n]); e_t2 := array_fill(0, array[n]);
  t_lock := array_fill(false, array[greatest(nt, 1)]);
  t := 1;
  for i in 1 .. n loop
    e_t1[i] := t;
    while t <= nt and t_ord[t] = i loop t := t + 1; end loop;
    e_t2[i] := t - 1;
    fits := true;
    for j in e_t1[i] .. e_t2[i] loop
      if t_read[j]::bigint + e_amount[i] > coalesce(t_allowance[j], max_count) then fits := false; end if;
    end loop;
    if fits then for j in e_t1[i] .. e_t2[i] loop t_lock[j] := true; end loop; end if;  -- (no window: unknown, no lock)
  end loop;

  -- Lock the counters the uses may take from (created at 0 when new), in key order.
  with locked as (
    insert into usage_counter as u (user_id, metric, period, window_start, used, updated_at)
    select distinct v.u, v.m, v.p, v.s, 0, now() from unnest(t_user, t_metric, t_period, t_start, t_lock) v(u, m, p, s, lk)
     where v.lk
     order by v.u, v.m, v.p, v.s
    on conflict on constraint usage_counter_pkey do update set used = u.used
    returning u.user_id, u.metric, u.period, u.window_start, u.used, u.xmax = 0 as created
  )
  select array_agg(l.used order by v.o), array_agg(l.created order by v.o) into l_used, l_new
    from unnest(t_user, t_metric, t_period, t_start) with ordinality v(u, m, p, s, o)
    left join locked l on l.user_id = v.u and l.metric = v.m and l.period = v.p and l.window_start = v.s;

  c_used := array_fill(0, array[greatest(nc, 1)]); c_new := array_fill(false, array[greatest(nc, 1)]);
  c_user := array_fill(null::uuid, array[greatest(nc, 1)]); c_metric := array_fill(null::text, array[greatest(nc, 1)]);
  c_period := array_fill(null::text, array[greatest(nc, 1)]); c_start := array_fill(null::timestamptz, array[greatest(nc, 1)]);
  for t in 1 .. nt loop
    c_user[t_c[t]] := t_user[t]; c_metric[t_c[t]] := t_metric[t]; c_period[t_c[t]] := t_period[t]; c_start[t_c[t]] := t_start[t];
    c_used[t_c[t]] := coalesce(l_used[t], t_read[t]); c_new[t_c[t]] := coalesce(l_new[t], false);
  end loop;
  c_was := c_used;

  -- The uses one after the other, as if each were alone: a later one sees what the earlier ones used.
  a_period := array_fill(null::text, array[n]); a_allowance := array_fill(null::int, array[n]);
  a_used := array_fill(null::int, array[n]); a_resets := array_fill(null::timestamptz, array[n]);
  for i in 1 .. n loop
    f := e_first[i];
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
    if e_t1[i] > e_t2[i] then
      -- No window: the plan in force has no limit on the metric.
      status := 'unknown';
      select array_agg(distinct l.metric order by l.metric) into known from plan_limit l
       where l.plan_id = (select c.plan_id from tollgate_plan_in_force(e_user[i], p_now, p_renewal, p_past_due) c);
      return next;
      continue;
    end if;
    fits := true;
    for t in e_t1[i] .. e_t2[i] loop
      if c_used[t_c[t]]::bigint + e_amount[i] > coalesce(t_allowance[t], max_count) then fits := false; end if;
    end loop;
    if fits then
      best := null;
      for t in e_t1[i] .. e_t2[i] loop
        was := c_used[t_c[t]];
        now_used := was + e_amount[i];
        c_used[t_c[t]] := now_used;
        if t_allowance[t] is not null then
          if was * 100 < p_threshold::bigint * t_allowance[t] and p_threshold::bigint * t_allowance[t] <= now_used * 100 then
            nx := nx + 1; x_user[nx] := e_user[i]; x_type[nx] := 'usage.threshold'; x_metric[nx] := e_metric[i];
            x_period[nx] := t_period[t]; x_allowance[nx] := t_allowance[t]; x_used[nx] := now_used; x_ends[nx] := t_ends[t];
          end if;
          if now_used = t_allowance[t] then
            nx := nx + 1; x_user[nx] := e_user[i]; x_type[nx] := 'usage.limit_reached'; x_metric[nx] := e_metric[i];
            x_period[nx] := t_period[t]; x_allowance[nx] := t_allowance[t]; x_used[nx] := now_used; x_ends[nx] := t_ends[t];
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
      for t in e_t1[i] .. e_t2[i] loop
        if t_allowance[t] is not null and c_used[t_c[t]]::bigint + e_amount[i] > t_allowance[t]
           and (best is null or coalesce(t_ends[t], 'infinity') > coalesce(t_ends[best], 'infinity')) then best := t; end if;
      end loop;
      if best is null then
        status := 'overflow';
        select max(c_used[t_c[s]]) into used from generate_series(e_t1[i], e_t2[i]) s where t_limited[s];
      else
        status := 'refused';
        period := t_period[best]; allowance := t_allowance[best]; used := c_used[t_c[best]]; resets_at := t_ends[best];
      end if;
    end if;
    return next;
  end loop;

  -- Write what was decided. Upserts on the keys: an index lookup per row, whatever the planner thinks of the table.
  for j in 1 .. nc loop
    if c_used[j] <> c_was[j] then
      nw := nw + 1; w_user[nw] := c_user[j]; w_metric[nw] := c_metric[j]; w_period[nw] := c_period[j];
      w_start[nw] := c_start[j]; w_used[nw] := c_used[j];
    elsif c_new[j] and c_used[j] = 0 then
      -- Created by this call for uses that were all refused: not kept, as a refused lone use leaves no counter.
      delete from usage_counter u
       where u.user_id = c_user[j] and u.metric = c_metric[j] and u.period = c_period[j] and u.window_start = c_start[j];
    end if;
  end loop;
  if nw > 0 then
    insert into usage_counter as u (user_id, metric, period, window_start, used, updated_at)
    select v.u, v.m, v.p, v.s, v.used, now() from unnest(w_user, w_metric, w_period, w_start, w_used) v(u, m, p, s, used)
    on conflict on constraint usage_counter_pkey do update set used = excluded.used, updated_at = excluded.updated_at;
  end if;
  -- A claimed key keeps the use accepted with it (and its answer, for retries); a key no use was accepted with is free again.
  for j in 1 .. n loop
    if r_id[j] is not null and r_by[j] is not null then
      nk := nk + 1; kept_id[nk] := r_id[j]; kept_k[nk] := r_by[j];
    elsif r_id[j] is not null then
      nf := nf + 1; freed_id[nf] := r_id[j];
    end if;
  end loop;
  if nk > 0 then
    insert into usage_record as r (id, created_at, updated_at, user_id, idempotency_key, metric, day, amount, used_after,
                                   per_day_after, period_after, resets_at_after)
    select v.id, now(), now(), e_user[v.k], e_key[v.k], e_metric[v.k], e_day[v.k], e_amount[v.k], a_used[v.k],
           a_allowance[v.k], a_period[v.k], a_resets[v.k]
      from unnest(kept_id, kept_k) v(id, k)
    on conflict on constraint usage_record_pkey do update
       set metric = excluded.metric, amount = excluded.amount, day = excluded.day, used_after = excluded.used_after,
           per_day_after = excluded.per_day_after, period_after = excluded.period_after,
           resets_at_after = excluded.resets_at_after, updated_at = excluded.updated_at;
  end if;
  if nf > 0 then delete from usage_record r where r.id = any(freed_id); end if;
  if nx > 0 then
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
