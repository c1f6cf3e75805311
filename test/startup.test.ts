import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Stripe from 'stripe';
import { SUBSCRIBE } from './support/billing';
import { runScript } from './support/cli';
import { freePort, portOpen } from './support/net';
import { startServerProcess, type ServerProcess } from './support/process';

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

  it('starts from nothing: embedded PostgreSQL, migrations, seed, GraphQL, banner with a demo token', async () => {
    const server = startServerProcess(env);
    try {
      await server.waitFor(/Tollgate is ready/);
      const out = server.output();
      expect(out).toContain(`http://localhost:${env.PORT}/graphql`);
      expect(out).toMatch(/Sandbox header\s+\{"Authorization": "Bearer tg_[A-Za-z0-9_-]+"\}/);
      expect(out).toMatch(/catalog seeded/);

      const plans = await queryPlans(Number(env.PORT));
      expect(plans.map((p: any) => [p.code, p.pricingOptions[0].amount.amount])).toEqual([
        ['free', '0.00'],
        ['day_pass', '5.00'],
        ['premium', '200.00'],
      ]);
      expect(plans[0].limits).toEqual(expect.arrayContaining([{ metric: 'minutes', perDay: 180 }, { metric: 'megabytes', perDay: 300 }]));

      const token = /Bearer (tg_[A-Za-z0-9_-]+)/.exec(out)![1];
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
    } finally {
      await expectCleanStop(server, 'SIGTERM');
    }
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

      // The local Stripe emulator kept its state too: the subscription bought before the restart is
      // still there to cancel, the catalog was not made twice, and one webhook endpoint replaced the old one.
      const token = demoToken(server.output());
      const [sub] = (await gql(Number(env.PORT), '{ mySubscriptions { id status stripeSubscriptionId } }', token)).data.mySubscriptions;
      expect(sub.status).toBe('ACTIVE');
      const canceled = await gql(Number(env.PORT), 'mutation($id: ID!) { cancelSubscription(id: $id) { cancelAtPeriodEnd } }', token, { id: sub.id });
      expect(canceled).toEqual({ data: { cancelSubscription: { cancelAtPeriodEnd: true } } });
      const stripe = new Stripe('sk_test_startup', { host: '127.0.0.1', port: Number(env.STRIPE_EMULATOR_PORT), protocol: 'http', maxNetworkRetries: 0 });
      expect((await stripe.products.list({ limit: 100 })).data).toHaveLength(3);
      // Its Prices too: one per paid option, found by lookup_key, the same the subscription was bought at.
      const prices = (await stripe.prices.list({ limit: 100 })).data;
      expect(prices.map((p) => [p.lookup_key, p.active]).sort()).toEqual([['day_pass_daily', true], ['premium_monthly', true]]);
      const bought = await stripe.subscriptions.retrieve(sub.stripeSubscriptionId);
      expect(bought.items.data[0].price.id).toBe(prices.find((p) => p.lookup_key === 'premium_monthly')!.id);
      expect((await stripe.webhookEndpoints.list()).data.map((e) => e.url)).toEqual([`http://localhost:${env.PORT}/webhooks/stripe`]);

      // A script run while the server is up uses the server's embedded PostgreSQL and leaves it running.
      const created = await runScript('user-create', ['--email', 'while-running@example.com'], env);
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

  it('starts after being killed in the middle of its first start (migrations, seed)', async () => {
    const dir = join(root, 'killed');
    const port = await freePort();
    const killedEnv = { ...env, EMBEDDED_PG_DIR: dir, EMBEDDED_PG_PORT: String(port) };
    const first = startServerProcess(killedEnv);
    await first.waitFor(/applying migrations/);
    first.child.kill('SIGKILL');
    await first.exited;

    const second = startServerProcess(killedEnv);
    try {
      await second.waitFor(/Tollgate is ready/);
      expect(await queryPlans(Number(env.PORT))).toHaveLength(3);
    } finally {
      await expectCleanStop(second);
      // The killed process could not stop its PostgreSQL; the second start reused it, so stop it here.
      const pidFile = join(dir, 'postmaster.pid');
      if (existsSync(pidFile)) process.kill(Number(readFileSync(pidFile, 'utf8').split('\n')[0]), 'SIGINT');
    }
  });

  it('starts after a crash left a stale postmaster.pid behind', async () => {
    writeFileSync(join(dataDir, 'postmaster.pid'), `999999\n${dataDir}\n`);
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
