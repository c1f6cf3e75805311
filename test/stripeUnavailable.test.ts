import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureCustomer } from '../src/billing/customers';
import { DomainError } from '../src/errors';
import { loadConfig } from '../src/config';
import { startEmulator, type EmulatorHandle } from '../src/emulator';
import { createLogger } from '../src/logger';
import { openStripeApi } from '../src/stripe/api';
import { callStripe, GENERIC_UNAVAILABLE } from '../src/stripe/errors';
import { probeStripe } from '../src/stripe/health';
import { MY_LIMITS, pricingId, SUBSCRIBE } from './support/billing';
import { sql } from './support/db';
import { captureLogs } from './support/logs';
import { startTestServer, type TestServer } from './support/server';
import { startStripeFront, type StripeFront } from './support/stripeFront';
import { makeCertificate, type TestCertificate } from './support/tls';
import { deliver, fakeEvent, signedHeader } from './support/webhooks';
import Stripe from 'stripe';

/**
 * Stripe unreachable or failing, directly (no proxy: see stripeProxy.test.ts for tunnels): what clients
 * get, what operators read in the log, that nothing is half-written, that everything needing no Stripe
 * call keeps working, and what /readyz says.
 */
jest.setTimeout(60_000);

const empty = mkdtempSync(join(tmpdir(), 'tollgate-unavailable-'));

async function readyz(server: TestServer) {
  const res = await fetch(`${server.url}/readyz`);
  return { status: res.status, body: (await res.json()) as any };
}

describe('the emulator stops answering', () => {
  let server: TestServer;
  const logs = captureLogs();
  beforeAll(async () => {
    server = await startTestServer({ stripe: true, logStream: logs.stream, env: { STRIPE_READY_CACHE_MS: '0' } });
  });
  afterAll(() => server.close());

  it('subscribe is PAYMENT_SERVICE_UNAVAILABLE naming the host, the route and the fix; nothing is written; the rest keeps working', async () => {
    const premium = await pricingId(server, 'premium');
    const user = await server.createUser();
    // One who already has a Stripe customer and an open Checkout: their subscribe asks Stripe first of all.
    const known = await server.createUser();
    const opened = await server.gql(SUBSCRIBE, { input: { pricingId: premium } }, known.token);
    expect(opened.errors).toBeUndefined();
    expect((await readyz(server)).body).toMatchObject({ status: 'ready', checks: { database: 'ok', stripe: { status: 'ok' } } });
    await server.emulator.stop();
    const address = `127.0.0.1:${server.emulator.port}`;

    const res = await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_visa' } }, user.token);
    expect(res.errors?.[0]).toMatchObject({
      message:
        `The payment service at ${address} could not be reached: the connection to ${address} failed (ECONNREFUSED), ` +
        `directly (127.0.0.1 is a loopback address; only STRIPE_PROXY sends it through a proxy); ` +
        `fix: check that the Stripe API at ${address} (STRIPE_API_BASE, or the local emulator) is running.`,
      extensions: { code: 'PAYMENT_SERVICE_UNAVAILABLE', reason: 'connection', stripeHost: address },
    });
    expect(res.errors?.[0].extensions).not.toHaveProperty('proxy');
    expect(await sql(server.databaseUrl, 'select id from subscription where user_id = $1', [user.id])).toEqual([]);
    expect(await sql(server.databaseUrl, 'select stripe_customer_id from app_user where id = $1', [user.id])).toEqual([
      { stripe_customer_id: null },
    ]);
    for (const input of [{ pricingId: premium, paymentMethod: 'pm_card_visa' }, { pricingId: premium }]) {
      const again = await server.gql(SUBSCRIBE, { input }, known.token);
      expect(again.errors?.[0].extensions).toMatchObject({
        code: 'PAYMENT_SERVICE_UNAVAILABLE',
        reason: 'connection',
        stripeHost: address,
      });
    }
    expect(await sql(server.databaseUrl, 'select status from subscription where user_id = $1', [known.id])).toEqual([
      { status: 'incomplete' },
    ]);

    const limits = await server.gql(MY_LIMITS, undefined, user.token);
    expect(limits.data.myLimits).toMatchObject({ plan: { code: 'free' }, source: 'DEFAULT_PLAN' });
    const used = await server.gql(`mutation { recordUsage(input: { metric: "minutes", amount: 3 }) { used } }`, undefined, user.token);
    expect(used.data.recordUsage.used).toBe(3);

    const ready = await readyz(server);
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({
      status: 'degraded',
      checks: {
        database: 'ok',
        stripe: { status: 'unavailable', reason: 'connection', host: address, route: expect.stringMatching(/^directly/) },
      },
    });
    const warned = logs.lines().filter((l) => l.level === 40 && /could not be reached/.test(l.msg));
    expect(warned.length).toBeGreaterThanOrEqual(2); // the failed subscribe and the readiness change
    expect(warned[0]).toMatchObject({ reason: 'connection', stripeHost: address });
  });
});

