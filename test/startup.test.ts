import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import Stripe from 'stripe';
import { SUBSCRIBE } from './support/billing';
import { ROOT, runScript } from './support/cli';
import { createTestDatabase, sql } from './support/db';
import { freePort, portOpen } from './support/net';
import { startNpmStart, startServerProcess, type ServerProcess } from './support/process';

/**
 * `npm start` from nothing: a real process, an embedded PostgreSQL created in an empty folder, no
 * environment but ports and the data folder.
 */
jest.setTimeout(180_000);

const PLANS = `{ plans { code pricingOptions { amount { amount currency } } limits { metric perDay } } }`;

async function gql(port: number, query: string, token?: string, variables?: Record<string, unknown>) {
  const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as any;
}

/** Stops the process and expects exit code 0; on failure the assertion shows what the process printed. */
async function expectCleanStop(proc: ServerProcess, signal: NodeJS.Signals = 'SIGTERM') {
  const code = await proc.stop(signal);
  expect({ code, output: code === 0 ? '' : proc.output() }).toEqual({ code: 0, output: '' });
}

/** When npm exited without passing its signal on, the server it started is still running: stop it. */
async function killOrphan(output: string, port: number) {
  if (!(await portOpen(port))) return;
  const pid = /"pid":(\d+)/.exec(output)?.[1];
  if (pid) process.kill(Number(pid), 'SIGTERM');
}

/** Polls `check` until it holds; fails naming `what` when it never does. */
async function eventually(what: string, check: () => Promise<boolean>) {
  for (let i = 0; i < 600; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`never saw ${what}`);
}

/**
 * Makes the initial migration of the database at `url` stop half-way, for as long as the test likes: an
 * open transaction holds the name "app_user", so the migration creates the plan tables and the webhook
 * inbox, then waits at `create table "app_user"` until release().
 */
async function holdMigrationAtAppUser(url: string) {
  const blocker = new pg.Client({ connectionString: url });
  await blocker.connect();
  await blocker.query('begin');
  await blocker.query('create table app_user (blocker int)');
  return {
    /** Resolves once `server` is waiting there. */
    async reached(server: ServerProcess) {
      await server.waitFor(/applying migrations/);
      await eventually(
        'the migration waiting at create table "app_user"',
        async () =>
          (
            await sql(
              url,
              `select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query like 'create table "app_user"%'`,
            )
          ).length === 1,
      );
    },
    async release() {
      await blocker.query('rollback');
      await blocker.end();
    },
  };
}

const demoToken = (output: string) => /Bearer (tg_[A-Za-z0-9_-]+)/.exec(output)![1];

async function queryPlans(port: number) {
  const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: PLANS }),
  });
  return ((await res.json()) as any).data.plans;
}

