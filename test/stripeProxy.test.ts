import type { EntityManager } from '@mikro-orm/postgresql';
import { createUser } from '../src/auth/users';
import { createOrm, migrate, type Orm } from '../src/db/orm';
import { createLogger } from '../src/logger';
import { MY_LIMITS, SUBSCRIBE } from './support/billing';
import { runScript } from './support/cli';
import { createTestDatabase, sql } from './support/db';
import { freePort } from './support/net';
import { startServerProcess, type ServerProcess } from './support/process';
import { startTunnel, STRIPE_TEST_HOST, type Tunnel } from './support/tunnel';

/**
 * The server and the scripts as real processes, reaching a Stripe (the emulator, over TLS) that only a
 * CONNECT proxy can reach: a proxy that forwards, one that refuses the tunnel, one that is down, and a
 * key Stripe refuses. What clients see, what the log says, that nothing is half-written, and that the
 * proxy credentials never show anywhere.
 */
jest.setTimeout(180_000);

let tunnel: Tunnel;
let databaseUrl: string;
let orm: Orm;
/** Everything any process printed or any client received, checked for credentials at the end. */
const seen: string[] = [];

async function gql(port: number, query: string, variables?: Record<string, unknown>, token?: string) {
  const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  seen.push(text);
  return JSON.parse(text) as { data?: any; errors?: Array<{ message: string; extensions: Record<string, any> }> };
}

async function readyz(port: number) {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`);
  const text = await res.text();
  seen.push(text);
  return { status: res.status, body: JSON.parse(text) };
}

async function newUser() {
  const email = `proxy-${Math.random().toString(36).slice(2)}@example.com`;
  const { user, token } = await createUser(orm.em.fork() as EntityManager, { email });
  return { id: user.id, email, token };
}

async function premiumPricing(): Promise<string> {
  const [row] = await sql(databaseUrl, `select pp.id from plan_pricing pp join plan p on p.id = pp.plan_id where p.code = 'premium'`);
  return row.id;
}

/** Nothing of this user reached our database or Stripe. */
async function expectNothingWritten(user: { id: string; email: string }) {
  expect(await sql(databaseUrl, 'select id from subscription where user_id = $1', [user.id])).toEqual([]);
  expect(await sql(databaseUrl, 'select stripe_customer_id from app_user where id = $1', [user.id])).toEqual([
    { stripe_customer_id: null },
  ]);
  expect((await tunnel.stripe.customers.list({ email: user.email })).data).toEqual([]);
}

async function startServer(env: Record<string, string | undefined>): Promise<{ proc: ServerProcess; port: number }> {
  const port = await freePort();
  const proc = startServerProcess({ DATABASE_URL: databaseUrl, PORT: String(port), LOG_LEVEL: 'info', STRIPE_READY_CACHE_MS: '0', ...env });
  await proc.waitFor(/Tollgate is ready/);
  return { proc, port };
}

beforeAll(async () => {
  tunnel = await startTunnel();
  databaseUrl = await createTestDatabase('proxy');
  const logger = createLogger('silent');
  orm = await createOrm(databaseUrl, { logger });
  await migrate(orm, logger);
});
afterAll(async () => {
  await orm?.close();
  await tunnel?.close();
});

describe('through a proxy that forwards, then refuses', () => {
  let server: { proc: ServerProcess; port: number };
  afterAll(async () => {
    if (server) {
      seen.push(server.proc.output());
      expect(await server.proc.stop()).toBe(0);
    }
  });

  it('npm run seed syncs the catalog to Stripe through the proxy, with its credentials', async () => {
    tunnel.proxy.connects.length = 0;
    const seed = await runScript('seed', [], { DATABASE_URL: databaseUrl, ...tunnel.env() });
    seen.push(seed.stdout, seed.stderr);
    expect(seed.code).toBe(0);
    expect(seed.stdout).toMatch(/stripe: 3 products created, 2 prices created/);
    expect(tunnel.proxy.connects.length).toBeGreaterThan(0);
    expect(
      tunnel.proxy.connects.every(
        (c) => c.target === `${STRIPE_TEST_HOST}:443` && c.credentials === 'tollgate-user:pr0xy-s3cret' && c.status === 200,
      ),
    ).toBe(true);
    expect((await tunnel.stripe.prices.list({ lookup_keys: ['premium_monthly'] })).data).toHaveLength(1);
  });

  it('the server starts, says which route it takes, and subscribes through the tunnel', async () => {
    server = await startServer(tunnel.env());
    const masked = `http://****:****@127.0.0.1:${tunnel.proxy.port}`;
    expect(server.proc.output()).toContain(
      `Stripe                     ${STRIPE_TEST_HOST} (test mode), reached through the proxy ${masked} (HTTPS_PROXY)`,
    );

    const user = await newUser();
    const res = await gql(
      server.port,
      SUBSCRIBE,
      { input: { pricingId: await premiumPricing(), paymentMethod: 'pm_card_visa' } },
      user.token,
    );
    expect(res.errors).toBeUndefined();
    const sub = res.data.subscribe.subscription;
    expect(sub).toMatchObject({ status: 'ACTIVE', plan: { code: 'premium' } });
    expect((await tunnel.stripe.subscriptions.retrieve(sub.stripeSubscriptionId)).status).toBe('active');

    const ready = await readyz(server.port);
    expect(ready).toMatchObject({
      status: 200,
      body: {
        status: 'ready',
        checks: { database: 'ok', stripe: { status: 'ok', host: STRIPE_TEST_HOST, route: `through the proxy ${masked} (HTTPS_PROXY)` } },
      },
    });
  });

  it('a proxy that refuses the tunnel (403): the client learns which host, which proxy and the fix; nothing is half-written; the rest works', async () => {
    tunnel.proxy.mode = 'refuse';
    const user = await newUser();
    const res = await gql(
      server.port,
      SUBSCRIBE,
      { input: { pricingId: await premiumPricing(), paymentMethod: 'pm_card_visa' } },
      user.token,
    );
    const masked = `http://****:****@127.0.0.1:${tunnel.proxy.port}`;
    expect(res.errors?.[0]).toMatchObject({
      message:
        `The payment service at ${STRIPE_TEST_HOST} could not be reached: the proxy ${masked} refused to tunnel to ${STRIPE_TEST_HOST}:443 (HTTP 403); ` +
        `fix: add ${STRIPE_TEST_HOST} to NO_PROXY, or set STRIPE_PROXY=none, or allow the host in the proxy.`,
      extensions: {
        code: 'PAYMENT_SERVICE_UNAVAILABLE',
        reason: 'proxy_refused',
        stripeHost: STRIPE_TEST_HOST,
        proxy: masked,
        proxyStatus: 403,
      },
    });
    await expectNothingWritten(user);

    // Everything that needs no Stripe call still works.
    expect((await gql(server.port, MY_LIMITS, undefined, user.token)).data.myLimits).toMatchObject({ plan: { code: 'free' } });
    const used = await gql(
      server.port,
      `mutation { recordUsage(input: { metric: "minutes", amount: 5 }) { used } }`,
      undefined,
      user.token,
    );
    expect(used.data.recordUsage.used).toBe(5);
    expect((await gql(server.port, '{ plans { code } }')).data.plans).toHaveLength(3);

    const ready = await readyz(server.port);
    expect(ready).toMatchObject({
      status: 200,
      body: { status: 'degraded', checks: { database: 'ok', stripe: { status: 'unavailable', reason: 'proxy_refused' } } },
    });
    expect(ready.body.checks.stripe.message).toBe(res.errors?.[0].message);

    // The operator's log says the same, as a structured warning.
    await server.proc.waitFor(/"reason":"proxy_refused"/);
    const warning = server.proc
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l))
      .find((l) => l.reason === 'proxy_refused');
    expect(warning).toMatchObject({ level: 40, stripeHost: STRIPE_TEST_HOST, msg: res.errors?.[0].message });
  });

  it('a script through the refusing proxy fails with the same explanation, no stack', async () => {
    const seed = await runScript('seed', [], { DATABASE_URL: databaseUrl, ...tunnel.env() });
    seen.push(seed.stdout, seed.stderr);
    expect(seed.code).toBe(1);
    expect(seed.stderr).toContain(
      `error: The payment service at ${STRIPE_TEST_HOST} could not be reached: the proxy http://****:****@127.0.0.1:${tunnel.proxy.port} refused to tunnel`,
    );
    expect(seed.stderr).not.toMatch(/\n\s+at /);
    tunnel.proxy.mode = 'forward';
  });
});