describe('Stripe failing in the middle of a subscribe, and while a webhook re-fetches', () => {
  let server: TestServer;
  let front: StripeFront;
  /** The SDK straight to the emulator, past the front, to see Stripe's side. */
  let direct: Stripe;
  const logs = captureLogs();
  beforeAll(async () => {
    server = await startTestServer({
      stripe: true,
      logStream: logs.stream,
      stripeVia: async (emulator) => {
        front = await startStripeFront(emulator.port);
        return front.port;
      },
    });
    direct = new Stripe('sk_test_tollgate_tests', {
      host: '127.0.0.1',
      port: server.emulator.port,
      protocol: 'http',
      maxNetworkRetries: 0,
    });
  });
  afterAll(async () => {
    await server.close();
    await front.close();
  });
  afterEach(() => {
    front.fault = undefined;
  });

  it.each([
    ['a card declined when charged', 'pm_card_chargeCustomerFail'],
    ['a card that needs 3-D Secure', 'pm_card_threeDSecure2Required'],
  ])(
    'the subscription is made but its first payment cannot be read (%s): PAYMENT_SERVICE_UNAVAILABLE, nothing usable left here or in Stripe',
    async (_what, card) => {
      const premium = await pricingId(server, 'premium');
      const user = await server.createUser();
      front.fault = (method, path) => (method === 'GET' && path.startsWith('/v1/invoices/') ? 503 : undefined);
      const address = `127.0.0.1:${front.port}`;
      const res = await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: card } }, user.token);
      expect(front.faulted).toContainEqual(expect.stringMatching(/^GET \/v1\/invoices\/in_/));
      expect(res.errors?.[0]).toMatchObject({
        message: `The payment service at ${address} failed to answer: Stripe answered HTTP 503 (Injected failure.), directly (127.0.0.1 is a loopback address; only STRIPE_PROXY sends it through a proxy); fix: this is on Stripe's side: try again later, and see status.stripe.com.`,
        extensions: { code: 'PAYMENT_SERVICE_UNAVAILABLE', reason: 'stripe_error', stripeHost: address },
      });
      // Stripe's webhooks about the canceled subscription (created, deleted) must not bring it back as a row.
      await server.emulator.idle(20_000);
      expect(await sql(server.databaseUrl, 'select id from subscription where user_id = $1', [user.id])).toEqual([]);
      const [{ stripe_customer_id: customer }] = await sql(server.databaseUrl, 'select stripe_customer_id from app_user where id = $1', [
        user.id,
      ]);
      const inStripe = (await direct.subscriptions.list({ customer, status: 'all' })).data;
      expect(inStripe).toHaveLength(1);
      expect(inStripe[0].status).not.toMatch(/^(active|trialing|incomplete|past_due)$/);
      expect(logs.lines().some((l) => l.level === 50 && l.reason === 'stripe_error' && l.msg === res.errors?.[0].message)).toBe(true);
    },
  );

  it('a webhook whose subscription cannot be re-fetched is acknowledged, fails in the worker and keeps the classified reason and its retry in the inbox', async () => {
    const premium = await pricingId(server, 'premium');
    const user = await server.createUser();
    const ok = await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_visa' } }, user.token);
    expect(ok.errors).toBeUndefined();
    await server.emulator.idle(20_000);
    front.fault = (method, path) => (method === 'GET' && path.startsWith('/v1/subscriptions/') ? 503 : undefined);
    const event = fakeEvent('customer.subscription.updated', {
      id: ok.data.subscribe.subscription.stripeSubscriptionId,
      object: 'subscription',
    });
    const body = JSON.stringify(event);
    const answer = await deliver(server.url, body, { 'stripe-signature': signedHeader(body, server.webhookSecret) });
    expect(answer.status).toBe(200);
    await server.inboxDrained();
    const [row] = await sql(
      server.databaseUrl,
      'select status, last_error, next_attempt_at > now() as later from stripe_event where id = $1',
      [event.id],
    );
    expect(row).toEqual({
      status: 'failed',
      later: true,
      last_error: expect.stringMatching(
        /^The payment service at 127\.0\.0\.1:\d+ failed to answer: Stripe answered HTTP 503 \(Injected failure\.\), directly/,
      ),
    });
  });
});

