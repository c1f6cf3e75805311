/** What the load benchmarks share: a throw-away database, and a server of bench/limitsServer.ts in a process of its own. */
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EntityManager } from '@mikro-orm/postgresql';
import pg from 'pg';
import { catalogDefinition, seedCatalog } from '../src/billing/catalog';
import { loadConfig } from '../src/config';
import { openDatabase } from '../src/db/embedded';
import { createOrm, migrate, type Orm } from '../src/db/orm';
import { createLogger } from '../src/logger';
import { freePort } from '../test/support/net';

export function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

export interface BenchDatabase {
  url: string;
  orm: Orm;
  /** A pg pool of `poolSize` connections, for setting up and checking. */
  pool: pg.Pool;
  em(): EntityManager;
  close(): Promise<void>;
}

/** DATABASE_URL when set, else a throw-away embedded PostgreSQL; migrated, with the catalog seeded. */
export async function openBenchDatabase(poolSize: number): Promise<BenchDatabase> {
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
  const orm = await createOrm(db.url, { logger, poolMax: poolSize });
  const pool = new pg.Pool({ connectionString: db.url, max: poolSize });
  log('migrating and seeding...');
  await migrate(orm, logger);
  await seedCatalog(orm.em.fork() as EntityManager, catalogDefinition());
  return {
    url: db.url,
    orm,
    pool,
    em: () => orm.em.fork() as EntityManager,
    close: async () => {
      await pool.end();
      await orm.close();
      await db.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface ServerProcess {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** Starts one server (bench/limitsServer.ts) in a process of its own and waits until it listens. */
export function startServer(kind: 'app' | 'baseline', databaseUrl: string, path: string, poolSize: number): Promise<ServerProcess> {
  const child = spawn(process.execPath, [join(__dirname, 'limitsServer.js'), kind, databaseUrl, String(poolSize)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening (\d+)/.exec(out);
      if (m)
        resolve({ url: `http://127.0.0.1:${m[1]}${path}`, pid: child.pid!, stop: async () => void (child.kill('SIGTERM'), await exited) });
    });
    void exited.then((code) => reject(new Error(`the ${kind} server exited with code ${code} before listening`)));
  });
}

/** CPU time (user + system) each process has used so far, in milliseconds, from /proc (Linux). */
export async function cpuMs(pids: number[]): Promise<Map<number, number>> {
  const used = new Map<number, number>();
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
    if (!stat) continue;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    used.set(pid, (Number(fields[11]) + Number(fields[12])) * 10); // USER_HZ is 100 on Linux
  }
  return used;
}

/** The CPU time used between two readings, a process started in between counting from zero. */
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