describe('with the proxy down', () => {
  it('the server starts and serves what needs no Stripe; payments say the proxy cannot be reached; nothing is written', async () => {
    const closed = await freePort();
    const server = await startServer(tunnel.env({ HTTPS_PROXY: `http://tollgate-user:pr0xy-s3cret@127.0.0.1:${closed}` }));
    try {
      expect((await gql(server.port, '{ plans { code } }')).data.plans).toHaveLength(3);
      const user = await newUser();
      const res = await gql(
        server.port,
        SUBSCRIBE,
        { input: { pricingId: await premiumPricing(), paymentMethod: 'pm_card_visa' } },
        user.token,
      );
      expect(res.errors?.[0]).toMatchObject({
        message:
          `The payment service at ${STRIPE_TEST_HOST} could not be reached: the proxy http://****:****@127.0.0.1:${closed} refused the connection (ECONNREFUSED); ` +
          `fix: check that HTTPS_PROXY names a running proxy, or set STRIPE_PROXY=none to connect directly.`,
        extensions: { code: 'PAYMENT_SERVICE_UNAVAILABLE', reason: 'proxy_unreachable' },
      });
      await expectNothingWritten(user);
      expect(await readyz(server.port)).toMatchObject({
        status: 200,
        body: { status: 'degraded', checks: { stripe: { reason: 'proxy_unreachable' } } },
      });
    } finally {
      seen.push(server.proc.output());
      expect(await server.proc.stop()).toBe(0);
    }
  });
});

