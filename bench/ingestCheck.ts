/**
 * The checks of bench/ingest.ts, from the database after the load: what the answers said was accepted is
 * exactly what was recorded, every counter equals the sum of the uses recorded in it (nothing counted twice
 * or lost), no counter is over its limit, and batches sent again with the same idempotency keys count nothing.
 */
import type pg from 'pg';

export interface Answer {
  ok: boolean;
  usage: { metric: string; period: string; used: number; remaining: number | null } | null;
  error: { code: string } | null;
}

export interface SentBatch {
  events: Array<{ user: string; metric: string; amount: number; idempotencyKey: string }>;
  /** null: no answer (an error, or the connection closed at the end of the run). */
  answers: Answer[] | null;
}

export interface Check {
  ok: boolean;
  summary: string;
}

const OF_POPULATION = `join app_user u on u.id = x.user_id and u.external_id like $1 || '-%'`;

/** The answers in `sent` against the usage records, then records, counters and limits of the population. */
export async function checkPopulation(pool: pg.Pool, population: string, sent: SentBatch[]): Promise<Check> {
  const problems: string[] = [];
  const answered = sent.filter((b) => b.answers);
  const accepted = answered.flatMap((b) => b.events.filter((_, i) => b.answers![i].ok));
  const refused = answered.flatMap((b) => b.events.filter((_, i) => !b.answers![i].ok));
  if (answered.length > 0) {
    const { rows } = await pool.query<{ matched: number; stray: number }>(
      `select (select count(*)::int from usage_record r join unnest($1::text[], $2::int[]) a(k, amount)
                 on r.idempotency_key = a.k and r.amount = a.amount) as matched,
              (select count(*)::int from usage_record r where r.idempotency_key = any($3::text[])) as stray`,
      [accepted.map((e) => e.idempotencyKey), accepted.map((e) => e.amount), refused.map((e) => e.idempotencyKey)],
    );
    if (rows[0].matched !== accepted.length) problems.push(`${accepted.length - rows[0].matched} accepted events have no record`);
    if (rows[0].stray > 0) problems.push(`${rows[0].stray} refused events were recorded`);
  }
  const { rows: sums } = await pool.query<{ windows: number; mismatched: number; events: number; amount: number; users: number }>(
    `with rec as (select x.user_id, x.metric, sum(x.amount)::bigint as amount, count(*)::int as events
                    from usage_record x ${OF_POPULATION} group by 1, 2),
          cnt as (select x.user_id, x.metric, x.period, sum(x.used)::bigint as used from usage_counter x ${OF_POPULATION} group by 1, 2, 3)
     select (select count(*)::int from cnt) as windows,
            (select count(*)::int from cnt full join rec on rec.user_id = cnt.user_id and rec.metric = cnt.metric
              where cnt.used is distinct from rec.amount) as mismatched,
            (select coalesce(sum(events), 0)::int from rec) as events, (select coalesce(sum(amount), 0)::bigint from rec) as amount,
            (select count(distinct user_id)::int from rec) as users`,
    [population],
  );
  const s = sums[0];
  if (s.mismatched > 0) problems.push(`${s.mismatched} counters differ from the sum of their recorded uses`);
  const { rows: over } = await pool.query<{ overshoot: number }>(
    `select count(*)::int as overshoot from usage_counter x ${OF_POPULATION}
       join plan_limit l on l.plan_id = (select id from plan where is_default) and l.metric = x.metric and l.period = x.period
      where x.used > l.allowance`,
    [population],
  );
  if (over[0].overshoot > 0) problems.push(`${over[0].overshoot} counters over their limit`);
  const { rows: hot } = await pool.query<{ metric: string; period: string; used: number; allowance: number }>(
    `select x.metric, x.period, x.used, l.allowance from usage_counter x join app_user u on u.id = x.user_id and u.external_id = $1 || '-hot'
       join plan_limit l on l.plan_id = (select id from plan where is_default) and l.metric = x.metric and l.period = x.period
      order by x.metric, x.period`,
    [population],
  );
  const answers = answered.length > 0 ? `; answers match the records (${accepted.length} accepted, ${refused.length} refused)` : '';
  return {
    ok: problems.length === 0,
    summary:
      `${population}: ${s.events} uses (${s.amount} units) of ${s.users} users recorded; ` +
      (problems.length ? problems.join('; ') : `every one of ${s.windows} counters equals its recorded uses, none over its limit`) +
      `${answers}; hot user ${hot.map((h) => `${h.metric}/${h.period} ${h.used}/${h.allowance}`).join(', ')}`,
  };
}

async function totals(pool: pg.Pool, population: string): Promise<string> {
  const { rows } = await pool.query(
    `select (select coalesce(sum(x.used), 0)::bigint from usage_counter x ${OF_POPULATION}) as used,
            (select count(*)::int from usage_record x ${OF_POPULATION}) as records,
            (select count(*)::int from outbox_event x ${OF_POPULATION}) as events`,
    [population],
  );
  return JSON.stringify(rows[0]);
}

/** Sends batches again with their idempotency keys: each must answer as before, and nothing may be counted. */
export async function resend(
  url: string,
  key: string,
  mutation: string,
  batches: SentBatch[],
  pool: pg.Pool,
  population: string,
): Promise<Check> {
  const before = await totals(pool, population);
  let differing = 0;
  for (const batch of batches) {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query: mutation, variables: { events: batch.events } }),
    });
    const answers = ((await res.json()) as { data?: { recordUsageBatch: Answer[] } }).data?.recordUsageBatch;
    const same = (a: Answer, b: Answer) => a.ok === b.ok && JSON.stringify(a.usage) === JSON.stringify(b.usage);
    differing += answers ? batch.answers!.filter((a, i) => !same(a, answers[i])).length : batch.events.length;
  }
  const after = await totals(pool, population);
  const events = batches.reduce((n, b) => n + b.events.length, 0);
  const ok = differing === 0 && before === after && batches.length > 0;
  return {
    ok,
    summary: `resent ${batches.length} batches (${events} events) with the same keys: ${differing} answers differ; counters, records and usage events ${before === after ? 'unchanged' : `changed: ${before} -> ${after}`}`,
  };
}

/**
 * Waits until no consume is running and none is still to come: batches the load generator gave up on at the
 * end of a run may still be queued in the server, waiting for a database connection.
 */
export async function settled(pool: pg.Pool): Promise<void> {
  const state = async () =>
    JSON.stringify(
      (
        await pool.query(
          `select (select count(*) from pg_stat_activity where state = 'active' and query like '%tollgate_consume%' and pid <> pg_backend_pid()) as running,
                  (select count(*) from usage_record) as records`,
        )
      ).rows[0],
    );
  let last = '';
  for (let i = 0; i < 120; i++) {
    const now = await state();
    if (now === last && JSON.parse(now).running === '0') return;
    last = now;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error('consumes were still running two minutes after the load ended');
}
