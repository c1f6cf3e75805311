/**
 * What the load benchmarks share: a throw-away database (embedded PostgreSQL unless DATABASE_URL is set),
 * migrated and seeded, and the servers of bench/limitsServer.ts, each in a process of its own, with what the
 * operating system says of that process (CPU time, resident memory).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { EntityManager } from '@mikro-orm/postgresql';
import pg from 'pg';
import { catalogDefinition, seedCatalog } from '../src/billing/catalog';
import { loadConfig } from '../src/config';
import { openDatabase } from '../src/db/embedded';
import { createOrm, migrate, type Orm } from '../src/db/orm';
import { createLogger, type Logger } from '../src/logger';

export function log(message: string) {
  process.stderr.write(`${message}\n`);
}

export async function freePort(): Promise<number> {
  const srv = http.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export interface BenchDatabase {
  url: string;
  orm: Orm;
  /** A pg pool of `pool` connections, for setting up and checking. */
  pool: pg.Pool;
  em(): EntityManager;
  logger: Logger;
  /** Closes the ORM, stops the embedded PostgreSQL and removes its folder. */
  close(): Promise<void>;
}

/** A database for one benchmark run, migrated and seeded with the catalog. */
export async function openBenchDatabase(pool: number): Promise<BenchDatabase> {
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
  const orm = await createOrm(db.url, { logger, poolMax: pool });
  const pgPool = new pg.Pool({ connectionString: db.url, max: pool });
  // An idle connection PostgreSQL closes (at its stop) must not crash the benchmark.
  pgPool.on('error', (err) => log(`database pool: ${err.message}`));
  log('migrating and seeding...');
  await migrate(orm, logger);
  await seedCatalog(orm.em.fork() as EntityManager, catalogDefinition());
  return {
    url: db.url,
    orm,
    pool: pgPool,
    em: () => orm.em.fork() as EntityManager,
    logger,
    async close() {
      await pgPool.end();
      await orm.close();
      await db.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The flags `npm start` (and the Dockerfile, which a test keeps alike) gives node, such as the heap cap:
 * the benchmarks run the server as it is shipped.
 */
export function startFlags(): string[] {
  const pkg = JSON.parse(readFileSync(resolve(__dirname, '../../package.json'), 'utf8')) as { scripts: { start: string } };
  const words = pkg.scripts.start.split(/\s+/);
  return words.slice(words.indexOf('node') + 1, -1);
}

export interface ServerProcess {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Starts one server (bench/limitsServer.ts: the real app, or the bare node:http + pg baseline) in a process
 * of its own, with the flags of `npm start`, and waits until it listens. `nodeFlags` are more flags for that
 * process's node (e.g. --cpu-prof).
 */
export function startServer(
  kind: 'app' | 'baseline',
  databaseUrl: string,
  pool: number,
  path: string,
  { nodeFlags = [], env = {}, onLine }: { nodeFlags?: string[]; env?: Record<string, string>; onLine?: (line: string) => void } = {},
): Promise<ServerProcess> {
  const flags = [...startFlags(), ...nodeFlags];
  const child = spawn(process.execPath, [...flags, join(__dirname, 'limitsServer.js'), kind, databaseUrl, String(pool)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const line of lines) {
        const m = /^listening (\d+)$/.exec(line);
        if (m)
          resolve({
            url: `http://127.0.0.1:${m[1]}${path}`,
            pid: child.pid!,
            stop: async () => void (child.kill('SIGTERM'), await exited),
          });
        else onLine?.(line);
      }
    });
    void exited.then((code) => reject(new Error(`the ${kind} server exited with code ${code} before listening`)));
  });
}

/** A process's CPU time so far (user + system), in milliseconds: /proc/<pid>/stat counts in USER_HZ (100 a second on Linux). */
export async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** A process's resident memory now (VmRSS), in MB. */
export async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1]);
  return kb / 1024;
}

/** The CPU time (as cpuMs) of each of these processes that still runs. */
export async function cpuOfAll(pids: number[]): Promise<Map<number, number>> {
  const used = new Map<number, number>();
  for (const pid of pids) {
    const ms = await cpuMs(pid).catch(() => null);
    if (ms !== null) used.set(pid, ms);
  }
  return used;
}

/** The CPU time used between two readings of cpuOfAll, a process started in between counting from zero. */
export function cpuSince(before: Map<number, number>, after: Map<number, number>): number {
  let ms = 0;
  for (const [pid, now] of after) ms += now - (before.get(pid) ?? 0);
  return ms;
}

/** The processes of the PostgreSQL server behind `pool`, when it runs on this machine: its postmaster's children. */
export async function postgresPids(pool: pg.Pool): Promise<number[]> {
  const { rows } = await pool.query<{ pid: number }>('select pg_backend_pid() as pid');
  const backend = await readFile(`/proc/${rows[0].pid}/stat`, 'utf8').catch(() => null);
  if (!backend) return [];
  const postmaster = Number(backend.slice(backend.lastIndexOf(')') + 2).split(' ')[1]);
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    if (stat && Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === postmaster) pids.push(Number(entry));
  }
  return pids;
}

/**
 * The child side of startServer: listens on a free loopback port, says "listening <port>" (what startServer
 * waits for), and on SIGTERM runs `stop` and exits 0 (1 with the error when it fails).
 */
export async function serveUntilSigterm(server: http.Server, stop: () => Promise<void>): Promise<void> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
  process.once('SIGTERM', () => {
    stop().then(() => process.exit(0), exitWith);
  });
}

/** Ends a benchmark process that failed: the error on stderr, exit code 1. */
export function exitWith(err: unknown): never {
  process.stderr.write(`${(err as Error)?.stack ?? err}\n`);
  process.exit(1);
}