describe('a proxy that never answers the CONNECT', () => {
  it('the call times out after STRIPE_TIMEOUT_MS with the proxy named, and the connection to the proxy is closed', async () => {
    const server = await startServer(tunnel.env({ STRIPE_TIMEOUT_MS: '500' }));
    tunnel.proxy.mode = 'hang';
    try {
      const user = await newUser();
      const res = await gql(
        server.port,
        SUBSCRIBE,
        { input: { pricingId: await premiumPricing(), paymentMethod: 'pm_card_visa' } },
        user.token,
      );
      expect(res.errors?.[0]).toMatchObject({
        message:
          `The payment service at ${STRIPE_TEST_HOST} could not be reached: the proxy http://****:****@127.0.0.1:${tunnel.proxy.port} did not answer the CONNECT request within 500 ms; ` +
          'fix: check that HTTPS_PROXY names a working proxy, or raise STRIPE_TIMEOUT_MS.',
        extensions: { code: 'PAYMENT_SERVICE_UNAVAILABLE', reason: 'timeout' },
      });
      await expectNothingWritten(user);
      // Bounded wait: the half-open connection is closed by Tollgate, not left to the proxy.
      for (let i = 0; i < 100 && tunnel.proxy.openConnections() > 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(tunnel.proxy.openConnections()).toBe(0);
    } finally {
      tunnel.proxy.mode = 'forward';
      seen.push(server.proc.output());
      expect(await server.proc.stop()).toBe(0);
    }
  });
});

describe('a proxy that holds the CONNECT longer than /readyz waits', () => {
  it('/readyz answers within its own bound (5 s) with a timeout naming the proxy, though STRIPE_TIMEOUT_MS is longer', async () => {
    const server = await startServer(tunnel.env({ STRIPE_TIMEOUT_MS: '30000' }));
    tunnel.proxy.mode = 'hang';
    try {
      const started = Date.now();
      const ready = await readyz(server.port);
      const waited = Date.now() - started;
      expect(waited).toBeLessThan(10_000);
      expect(ready).toMatchObject({
        status: 200,
        body: {
          status: 'degraded',
          checks: {
            database: 'ok',
            stripe: {
              status: 'unavailable',
              reason: 'timeout',
              message:
                `The payment service at ${STRIPE_TEST_HOST} could not be reached: no answer from ${STRIPE_TEST_HOST}:443 within 5000 ms, through the proxy http://****:****@127.0.0.1:${tunnel.proxy.port}; ` +
                'fix: check that HTTPS_PROXY names a working proxy and the network path to api.stripe.test, or raise STRIPE_TIMEOUT_MS.',
            },
          },
        },
      });
    } finally {
      tunnel.proxy.mode = 'forward';
      seen.push(server.proc.output());
      expect(await server.proc.stop()).toBe(0);
    }
  });
});

describe('a key Stripe refuses', () => {
  it('clients get the generic unavailability; the log tells the operator, without the key', async () => {
    const key = 'sk_live_tollgateRefusedByStripe7781';
    const server = await startServer(tunnel.env({ STRIPE_SECRET_KEY: key, NODE_ENV: 'production' }));
    try {
      const user = await newUser();
      const res = await gql(
        server.port,
        SUBSCRIBE,
        { input: { pricingId: await premiumPricing(), paymentMethod: 'pm_card_visa' } },
        user.token,
      );
      expect(res.errors?.[0]).toEqual({
        message: 'The payment service is unavailable. Try again later.',
        locations: expect.any(Array),
        path: ['subscribe'],
        extensions: { code: 'PAYMENT_SERVICE_UNAVAILABLE', reason: 'configuration' },
      });
      await expectNothingWritten(user);
      const ready = await readyz(server.port);
      expect(ready.body.checks.stripe).toMatchObject({
        status: 'unavailable',
        reason: 'configuration',
        message: 'The payment service is unavailable. Try again later.',
      });

      const line = await server.proc.waitFor(/\{[^\n]*"reason":"invalid_api_key"[^\n]*\}/);
      expect(JSON.parse(line)).toMatchObject({ level: 50, stripeHost: STRIPE_TEST_HOST });
      expect(JSON.parse(line).msg).toMatch(
        /^Stripe at api\.stripe\.test answered through the proxy http:\/\/\*\*\*\*:\*\*\*\*@127\.0\.0\.1:\d+ \(HTTPS_PROXY\), but refused the API key \(HTTP 401: Invalid API Key provided: sk_live_\*+7781\); fix: set STRIPE_SECRET_KEY/,
      );
      expect(server.proc.output()).not.toContain(key);
      // With a key (not local mode) there is no demo user, and no token in the banner.
      expect(server.proc.output()).not.toMatch(/Demo user|Sandbox header|Bearer tg_/);
      expect(await sql(databaseUrl, `select email from app_user where email = 'demo@tollgate.local'`)).toEqual([]);
    } finally {
      seen.push(server.proc.output());
      expect(await server.proc.stop()).toBe(0);
    }
  });
});

it('the proxy credentials appeared in no response, log, banner or script output', () => {
  expect(seen.length).toBeGreaterThan(10);
  for (const text of seen) for (const secret of tunnel.secrets) expect(text).not.toContain(secret);
});
