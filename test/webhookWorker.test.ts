import type Stripe from 'stripe';
import { createApp, type App } from '../src/app';
import { loadConfig } from '../src/config';
import { createOrm, type Orm } from '../src/db/orm';
import { createLogger } from '../src/logger';
import { openStripeApi } from '../src/stripe/api';
import { pricingId, SUBSCRIBE } from './support/billing';
import { sql } from './support/db';
import { captureLogs } from './support/logs';
import { freePort } from './support/net';
import { startAppProcess } from './support/process';
import { startTestServer, type TestServer } from './support/server';
import { startStripeFront, type StripeFront } from './support/stripeFront';
import { deliver, fakeEvent, signedHeader } from './support/webhooks';

jest.setTimeout(120_000);

/**
 * The webhook worker: deliveries are acknowledged once stored, and the server's worker (or any server's,
 * on one database) processes them afterwards, retrying failures with backoff up to WEBHOOK_MAX_ATTEMPTS.
 * Stripe is reached through a front (stripeFront.ts) that can hold or fail the handlers' re-fetches.
 */

type Logs = ReturnType<typeof captureLogs>;

/** Polls `check` until it is true (every 20 ms, at most `timeoutMs`). */
async function until(check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const send = (url: string, secret: string, event: Stripe.Event | Record<string, unknown>) => {
  const body = JSON.stringify(event);
  return deliver(url, body, { 'stripe-signature': signedHeader(body, secret) });
};

/** Each event id and how many times a worker applied it, from the servers' logs. */
function appliedCounts(...logs: Logs[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of logs.flatMap((l) => l.lines()))
    if (line.msg === 'Stripe event applied') counts.set(String(line.stripeEvent), (counts.get(String(line.stripeEvent)) ?? 0) + 1);
  return counts;
}

interface ExtraApp {
  url: string;
  app: App;
  orm: Orm;
  close(): Promise<void>;
}

/** Another server (createApp with a pool of its own) on the test server's database, reaching Stripe on `stripePort`. */
async function startExtraApp(server: TestServer, stripePort: number, logs: Logs, env: Record<string, string> = {}): Promise<ExtraApp> {
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    DATABASE_URL: server.databaseUrl,
    PORT: '0',
    EVENTS_DELIVERY: 'off',
    ...env,
  });
  const logger = createLogger('info', { stream: logs.stream });
  const orm = await createOrm(server.databaseUrl, { logger });
  const api = await openStripeApi(config, { protocol: 'http', host: '127.0.0.1', port: stripePort }, 'sk_test_tollgate_tests', {
    maxNetworkRetries: 0,
  });
  const app = await createApp({
    orm,
    config,
    logger,
    stripe: { client: api.client, webhookSecret: server.webhookSecret, mode: 'emulator', endpoint: api.endpoint },
  });
  const port = await freePort();
  await new Promise<void>((resolve) => app.httpServer.listen(port, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${port}`,
    app,
    orm,
    close: async () => {
      await app.stop();
      await orm.close();
      api.close();
    },
  };
}

async function subscribed(server: TestServer): Promise<{ id: string; stripeSubscriptionId: string }> {
  const user = await server.createUser();
  const res = await server.gql(
    SUBSCRIBE,
    { input: { pricingId: await pricingId(server, 'premium'), paymentMethod: 'pm_card_visa' } },
    user.token,
  );
  expect(res.errors).toBeUndefined();
  await server.emulator.idle(20_000);
  return res.data.subscribe.subscription;
}

const inboxRow = async (server: TestServer, id: string) =>
  (await sql(server.databaseUrl, 'select status, attempts, last_error, next_attempt_at, outcome from stripe_event where id = $1', [id]))[0];
const cancelsAtPeriodEnd = async (server: TestServer, id: string) =>
  (await sql(server.databaseUrl, 'select cancel_at_period_end from subscription where id = $1', [id]))[0].cancel_at_period_end;

describe('webhooks processed by the worker', () => {
  let server: TestServer;
  let front: StripeFront;
  const logs = captureLogs();
  beforeAll(async () => {
    server = await startTestServer({
      stripe: true,
      webhooks: false,
      logStream: logs.stream,
      env: { WEBHOOK_RETRY_BASE_MS: '200', WEBHOOK_MAX_ATTEMPTS: '3' },
      stripeVia: async (emulator) => {
        front = await startStripeFront(emulator.port);
        return front.port;
      },
    });
  });
  afterAll(async () => {
    await server.close();
    await front.close();
  });
  afterEach(() => {
    front.hold = undefined;
    front.fault = undefined;
  });

  /** A change made in Stripe (past the front) and the event about it, not yet delivered. */
  async function changedInStripe(sub: { stripeSubscriptionId: string }): Promise<Stripe.Event> {
    const before = new Set((await server.stripe.events.list({ limit: 100 })).data.map((e) => e.id));
    await server.stripe.subscriptions.update(sub.stripeSubscriptionId, { cancel_at_period_end: true });
    const [event] = (await server.stripe.events.list({ limit: 100 })).data.filter(
      (e) =>
        !before.has(e.id) &&
        e.type === 'customer.subscription.updated' &&
        (e.data.object as Stripe.Subscription).id === sub.stripeSubscriptionId,
    );
    return event;
  }

  it("acknowledges while the handler's re-fetch from Stripe is still unanswered, and applies the event once Stripe answers", async () => {
    const sub = await subscribed(server);
    const event = await changedInStripe(sub);
    let answer!: () => void;
    const slowStripe = new Promise<void>((resolve) => (answer = resolve));
    front.hold = (method, path) => (method === 'GET' && path === `/v1/subscriptions/${sub.stripeSubscriptionId}` ? slowStripe : undefined);

    // Were the acknowledgement waiting for Stripe, this would never answer: Stripe answers only below.
    const ack = await send(server.url, server.webhookSecret, event);
    expect(ack).toMatchObject({ status: 200, body: { received: true, status: 'pending', stored: true } });
    await until(() => front.held.length === 1);
    expect(front.held).toEqual([`GET /v1/subscriptions/${sub.stripeSubscriptionId}`]);
    expect(await inboxRow(server, event.id)).toMatchObject({ status: 'pending', attempts: 0 });
    expect(await cancelsAtPeriodEnd(server, sub.id)).toBe(false);

    answer();
    await server.inboxDrained();
    expect(await inboxRow(server, event.id)).toMatchObject({ status: 'processed', attempts: 1, next_attempt_at: null });
    expect(await cancelsAtPeriodEnd(server, sub.id)).toBe(true);
  });

  it("duplicates and reversed order are stored once and applied once each, leaving Stripe's current state", async () => {
    const sub = await subscribed(server);
    await server.stripe.subscriptions.update(sub.stripeSubscriptionId, { cancel_at_period_end: true });
    await server.stripe.subscriptions.update(sub.stripeSubscriptionId, { cancel_at_period_end: false });
    await server.stripe.subscriptions.update(sub.stripeSubscriptionId, { cancel_at_period_end: true });
    const events = (await server.stripe.events.list({ limit: 100 })).data.filter(
      (e) => e.type === 'customer.subscription.updated' && (e.data.object as Stripe.Subscription).id === sub.stripeSubscriptionId,
    );
    expect(events).toHaveLength(3);
    // Newest first (as listed), each three times at once: the oldest snapshot (not canceling) arrives last.
    const answers = await Promise.all(events.flatMap((e) => [1, 2, 3].map(() => send(server.url, server.webhookSecret, e))));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(answers.filter((a) => a.body.status === 'pending')).toHaveLength(3);
    expect(answers.filter((a) => a.body.status === 'duplicate')).toHaveLength(6);
    await server.inboxDrained();

    const applied = appliedCounts(logs);
    for (const e of events) {
      expect(await inboxRow(server, e.id)).toMatchObject({ status: 'processed', attempts: 1 });
      expect(applied.get(e.id)).toBe(1);
    }
    expect(await cancelsAtPeriodEnd(server, sub.id)).toBe(true);
  });

  it('a failing handler is retried with a growing backoff and then succeeds', async () => {
    const sub = await subscribed(server);
    const event = await changedInStripe(sub);
    const path = `/v1/subscriptions/${sub.stripeSubscriptionId}`;
    const tries: number[] = [];
    front.fault = (method, p) => {
      if (method !== 'GET' || p !== path) return undefined;
      tries.push(Date.now());
      return tries.length <= 2 ? 503 : undefined;
    };
    await send(server.url, server.webhookSecret, event);
    await until(async () => (await inboxRow(server, event.id)).status === 'processed');

    expect(await inboxRow(server, event.id)).toMatchObject({ status: 'processed', attempts: 3, last_error: null, next_attempt_at: null });
    expect(await cancelsAtPeriodEnd(server, sub.id)).toBe(true);
    const failures = logs.lines().filter((l) => l.stripeEvent === event.id && l.msg === 'Stripe event failed; it will be retried');
    expect(failures.map((l) => l.attempt)).toEqual([1, 2]);
    // Each retry waits at least half its delay (the other half is jitter): 200 ms, then 400 ms.
    expect(tries).toHaveLength(3);
    expect(tries[1] - tries[0]).toBeGreaterThanOrEqual(100);
    expect(tries[2] - tries[1]).toBeGreaterThanOrEqual(200);
  });

  it('a handler that keeps failing ends as failed after WEBHOOK_MAX_ATTEMPTS, with its error, and is not tried again', async () => {
    const sub = await subscribed(server);
    const event = await changedInStripe(sub);
    const path = `/v1/subscriptions/${sub.stripeSubscriptionId}`;
    front.fault = (method, p) => (method === 'GET' && p === path ? 503 : undefined);
    await send(server.url, server.webhookSecret, event);
    await until(async () => {
      const row = await inboxRow(server, event.id);
      return row.status === 'failed' && row.next_attempt_at === null;
    });

    expect(await inboxRow(server, event.id)).toMatchObject({
      status: 'failed',
      attempts: 3,
      last_error: expect.stringMatching(/Stripe answered HTTP 503 \(Injected failure\.\)/),
    });
    expect(front.faulted.filter((f) => f === `GET ${path}`)).toHaveLength(3);
    expect(logs.lines().filter((l) => l.stripeEvent === event.id && l.msg.startsWith('Stripe event failed for good'))).toHaveLength(1);
    expect(await cancelsAtPeriodEnd(server, sub.id)).toBe(false);
  });

  it('two servers on one database process a burst of deliveries to both exactly once each', async () => {
    const otherLogs = captureLogs();
    const other = await startExtraApp(server, front.port, otherLogs);
    try {
      const subs = await Promise.all([subscribed(server), subscribed(server)]);
      // Signals about two real subscriptions (re-fetched under their user's lock) and PaymentIntents that are not ours.
      const events = Array.from({ length: 60 }, (_, i) =>
        i % 3 === 0
          ? fakeEvent('customer.subscription.updated', { id: subs[i % 2].stripeSubscriptionId, object: 'subscription' })
          : fakeEvent('payment_intent.succeeded', { id: `pi_burst_${i}`, object: 'payment_intent', metadata: {} }),
      );
      const answers = await Promise.all(events.flatMap((e) => [server.url, other.url].map((url) => send(url, server.webhookSecret, e))));
      expect(answers.every((a) => a.status === 200)).toBe(true);
      expect(answers.filter((a) => a.body.status === 'pending')).toHaveLength(events.length);
      await server.inboxDrained();
      await until(() => other.app.webhooks!.busy() === 0);

      const applied = appliedCounts(logs, otherLogs);
      expect(events.map((e) => applied.get(String(e.id)))).toEqual(events.map(() => 1));
      const rows = await sql(server.databaseUrl, 'select status, attempts from stripe_event where id = any($1)', [events.map((e) => e.id)]);
      expect(rows).toEqual(events.map(() => ({ status: 'processed', attempts: 1 })));
    } finally {
      await other.close();
    }
  });
});

describe('stopping a server with webhook events in hand', () => {
  let server: TestServer;
  let front: StripeFront;
  beforeAll(async () => {
    // This server only receives; the servers started below process.
    server = await startTestServer({
      stripe: true,
      webhooks: false,
      env: { WEBHOOK_PROCESSING: 'off' },
      stripeVia: async (emulator) => {
        front = await startStripeFront(emulator.port);
        return front.port;
      },
    });
  });
  afterAll(async () => {
    await server.close();
    await front.close();
  });

  const pendingCount = async () =>
    (await sql(server.databaseUrl, `select count(*)::int as n from stripe_event where status = 'pending'`))[0].n as number;

  it('a graceful stop finishes the event in hand and leaves the others pending for the next server', async () => {
    const sub = await subscribed(server);
    let answer!: () => void;
    const slowStripe = new Promise<void>((resolve) => (answer = resolve));
    front.hold = (method, path) => (method === 'GET' && path.startsWith('/v1/subscriptions/') ? slowStripe : undefined);
    const logs = captureLogs();
    const first = await startExtraApp(server, front.port, logs, { WEBHOOK_CONCURRENCY: '1' });
    const events = [1, 2, 3].map(() =>
      fakeEvent('customer.subscription.updated', { id: sub.stripeSubscriptionId, object: 'subscription' }),
    );
    for (const e of events) expect((await send(first.url, server.webhookSecret, e)).status).toBe(200);
    await until(() => front.held.length === 1);

    let stopped = false;
    const stopping = first.close().then(() => (stopped = true));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(stopped).toBe(false); // it waits for the event in hand
    expect(await pendingCount()).toBe(3);
    answer();
    await stopping;
    front.hold = undefined;
    expect(appliedCounts(logs).size).toBe(1);
    expect(await pendingCount()).toBe(2);

    const next = await startExtraApp(server, front.port, logs);
    try {
      await until(async () => (await pendingCount()) === 0);
      await until(() => next.app.webhooks!.busy() === 0);
    } finally {
      await next.close();
    }
    const applied = appliedCounts(logs);
    expect(events.map((e) => applied.get(String(e.id)))).toEqual([1, 1, 1]);
    const rows = await sql(server.databaseUrl, 'select status, attempts from stripe_event where id = any($1)', [events.map((e) => e.id)]);
    expect(rows).toEqual(events.map(() => ({ status: 'processed', attempts: 1 })));
  });

  it('a server killed with an event in hand loses nothing: its transaction rolls back and another server processes the event', async () => {
    const sub = await subscribed(server);
    front.hold = (method, path) => (method === 'GET' && path.startsWith('/v1/subscriptions/') ? new Promise(() => undefined) : undefined);
    const doomed = await startAppProcess({
      DATABASE_URL: server.databaseUrl,
      EMULATOR_URL: `http://127.0.0.1:${front.port}`,
      WEBHOOK_SECRET: server.webhookSecret,
    });
    const event = fakeEvent('customer.subscription.updated', { id: sub.stripeSubscriptionId, object: 'subscription' });
    expect((await send(doomed.url, server.webhookSecret, event)).status).toBe(200);
    await until(() => front.held.length > 0);
    await doomed.stop('SIGKILL');
    front.hold = undefined;

    const logs = captureLogs();
    const next = await startExtraApp(server, front.port, logs);
    try {
      await until(async () => (await inboxRow(server, String(event.id))).status === 'processed');
    } finally {
      await next.close();
    }
    expect(await inboxRow(server, String(event.id))).toMatchObject({ status: 'processed', attempts: 1 });
    expect(appliedCounts(logs).get(String(event.id))).toBe(1);
  });
});
