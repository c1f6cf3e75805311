import type Stripe from 'stripe';
import { sql } from './support/db';
import { appliedCounts, cancelsAtPeriodEnd, inboxRow, send, startExtraApp, subscribed, until } from './support/inbox';
import { captureLogs } from './support/logs';
import { startTestServer, type TestServer } from './support/server';
import { startStripeFront, type StripeFront } from './support/stripeFront';
import { fakeEvent } from './support/webhooks';

jest.setTimeout(120_000);

/**
 * The webhook worker: deliveries are acknowledged once stored, and the server's worker (or any server's,
 * on one database) processes them afterwards, retrying failures with backoff up to WEBHOOK_MAX_ATTEMPTS.
 * Stripe is reached through a front (stripeFront.ts) that can hold or fail the handlers' re-fetches.
 */

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