describe('/readyz asks Stripe at most once per STRIPE_READY_CACHE_MS', () => {
  let server: TestServer;
  let priceLists = 0;
  beforeAll(async () => {
    server = await startTestServer({
      stripe: true,
      env: { STRIPE_READY_CACHE_MS: '600000' },
      emulatorLog: (msg, fields) => {
        const f = fields as { method?: string; path?: string };
        if (msg === 'request' && f.method === 'GET' && f.path === '/v1/prices') priceLists++;
      },
    });
  });
  afterAll(() => server.close());

  it('concurrent checks share one probe, later ones reuse its answer even after Stripe went away', async () => {
    priceLists = 0; // the catalog sync of the set-up lists prices too
    const answers = await Promise.all([1, 2, 3, 4, 5].map(() => readyz(server)));
    expect(answers.map((a) => a.body.checks.stripe.status)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    expect(priceLists).toBe(1);
    await server.emulator.stop();
    const later = await readyz(server);
    expect(later.body).toMatchObject({
      status: 'ready',
      checks: { stripe: { status: 'ok', checkedAt: answers[0].body.checks.stripe.checkedAt } },
    });
    expect(priceLists).toBe(1);
  });
});

describe('classified failures of a direct route', () => {
  let emulator: EmulatorHandle;
  let cert: TestCertificate;
  const servers: http.Server[] = [];

  /** A local stand-in for a failing Stripe: answers every request with `status` and `body`, or never when status is 0. */
  async function failingStripe(status: number, body: string, type = 'application/json'): Promise<number> {
    const srv = http.createServer((_req, res) => {
      if (status === 0) return;
      res.writeHead(status, { 'content-type': type }).end(body);
    });
    servers.push(srv);
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', () => resolve()));
    return (srv.address() as AddressInfo).port;
  }
  const probe = async (env: Record<string, string>) => {
    const config = loadConfig({ STRIPE_MAX_NETWORK_RETRIES: '0', ...env }, empty);
    const api = await openStripeApi(config, config.stripe.apiBase, 'sk_test_tollgate_tests');
    try {
      return { result: await probeStripe(api.client, api.endpoint), endpoint: api.endpoint, api };
    } finally {
      api.close();
    }
  };

  beforeAll(async () => {
    cert = makeCertificate(['localhost']);
    emulator = await startEmulator({ tls: { key: cert.key, cert: cert.cert } });
  });
  afterAll(async () => {
    await emulator.stop();
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
    cert.remove();
  });

  it('TLS: a certificate Node does not trust is a tls failure; STRIPE_CA_FILE makes it trusted', async () => {
    const base = `https://127.0.0.1:${emulator.port}`;
    const untrusted = await probe({ STRIPE_API_BASE: base });
    expect(untrusted.result.ok).toBe(false);
    if (untrusted.result.ok) return;
    expect(untrusted.result.failure).toMatchObject({ reason: 'tls', operatorOnly: false });
    expect(untrusted.result.failure.problem).toMatch(
      /^the TLS connection to 127\.0\.0\.1 failed: .*\((DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)\), directly/,
    );
    expect(untrusted.result.failure.fix).toContain('STRIPE_CA_FILE');

    const trusted = await probe({ STRIPE_API_BASE: base, STRIPE_CA_FILE: cert.certFile });
    expect(trusted.result).toEqual({ ok: true, server: 'tollgate-stripe-emulator' });
  });

  it('Stripe 5xx: "failed to answer", with Stripe\'s status and a fix; an answer that is not the API says so', async () => {
    const port = await failingStripe(500, JSON.stringify({ error: { type: 'api_error', message: 'Something went wrong on our end.' } }));
    const { result, endpoint } = await probe({ STRIPE_API_BASE: `http://127.0.0.1:${port}` });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.failure).toMatchObject({
      reason: 'stripe_error',
      httpStatus: 500,
      problem: `Stripe answered HTTP 500 (Something went wrong on our end.), ${endpoint.route}`,
    });
    const err = await callStripe(() => Promise.reject(result.error), { stripeEndpoint: endpoint }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).message).toBe(
      `The payment service at 127.0.0.1:${port} failed to answer: Stripe answered HTTP 500 (Something went wrong on our end.), directly (127.0.0.1 is a loopback address; only STRIPE_PROXY sends it through a proxy); fix: this is on Stripe's side: try again later, and see status.stripe.com.`,
    );

    const htmlPort = await failingStripe(502, '<html><body>Bad Gateway</body></html>', 'text/html');
    const html = await probe({ STRIPE_API_BASE: `http://127.0.0.1:${htmlPort}` });
    expect(html.result.ok).toBe(false);
    if (html.result.ok) return;
    expect(html.result.failure.reason).toBe('stripe_error');
    expect(html.result.failure.problem).toBe(
      `127.0.0.1:${htmlPort} answered with something that is not the Stripe API (no JSON), ${html.endpoint.route}`,
    );
    expect(html.result.failure.fix).toBe('check that STRIPE_API_BASE is the Stripe API and that no proxy or firewall answers in its place');
  });

  it('429: busy, try again shortly', async () => {
    const port = await failingStripe(
      429,
      JSON.stringify({ error: { type: 'invalid_request_error', code: 'rate_limit', message: 'Too many requests' } }),
    );
    const { result, endpoint } = await probe({ STRIPE_API_BASE: `http://127.0.0.1:${port}` });
    if (result.ok) throw new Error('expected a failure');
    const err = (await callStripe(() => Promise.reject(result.error), { stripeEndpoint: endpoint }).catch(
      (e: unknown) => e,
    )) as DomainError;
    expect(err.code).toBe('PAYMENT_SERVICE_UNAVAILABLE');
    expect(err.message).toBe(
      `The payment service at 127.0.0.1:${port} is busy: Stripe is limiting the request rate (HTTP 429), directly (127.0.0.1 is a loopback address; only STRIPE_PROXY sends it through a proxy); fix: try again shortly.`,
    );
  });

  it('timeout: no answer within STRIPE_TIMEOUT_MS', async () => {
    const port = await failingStripe(0, '');
    const { result } = await probe({ STRIPE_API_BASE: `http://127.0.0.1:${port}`, STRIPE_TIMEOUT_MS: '300' });
    if (result.ok) throw new Error('expected a failure');
    expect(result.failure).toMatchObject({ reason: 'timeout' });
    expect(result.failure.problem).toMatch(new RegExp(`^no answer from 127\\.0\\.0\\.1:${port} within 300 ms, directly`));
    expect(result.failure.fix).toContain('STRIPE_TIMEOUT_MS');
  });

  it('DNS: a host name that does not resolve, with the route that was taken', async () => {
    const { result } = await probe({ STRIPE_API_BASE: 'https://api.stripe.test' });
    if (result.ok) throw new Error('expected a failure');
    expect(result.failure.reason).toBe('dns');
    expect(result.failure.problem).toMatch(
      /^the host name api\.stripe\.test could not be resolved \((ENOTFOUND|EAI_AGAIN)\), connecting directly \(no proxy is configured\)$/,
    );
    expect(result.failure.fix).toContain('set HTTPS_PROXY');
  });

  it('an invalid key: clients get the generic message, the operator log says what is wrong without the key; nothing is written', async () => {
    const server = await startTestServer({ stripe: true, webhooks: false });
    try {
      const logs = captureLogs();
      const logger = createLogger('info', { stream: logs.stream });
      const key = 'sk_live_tollgateNotAValidKey0042';
      const api = await openStripeApi(server.config, { protocol: 'http', host: server.emulator.host, port: server.emulator.port }, key, {
        maxNetworkRetries: 0,
      });
      const user = await server.createUser();
      const err = (await ensureCustomer(server.em(), api.client, user.id, { stripeEndpoint: api.endpoint, logger }).catch(
        (e: unknown) => e,
      )) as DomainError;
      expect(err).toBeInstanceOf(DomainError);
      expect(err.code).toBe('PAYMENT_SERVICE_UNAVAILABLE');
      expect(err.message).toBe(GENERIC_UNAVAILABLE);
      expect(err.extensions).toEqual({ reason: 'configuration' });
      expect(await sql(server.databaseUrl, 'select stripe_customer_id from app_user where id = $1', [user.id])).toEqual([
        { stripe_customer_id: null },
      ]);
      const [line] = logs.lines();
      expect(line).toMatchObject({ level: 50, reason: 'invalid_api_key' });
      expect(line.msg).toMatch(
        /^Stripe at 127\.0\.0\.1:\d+ answered directly .* but refused the API key \(HTTP 401: Invalid API Key provided: sk_live_\*+0042\); fix: set STRIPE_SECRET_KEY/,
      );
      expect(logs.text()).not.toContain(key);
    } finally {
      await server.close();
    }
  });
});
