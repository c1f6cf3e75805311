/**
 * Load benchmark for the two hottest calls: `myLimits` and `recordUsage` on one hot counter, over
 * GraphQL through the real app, against a bare node:http + pg server running the same SQL (the same
 * statement text from src/billing/limits.ts, and the same token lookup) in the same run. Each server runs
 * in a process of its own (bench/limitsServer.ts); the load comes from this one.
 *
 *   npm run bench:limits -- [--duration 10] [--connections 32]
 *
 * Prints requests/s, p50 and p99 latency and the ratio to the baseline, and checks that the hot
 * counter never went over its limit. Uses DATABASE_URL when set, else a throw-away embedded PostgreSQL.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EntityManager } from '@mikro-orm/postgresql';
import autocannon from 'autocannon';
import { Command } from 'commander';
import pg from 'pg';
import { catalogDefinition, seedCatalog } from '../src/billing/catalog';
import { createUser } from '../src/auth/users';
import { loadConfig } from '../src/config';
import { openDatabase } from '../src/db/embedded';
import { createOrm, migrate } from '../src/db/orm';
import { createLogger } from '../src/logger';

const HOT_LIMIT = 8_000;
const POOL = 20;

interface Result {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

function log(message: string) {
  process.stderr.write(`${message}\n`);
}

async function freePort(): Promise<number> {
  const srv = http.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function load(name: string, url: string, body: string, token: string, duration: number, connections: number): Promise<Result> {
  log(`  running ${name} for ${duration}s with ${connections} connections...`);
  const ticker = setInterval(() => process.stderr.write('.'), 1000);
  const r = await autocannon({
    url,
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    duration,
    connections,
  });
  clearInterval(ticker);
  process.stderr.write('\n');
  return { name, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx };
}

interface ServerProcess {
  url: string;
  stop(): Promise<void>;
}

/** Starts one server (bench/limitsServer.ts) in a process of its own and waits until it listens. */
function startServer(kind: 'app' | 'baseline', databaseUrl: string, path: string): Promise<ServerProcess> {
  const child = spawn(process.execPath, [join(__dirname, 'limitsServer.js'), kind, databaseUrl, String(POOL)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) resolve({ url: `http://127.0.0.1:${m[1]}${path}`, stop: async () => void (child.kill('SIGTERM'), await exited) });
    });
    void exited.then((code) => reject(new Error(`the ${kind} server exited with code ${code} before listening`)));
  });
}

async function main() {
  const opts = new Command('bench:limits')
    .option('--duration <s>', 'seconds per run', '10')
    .option('--connections <n>', 'concurrent connections', '32')
    .parse()
    .opts<{ duration: string; connections: string }>();
  const duration = Number(opts.duration);
  const connections = Number(opts.connections);
  const logger = createLogger('warn', { destination: 2 });

  const dir = await mkdtemp(join(tmpdir(), 'tollgate-bench-'));
  await chmod(dir, 0o755);
  const config = loadConfig(
    {
      ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
      EMBEDDED_PG_DIR: join(dir, 'pg'),
      EMBEDDED_PG_PORT: String(await freePort()),
      LOG_LEVEL: 'silent',
      PORT: '0',
    },
    dir,
  );
  log('starting PostgreSQL...');
  const db = await openDatabase(config, logger);
  const orm = await createOrm(db.url, { logger, poolMax: POOL });
  const pool = new pg.Pool({ connectionString: db.url, max: POOL });
  const stops: Array<() => Promise<void>> = [];
  try {
    log('migrating and seeding...');
    await migrate(orm, logger);
    await seedCatalog(orm.em.fork() as EntityManager, catalogDefinition());
    // One hot counter per server, with a limit the recordUsage runs reach, to prove zero overshoot.
    await pool.query(`update plan_limit set allowance = $1 where metric = 'minutes' and plan_id = (select id from plan where is_default)`, [
      HOT_LIMIT,
    ]);
    const ours = await createUser(orm.em.fork() as EntityManager, { email: 'bench-app@example.com' });
    const base = await createUser(orm.em.fork() as EntityManager, { email: 'bench-baseline@example.com' });

    log('starting the two servers, each in a process of its own...');
    const app = await startServer('app', db.url, '/graphql');
    stops.push(() => app.stop());
    const baseline = await startServer('baseline', db.url, '/');
    stops.push(() => baseline.stop());
    const appUrl = app.url;
    const baseUrl = baseline.url;

    const limitsQuery = JSON.stringify({
      query: '{ myLimits { plan { code } day resetsAt metrics { metric period limit used remaining resetsAt } } }',
    });
    const recordQuery = JSON.stringify({
      query: 'mutation { recordUsage(input: { metric: "minutes", amount: 1 }) { metric limit used remaining } }',
    });

    log('warming up...');
    await load('warm-up', appUrl, limitsQuery, ours.token, 2, connections);
    await load('warm-up', baseUrl, JSON.stringify({ op: 'limits' }), base.token, 2, connections);

    const results = [
      await load('baseline myLimits', baseUrl, JSON.stringify({ op: 'limits' }), base.token, duration, connections),
      await load('tollgate myLimits', appUrl, limitsQuery, ours.token, duration, connections),
      await load('baseline recordUsage', baseUrl, JSON.stringify({ op: 'record' }), base.token, duration, connections),
      await load('tollgate recordUsage', appUrl, recordQuery, ours.token, duration, connections),
    ];

    const counters = await pool.query<{ email: string; used: number }>(
      `select u.email, c.used from usage_counter c join app_user u on u.id = c.user_id where c.metric = 'minutes' and c.period = 'day'`,
    );
    const overshoot = counters.rows.filter((r) => r.used > HOT_LIMIT);

    const [bl, tl, br, tr] = results;
    const row = (r: Result, ratioTo?: Result) =>
      `| ${r.name.padEnd(21)} | ${r.rps.toFixed(0).padStart(7)} | ${String(r.p50).padStart(5)} | ${String(r.p99).padStart(5)} | ${ratioTo ? `${((r.rps / ratioTo.rps) * 100).toFixed(0)}%`.padStart(6) : '     -'} | ${String(r.errors + r.non2xx).padStart(6)} |`;
    process.stdout.write(
      [
        '',
        `duration ${duration}s per run, ${connections} connections, pool ${POOL}, hot counter limit ${HOT_LIMIT}`,
        '| run                   |   req/s | p50ms | p99ms |  ratio | errors |',
        '|-----------------------|---------|-------|-------|--------|--------|',
        row(bl),
        row(tl, bl),
        row(br),
        row(tr, br),
        '',
        `myLimits: ${((tl.rps / bl.rps) * 100).toFixed(0)}% of baseline (goal >= 50%)`,
        `recordUsage: ${((tr.rps / br.rps) * 100).toFixed(0)}% of baseline (goal >= 60%)`,
        `hot counters: ${counters.rows.map((r) => `${r.email.split('@')[0]}=${r.used}`).join(', ')}; overshoot: ${overshoot.length === 0 ? 'none' : overshoot.map((r) => r.email).join(', ')}`,
        '',
      ].join('\n'),
    );
    if (overshoot.length > 0) process.exitCode = 1;
  } finally {
    for (const stop of stops) await stop();
    await pool.end();
    await orm.close();
    await db.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${err?.stack ?? err}\n`);
  process.exit(1);
});