describe('server process', () => {
  let root: string;
  let dataDir: string;
  let env: Record<string, string>;
  let pgPort: number;
  /** The demo token the first start printed. */
  let firstToken: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'tollgate-start-'));
    await chmod(root, 0o755);
    dataDir = join(root, 'pg');
    pgPort = await freePort();
    env = {
      EMBEDDED_PG_DIR: dataDir,
      EMBEDDED_PG_PORT: String(pgPort),
      PORT: String(await freePort()),
      STRIPE_EMULATOR_PORT: String(await freePort()),
      STRIPE_EMULATOR_DATA: join(root, 'stripe-emulator.json'),
      LOG_LEVEL: 'info',
    };
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('`npm start` from nothing: embedded PostgreSQL, migrations, seed, GraphQL, banner with a demo token; SIGTERM to npm stops it all', async () => {
    // Through npm and its shell, as a person (or a container's init) runs it: the signal npm passes on
    // must reach the server itself, or the server and its PostgreSQL would outlive npm.
    const server = startNpmStart(env);
    try {
      await server.waitFor(/Tollgate is ready/);
      const out = server.output();
      expect(out).toContain(`http://localhost:${env.PORT}/graphql`);
      expect(out).toMatch(/Sandbox header\s+\{"Authorization": "Bearer tg_[A-Za-z0-9_-]+"\}/);
      expect(out).toMatch(/catalog seeded/);
      // no STRIPE_SECRET_KEY: the local Stripe emulator runs in-process, on 127.0.0.1 only
      expect(out).toContain(
        `Stripe                     local Stripe emulator at http://127.0.0.1:${env.STRIPE_EMULATOR_PORT} (any sk_test_ key works)`,
      );
      expect(await portOpen(Number(env.STRIPE_EMULATOR_PORT))).toBe(true);
      expect(await portOpen(Number(env.STRIPE_EMULATOR_PORT), '127.0.0.2')).toBe(false);

      const plans = await queryPlans(Number(env.PORT));
      expect(plans.map((p: any) => [p.code, p.pricingOptions[0].amount.amount])).toEqual([
        ['free', '0.00'],
        ['day_pass', '5.00'],
        ['premium', '200.00'],
      ]);
      expect(plans[0].limits).toEqual(
        expect.arrayContaining([
          { metric: 'minutes', perDay: 180 },
          { metric: 'megabytes', perDay: 300 },
        ]),
      );

      const token = /Bearer (tg_[A-Za-z0-9_-]+)/.exec(out)![1];
      firstToken = token;
      const me = await fetch(`http://127.0.0.1:${env.PORT}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: '{ me { email } }' }),
      });
      expect(((await me.json()) as any).data.me.email).toBe('demo@tollgate.local');

      // Billing state for the next test to find after a restart.
      const premium = (await gql(Number(env.PORT), '{ plan(code: "premium") { pricingOptions { id } } }')).data.plan.pricingOptions[0].id;
      const subscribed = await gql(Number(env.PORT), SUBSCRIBE, token, { input: { pricingId: premium, paymentMethod: 'pm_card_visa' } });
      expect(subscribed.data.subscribe.subscription.status).toBe('ACTIVE');
      // The demo token is shown once, in the banner, and never logged.
      expect(server.output().split(token).length - 1).toBe(1);
    } finally {
      try {
        await expectCleanStop(server, 'SIGTERM');
      } finally {
        await killOrphan(server.output(), Number(env.PORT));
      }
    }
    expect(server.output()).toMatch(/shutdown complete/);
    // Clean shutdown: PostgreSQL is stopped and left no pid file behind.
    expect(await portOpen(pgPort)).toBe(false);
    expect(existsSync(join(dataDir, 'postmaster.pid'))).toBe(false);
    expect(await portOpen(Number(env.PORT))).toBe(false);
  });

  it('reuses the data on a second start and seeds nothing twice; SIGINT stops it cleanly', async () => {
    const server = startServerProcess(env);
    try {
      await server.waitFor(/Tollgate is ready/);
      expect(server.output()).not.toMatch(/catalog seeded/);
      expect(await queryPlans(Number(env.PORT))).toHaveLength(3);

      // The demo token is the one printed before the restart (saved headers keep working), kept in a file
      // only its owner may read.
      const token = demoToken(server.output());
      expect(token).toBe(firstToken);
      expect(readFileSync(join(root, 'demo-token'), 'utf8').trim()).toBe(token);
      expect(statSync(join(root, 'demo-token')).mode & 0o777).toBe(0o600);

      // Another start while this one runs fails on the port before it touches anything: the token stays.
      const second = startServerProcess(env);
      expect(await second.exited).not.toBe(0);
      expect(second.output()).toContain(`Port ${env.PORT} is already in use (is Tollgate already running?)`);
      expect(second.output()).not.toMatch(/Bearer|migrations|demo/i);
      expect((await gql(Number(env.PORT), '{ me { email } }', token)).data.me.email).toBe('demo@tollgate.local');

      // The local Stripe emulator kept its state too: the subscription bought before the restart is
      // still there to cancel, the catalog was not made twice, and one webhook endpoint replaced the old one.
      const [sub] = (await gql(Number(env.PORT), '{ mySubscriptions { id status stripeSubscriptionId } }', token)).data.mySubscriptions;
      expect(sub.status).toBe('ACTIVE');
      const canceled = await gql(Number(env.PORT), 'mutation($id: ID!) { cancelSubscription(id: $id) { cancelAtPeriodEnd } }', token, {
        id: sub.id,
      });
      expect(canceled).toEqual({ data: { cancelSubscription: { cancelAtPeriodEnd: true } } });
      const stripe = new Stripe('sk_test_startup', {
        host: '127.0.0.1',
        port: Number(env.STRIPE_EMULATOR_PORT),
        protocol: 'http',
        maxNetworkRetries: 0,
      });
      expect((await stripe.products.list({ limit: 100 })).data).toHaveLength(3);
      // Its Prices too: one per paid option, found by lookup_key, the same the subscription was bought at.
      const prices = (await stripe.prices.list({ limit: 100 })).data;
      expect(prices.map((p) => [p.lookup_key, p.active]).sort()).toEqual([
        ['day_pass_daily', true],
        ['premium_monthly', true],
      ]);
      const bought = await stripe.subscriptions.retrieve(sub.stripeSubscriptionId);
      expect(bought.items.data[0].price.id).toBe(prices.find((p) => p.lookup_key === 'premium_monthly')!.id);
      expect((await stripe.webhookEndpoints.list()).data.map((e) => e.url)).toEqual([`http://localhost:${env.PORT}/webhooks/stripe`]);

      // A script run while the server is up uses the server's embedded PostgreSQL and leaves it running.
      const created = await runScript('userCreate', ['--email', 'while-running@example.com'], env);
      expect(created).toMatchObject({ code: 0 });
      const me = await fetch(`http://127.0.0.1:${env.PORT}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${created.stdout.trim()}` },
        body: JSON.stringify({ query: '{ me { email } }' }),
      });
      expect(((await me.json()) as any).data.me.email).toBe('while-running@example.com');
      expect(await portOpen(pgPort)).toBe(true);
    } finally {
      await expectCleanStop(server, 'SIGINT');
    }
    expect(await portOpen(pgPort)).toBe(false);

    // With the server stopped, a script starts the embedded PostgreSQL for its own duration.
    const seeded = await runScript('seed', [], { ...env, STRIPE_EMULATOR_PORT: String(await freePort()) });
    expect(seeded.code).toBe(0);
    expect(seeded.stdout).toMatch(/catalog: 0 created \(-\), 0 updated \(-\), 3 unchanged/);
    expect(await portOpen(pgPort)).toBe(false);
    expect(existsSync(join(dataDir, 'postmaster.pid'))).toBe(false);
  });

  it('starts after being killed in the middle of its first start, and stops the PostgreSQL the killed one left running', async () => {
    const dir = join(root, 'killed');
    const port = await freePort();
    const killedEnv = { ...env, EMBEDDED_PG_DIR: dir, EMBEDDED_PG_PORT: String(port) };
    const first = startServerProcess(killedEnv);
    await first.waitFor(/applying migrations/);
    first.child.kill('SIGKILL');
    await first.exited;

    // The killed process could not stop its PostgreSQL: it is still running.
    const pidFile = join(dir, 'postmaster.pid');
    expect(await portOpen(port)).toBe(true);
    const second = startServerProcess(killedEnv);
    try {
      await second.waitFor(/Tollgate is ready/);
      expect(second.output()).toMatch(/taking over the embedded PostgreSQL left running by a process that was killed/);
      expect(await queryPlans(Number(env.PORT))).toHaveLength(3);

      // A script run meanwhile uses it and leaves it to the server.
      const created = await runScript('userCreate', ['--email', 'after-kill@example.com'], killedEnv);
      expect(created.code).toBe(0);
      expect(created.stderr).not.toMatch(/taking over/);
      expect(await portOpen(port)).toBe(true);
    } finally {
      try {
        await expectCleanStop(second);
      } finally {
        if (existsSync(pidFile)) process.kill(Number(readFileSync(pidFile, 'utf8').split('\n')[0]), 'SIGINT');
      }
    }
    // The second server stopped it as if it had started it.
    expect(await portOpen(port)).toBe(false);
    expect(existsSync(pidFile)).toBe(false);
  });

  it('starts after being killed in the middle of a migration: nothing of it was kept, and it runs again', async () => {
    const url = await createTestDatabase('halfmigrated');
    const dbEnv = { ...env, DATABASE_URL: url };
    const hold = await holdMigrationAtAppUser(url);
    const first = startServerProcess(dbEnv);
    try {
      await hold.reached(first);
      first.child.kill('SIGKILL');
      expect(await first.exited).toBeNull();
    } finally {
      await hold.release();
    }
    // The migration ran in a transaction: none of the tables it had made, and no record of it.
    expect(await sql(url, `select to_regclass('plan')::text as plan, to_regclass('stripe_event')::text as inbox`)).toEqual([
      { plan: null, inbox: null },
    ]);
    const [{ table }] = await sql(url, `select to_regclass('mikro_orm_migrations')::text as table`);
    if (table) expect(await sql(url, 'select name from mikro_orm_migrations')).toEqual([]);

    const second = startServerProcess(dbEnv);
    try {
      await second.waitFor(/Tollgate is ready/);
      expect(await queryPlans(Number(env.PORT))).toHaveLength(3);
      const files = readdirSync(join(ROOT, 'src', 'db', 'migrations')).filter((f) => f.endsWith('.ts'));
      expect(await sql(url, 'select count(*)::int as n from mikro_orm_migrations')).toEqual([{ n: files.length }]);
    } finally {
      await expectCleanStop(second);
    }
  });

  it('stops cleanly on a signal in the middle of its start: the step in progress ends, nothing fails', async () => {
    const url = await createTestDatabase('signalled');
    const hold = await holdMigrationAtAppUser(url);
    const server = startServerProcess({ ...env, DATABASE_URL: url });
    try {
      await hold.reached(server);
      server.child.kill('SIGTERM');
      await server.waitFor(/shutting down/);
    } finally {
      await hold.release();
    }
    expect({
      code: await server.exited,
      errors: server
        .output()
        .split('\n')
        .filter((l) => /"level":(50|60)/.test(l)),
    }).toEqual({ code: 0, errors: [] });
    expect(server.output()).not.toMatch(/Tollgate is ready/);
    // The migrations it had begun were applied whole before it stopped.
    const files = readdirSync(join(ROOT, 'src', 'db', 'migrations')).filter((f) => f.endsWith('.ts'));
    expect(await sql(url, 'select count(*)::int as n from mikro_orm_migrations')).toEqual([{ n: files.length }]);
  });

  it.each([
    ['of a process that is gone', 999999],
    // after a reboot or a container restart the number often belongs to another process
    ['whose number now belongs to a live process that is not PostgreSQL', process.pid],
  ])('starts after a crash left a stale postmaster.pid behind, with the pid %s', async (_what, pid) => {
    writeFileSync(join(dataDir, 'postmaster.pid'), `${pid}\n${dataDir}\n`);
    const server = startServerProcess(env);
    try {
      await server.waitFor(/Tollgate is ready/);
      expect(server.output()).toMatch(/stale postmaster.pid/);
      expect(await queryPlans(Number(env.PORT))).toHaveLength(3);
    } finally {
      await expectCleanStop(server);
    }
  });

  it('starts after an initialisation was interrupted (a data folder without PG_VERSION)', async () => {
    const dir = join(root, 'half');
    mkdirSync(dir);
    writeFileSync(join(dir, 'garbage'), 'x');
    const server = startServerProcess({ ...env, EMBEDDED_PG_DIR: dir, EMBEDDED_PG_PORT: String(await freePort()) });
    try {
      await server.waitFor(/Tollgate is ready/);
      expect(server.output()).toMatch(/unfinished PostgreSQL data folder/);
    } finally {
      await expectCleanStop(server);
    }
  });

  it.each([
    ['PORT', 'abc', /PORT: expected a port number/],
    ['DATABASE_URL', 'not a url', /DATABASE_URL: expected a PostgreSQL URL/],
    ['LOG_LEVEL', 'chatty', /LOG_LEVEL/],
  ])('refuses to start with %s=%s and says what is expected', async (name, value, message) => {
    const server = startServerProcess({ ...env, [name]: value });
    expect(await server.exited).toBe(1);
    expect(server.output()).toMatch(message);
    expect(server.output()).not.toMatch(/Tollgate is ready/);
  });

  it('says clearly when the database it was given cannot be reached, and exits non-zero', async () => {
    const server = startServerProcess({ ...env, DATABASE_URL: `postgres://nobody:secretpw@127.0.0.1:${await freePort()}/nothing` });
    expect(await server.exited).toBe(1);
    expect(server.output()).toMatch(/startup failed/);
    expect(server.output()).not.toContain('secretpw');
  });
});
