/**
 * Load benchmark for the two hottest calls: `myLimits` and `recordUsage` on one hot counter, over
 * GraphQL through the real app, against a bare node:http + pg server running the same SQL (the same
 * statement text from src/billing/limits.ts, and the same token lookup) in the same run. Each server runs
 * in a process of its own (bench/limitsServer.ts); the load comes from this one.
 *
 *   npm run bench:limits -- [--duration 10] [--connections 32] [--profile <dir>]
 *
 * Prints requests/s, p50 and p99 latency, the ratio to the baseline and each server's CPU time per request
 * (which load from other work on the machine moves far less than requests/s). The measured recordUsage runs
 * stay below the limit; afterwards both hot counters are brought near a limit and filled past it, and each
 * must end exactly at it. Uses DATABASE_URL when set, else a throw-away embedded PostgreSQL.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import autocannon from 'autocannon';
import { Command } from 'commander';
import type { Pool } from 'pg';
import { createUser } from '../src/auth/users';
import { cpuMs, log, openBenchDatabase, startServer, type ServerProcess } from './servers';

// High enough that the measured runs only accept (the path a product pays for); the fill below then proves the limit holds.
const MEASURED_LIMIT = 1_000_000;
const FILL_ROOM = 1_000;
const POOL = 20;

interface Result {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  /** The server process's CPU time (user + system) per request, in microseconds. */
  cpuPerRequest: number;
}

async function load(
  name: string,
  server: ServerProcess,
  body: string,
  token: string,
  duration: number,
  connections: number,
): Promise<Result> {
  log(`  running ${name} for ${duration}s with ${connections} connections...`);
  const cpuBefore = await cpuMs(server.pid);
  const ticker = setInterval(() => process.stderr.write('.'), 1000);
  const r = await autocannon({
    url: server.url,
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    duration,
    connections,
  });
  const cpu = (await cpuMs(server.pid)) - cpuBefore;
  clearInterval(ticker);
  process.stderr.write('\n');
  return {
    name,
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
    cpuPerRequest: (cpu * 1000) / Math.max(1, r.requests.total),
  };
}

async function main() {
  const opts = new Command('bench:limits')
    .option('--duration <s>', 'seconds per run', '10')
    .option('--connections <n>', 'concurrent connections', '32')
    .option('--profile <dir>', "write the Tollgate server's CPU profile (node --cpu-prof) to this folder")
    .parse()
    .opts<{ duration: string; connections: string; profile?: string }>();
  const duration = Number(opts.duration);
  const connections = Number(opts.connections);
  const db = await openBenchDatabase(POOL);
  const { orm, pool } = db;
  const stops: Array<() => Promise<void>> = [];
  try {
    // One hot counter per server.
    await setHotLimit(pool, MEASURED_LIMIT);
    const ours = await createUser(orm.em.fork() as EntityManager, { email: 'bench-app@example.com' });
    const base = await createUser(orm.em.fork() as EntityManager, { email: 'bench-baseline@example.com' });

    log('starting the two servers, each in a process of its own...');
    const profile = opts.profile ? ['--cpu-prof', `--cpu-prof-dir=${opts.profile}`] : [];
    const app = await startServer('app', db.url, POOL, '/graphql', { nodeFlags: profile });
    stops.push(() => app.stop());
    const baseline = await startServer('baseline', db.url, POOL, '/');
    stops.push(() => baseline.stop());

    const limitsQuery = JSON.stringify({
      query: '{ myLimits { plan { code } day resetsAt metrics { metric period limit used remaining resetsAt } } }',
    });
    const recordQuery = JSON.stringify({
      query: 'mutation { recordUsage(input: { metric: "minutes", amount: 1 }) { metric limit used remaining } }',
    });

    log('warming up...');
    await load('warm-up', app, limitsQuery, ours.token, 2, connections);
    await load('warm-up', baseline, JSON.stringify({ op: 'limits' }), base.token, 2, connections);

    const results = [
      await load('baseline myLimits', baseline, JSON.stringify({ op: 'limits' }), base.token, duration, connections),
      await load('tollgate myLimits', app, limitsQuery, ours.token, duration, connections),
      await load('baseline recordUsage', baseline, JSON.stringify({ op: 'record' }), base.token, duration, connections),
      await load('tollgate recordUsage', app, recordQuery, ours.token, duration, connections),
    ];

    // Then both counters are brought within FILL_ROOM of a limit and both servers hammer them past it: each
    // must stop exactly at the limit.
    const hotLimit = (await hotCounters(pool)).reduce((most, r) => Math.max(most, r.used), 0) + FILL_ROOM;
    await setHotLimit(pool, hotLimit);
    await pool.query(`update usage_counter set used = $1 where metric = 'minutes'`, [hotLimit - FILL_ROOM]);
    log(`filling both hot counters up to a limit of ${hotLimit}...`);
    await load('fill', app, recordQuery, ours.token, 4, connections);
    await load('fill', baseline, JSON.stringify({ op: 'record' }), base.token, 4, connections);
    const counters = await hotCounters(pool);
    const overshoot = counters.filter((r) => r.used > hotLimit);
    const short = counters.filter((r) => r.used < hotLimit);

    const [bl, tl, br, tr] = results;
    const row = (r: Result, ratioTo?: Result) =>
      `| ${r.name.padEnd(21)} | ${r.rps.toFixed(0).padStart(7)} | ${String(r.p50).padStart(5)} | ${String(r.p99).padStart(5)} | ${ratioTo ? `${((r.rps / ratioTo.rps) * 100).toFixed(0)}%`.padStart(6) : '     -'} | ${String(r.errors + r.non2xx).padStart(6)} | ${r.cpuPerRequest.toFixed(0).padStart(10)} |`;
    process.stdout.write(
      [
        '',
        `duration ${duration}s per run, ${connections} connections, pool ${POOL}; recordUsage runs below the limit, then filled to ${hotLimit}`,
        '| run                   |   req/s | p50ms | p99ms |  ratio | errors | cpu µs/req |',
        '|-----------------------|---------|-------|-------|--------|--------|------------|',
        row(bl),
        row(tl, bl),
        row(br),
        row(tr, br),
        '',
        `myLimits: ${((tl.rps / bl.rps) * 100).toFixed(0)}% of baseline (goal >= 85%)`,
        `recordUsage: ${((tr.rps / br.rps) * 100).toFixed(0)}% of baseline (goal >= 100%)`,
        `hot counters after the fill: ${counters.map((r) => `${r.email.split('@')[0]}=${r.used}`).join(', ')}; overshoot: ${overshoot.length === 0 ? 'none' : overshoot.map((r) => r.email).join(', ')}; short of the limit: ${short.length === 0 ? 'none' : short.map((r) => r.email).join(', ')}`,
        '',
      ].join('\n'),
    );
    if (overshoot.length > 0 || short.length > 0) process.exitCode = 1;
  } finally {
    for (const stop of stops) await stop();
    await db.close();
  }
}

function setHotLimit(pool: Pool, allowance: number) {
  return pool.query(`update plan_limit set allowance = $1 where metric = 'minutes' and plan_id = (select id from plan where is_default)`, [
    allowance,
  ]);
}

async function hotCounters(pool: Pool): Promise<Array<{ email: string; used: number }>> {
  const { rows } = await pool.query<{ email: string; used: number }>(
    `select u.email, c.used from usage_counter c join app_user u on u.id = c.user_id where c.metric = 'minutes' and c.period = 'day'`,
  );
  return rows;
}

main().catch((err) => {
  process.stderr.write(`${err?.stack ?? err}\n`);
  process.exit(1);
});
