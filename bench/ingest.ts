/**
 * Load benchmark for batched usage ingestion: a service key sends `recordUsageBatch` batches of 100 events
 * over 32 connections to the real app (bench/limitsServer.ts, a process of its own), for 10,000 users and one
 * hot user who gets a share of the events large enough to fill its limits. The baseline, in the same run, sends
 * the same kind of events one by one, each the very statement recordUsage runs (CONSUME_SQL), from a pg pool
 * of as many connections, for a population of its own.
 *
 *   npm run bench:ingest -- [--duration 10] [--connections 32] [--batch 100] [--hot-share 0.1]
 *
 * Prints events/s of both and their ratio, then checks from the database that nothing was overshot or counted
 * twice (bench/ingestCheck.ts) and that batches sent again with the same idempotency keys count nothing;
 * exits non-zero when a check fails. Uses DATABASE_URL when set, else a throw-away embedded PostgreSQL.
 */
import autocannon from 'autocannon';
import { Command } from 'commander';
import type pg from 'pg';
import { createApiKey } from '../src/auth/apiKeys';
import { CONSUME_SQL, DEFAULT_PLAN_GRACE } from '../src/billing/limits';
import { consumeParams } from '../src/billing/limitsSql';
import { checkPopulation, resend, settled, type Answer, type SentBatch } from './ingestCheck';
import { cpuOfAll, cpuSince, log, openBenchDatabase, postgresPids, startServer } from './servers';

const USERS = 10_000;
const POOL = 20;
const TIMEZONES = ['UTC', 'America/New_York', 'Europe/Berlin', 'Asia/Tokyo', 'Australia/Sydney'];
const BATCH_MUTATION = `mutation($events: [UsageEventInput!]!) {
  recordUsageBatch(events: $events) { ok usage { metric period used remaining } error { code } }
}`;
/** How many of the first batches are kept to be sent again. */
const KEEP = 20;

interface Event {
  user: string;
  metric: string;
  amount: number;
  idempotencyKey: string;
}

interface Person {
  id: string;
  timezone: string;
}

/** Makes one population's events: `hotShare` of them for its hot user, the others spread over its users. */
function eventSource(population: string, hotShare: number) {
  let seq = 0;
  const run = Date.now().toString(36);
  return (): Event => {
    const hot = Math.random() < hotShare;
    const user = hot ? `${population}-hot` : `${population}-${Math.floor(Math.random() * USERS)}`;
    const metric = Math.random() < 0.8 ? 'minutes' : 'megabytes';
    return { user, metric, amount: 1 + Math.floor(Math.random() * 3), idempotencyKey: `${population}-${run}-${seq++}` };
  };
}

/** USERS users and a hot one per population, in several time zones, written in one statement. */
async function createPopulation(pool: pg.Pool, population: string): Promise<Map<string, Person>> {
  const { rows } = await pool.query<{ external_id: string; id: string; timezone: string }>(
    `insert into app_user (id, created_at, updated_at, email, timezone, external_id)
     select gen_random_uuid(), now(), now(), x.external_id || '@example.com', ($2::text[])[1 + i % array_length($2::text[], 1)], x.external_id
       from generate_series(0, $3) i
      cross join lateral (select case when i = $3 then $1 || '-hot' else $1 || '-' || i end as external_id) x
     returning external_id, id, timezone`,
    [population, TIMEZONES, USERS],
  );
  return new Map(rows.map((r) => [r.external_id, { id: r.id, timezone: r.timezone }]));
}

/** Tollgate: batches over GraphQL with a service key; every answer is kept for the checks. */
interface Run {
  /** Events answered per second. */
  rate: number;
  events: number;
}

async function loadTollgate(url: string, key: string, next: () => Event, opts: Options, sent: SentBatch[]): Promise<Run> {
  const started = Date.now();
  let events = 0;
  const ticker = setInterval(() => process.stderr.write('.'), 1000);
  const result = await autocannon({
    url,
    connections: opts.connections,
    duration: opts.duration,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        setupRequest: (req, context) => {
          const batch = Array.from({ length: opts.batch }, next);
          (context as { batch?: Event[] }).batch = batch;
          return { ...req, body: JSON.stringify({ query: BATCH_MUTATION, variables: { events: batch } }) };
        },
        onResponse: (status, body, context) => {
          const batch = (context as { batch: Event[] }).batch;
          const answers = status === 200 ? (JSON.parse(body).data?.recordUsageBatch as Answer[] | undefined) : undefined;
          sent.push({ events: batch, answers: answers ?? null });
          if (answers) events += batch.length;
        },
      },
    ],
  });
  clearInterval(ticker);
  process.stderr.write('\n');
  if (result.errors + result.timeouts + result.non2xx > 0)
    log(`  ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx`);
  return { rate: events / ((Date.now() - started) / 1000), events };
}

/** The baseline: each event alone, the statement recordUsage runs, over as many pg connections. */
async function loadBaseline(pool: pg.Pool, people: Map<string, Person>, next: () => Event, opts: Options): Promise<Run> {
  const started = Date.now();
  const until = started + opts.duration * 1000;
  let events = 0;
  const ticker = setInterval(() => process.stderr.write('.'), 1000);
  const worker = async () => {
    while (Date.now() < until) {
      const e = next();
      const use = { owner: people.get(e.user)!, metric: e.metric, amount: e.amount, key: e.idempotencyKey };
      // Prepared once per connection, as Tollgate's statements are (src/db/sql.ts).
      await pool.query({ name: 'consume', text: CONSUME_SQL, values: consumeParams([use], new Date(), DEFAULT_PLAN_GRACE, 80) });
      events++;
    }
  };
  await Promise.all(Array.from({ length: opts.connections }, worker));
  clearInterval(ticker);
  process.stderr.write('\n');
  return { rate: events / ((Date.now() - started) / 1000), events };
}

interface Options {
  duration: number;
  connections: number;
  batch: number;
  hotShare: number;
}

async function main() {
  const raw = new Command('bench:ingest')
    .option('--duration <s>', 'seconds per run', '10')
    .option('--connections <n>', 'concurrent connections', '32')
    .option('--batch <n>', 'events per batch', '100')
    .option('--hot-share <f>', "the hot user's share of the events", '0.1')
    .parse()
    .opts<{ duration: string; connections: string; batch: string; hotShare: string }>();
  const opts: Options = {
    duration: Number(raw.duration),
    connections: Number(raw.connections),
    batch: Number(raw.batch),
    hotShare: Number(raw.hotShare),
  };
  const db = await openBenchDatabase(Math.max(POOL, opts.connections));
  const stops: Array<() => Promise<void>> = [];
  try {
    log(`creating 2 x ${USERS + 1} users...`);
    const basePeople = await createPopulation(db.pool, 'base');
    await createPopulation(db.pool, 'app');
    const { key } = await createApiKey(db.em(), { name: 'bench-ingest', scopes: ['usage'] });

    log('starting Tollgate in a process of its own...');
    const app = await startServer('app', db.url, POOL, '/graphql');
    stops.push(() => app.stop());

    const sent: SentBatch[] = [];
    const appEvents = eventSource('app', opts.hotShare);
    log('warming up...');
    await loadTollgate(app.url, key, appEvents, { ...opts, duration: 2 }, []);
    await settled(db.pool);
    // CPU time of PostgreSQL's processes (those that start during a run count from zero) and of the client.
    const cpuOf = async (others: number[]) => cpuOfAll([...others, ...(await postgresPids(db.pool))]);

    log(`baseline: one CONSUME_SQL per event, ${opts.connections} pg connections, ${opts.duration}s...`);
    const [baseCpu, clientCpu] = [await cpuOf([]), process.cpuUsage()];
    const baseline = await loadBaseline(db.pool, basePeople, eventSource('base', opts.hotShare), opts);
    const baseCpuMs = cpuSince(baseCpu, await cpuOf([])) + cpuOfThisProcess(clientCpu);
    await settled(db.pool);

    log(`tollgate: recordUsageBatch of ${opts.batch}, ${opts.connections} connections, ${opts.duration}s...`);
    const appCpu = await cpuOf([app.pid]);
    const tollgate = await loadTollgate(app.url, key, appEvents, opts, sent);
    const appCpuMs = cpuSince(appCpu, await cpuOf([app.pid]));
    const serverCpuMs = cpuSince(appCpu, await cpuOfAll([app.pid]));

    log('checking the database...');
    await settled(db.pool);
    const resent = await resend(app.url, key, BATCH_MUTATION, sent.filter((b) => b.answers).slice(0, KEEP), db.pool, 'app');
    const checks = [await checkPopulation(db.pool, 'base', []), await checkPopulation(db.pool, 'app', sent), resent];
    const failed = checks.filter((c) => !c.ok);
    // CPU time per event (the server's and PostgreSQL's, or the baseline's client and PostgreSQL's): what the
    // events would cost on an idle machine, whatever else runs on this one; 2 cores / that = a ceiling.
    const perEvent = (ms: number, run: Run) => (ms * 1000) / Math.max(1, run.events);
    const row = (name: string, run: Run, cpu: number, ratio: string) =>
      `| ${name.padEnd(30)} | ${run.rate.toFixed(0).padStart(8)} | ${ratio.padStart(5)} | ${perEvent(cpu, run).toFixed(0).padStart(12)} | ${(2e6 / perEvent(cpu, run)).toFixed(0).padStart(15)} |`;
    const ratio = tollgate.rate / baseline.rate;
    process.stdout.write(
      [
        '',
        `duration ${opts.duration}s per run, ${opts.connections} connections, batches of ${opts.batch}, ${USERS} users + 1 hot (${opts.hotShare * 100}% of events)`,
        '| run                            | events/s | ratio | CPU µs/event | 2 cores / CPU  |',
        '|--------------------------------|----------|-------|--------------|-----------------|',
        row('baseline CONSUME_SQL per event', baseline, baseCpuMs, '-'),
        row('tollgate recordUsageBatch', tollgate, appCpuMs, ratio.toFixed(2)),
        '',
        `tollgate: ${tollgate.rate.toFixed(0)} events/s (goal >= 10000), ${ratio.toFixed(2)}x the baseline; ` +
          `CPU per event: server ${perEvent(serverCpuMs, tollgate).toFixed(0)} µs, PostgreSQL ${perEvent(appCpuMs - serverCpuMs, tollgate).toFixed(0)} µs`,
        ...checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'} ${c.summary}`),
        '',
      ].join('\n'),
    );
    if (failed.length > 0) process.exitCode = 1;
  } finally {
    for (const stop of stops) await stop();
    await db.close();
  }
}

/** This process's CPU time since `since`, in milliseconds. */
function cpuOfThisProcess(since: NodeJS.CpuUsage): number {
  const { user, system } = process.cpuUsage(since);
  return (user + system) / 1000;
}

main().catch((err) => {
  process.stderr.write(`${err?.stack ?? err}\n`);
  process.exit(1);
});
