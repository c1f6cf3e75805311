import { sql } from './support/db';
import { appliedCounts, inboxRow, send, startExtraApp, subscribed, until } from './support/inbox';
import { captureLogs } from './support/logs';
import { startAppProcess } from './support/process';
import { startTestServer, type TestServer } from './support/server';
import { startStripeFront, type StripeFront } from './support/stripeFront';
import { fakeEvent } from './support/webhooks';

jest.setTimeout(120_000);

/**
 * A server that stops, gracefully or killed, while its webhook worker holds an event: nothing is lost and
 * nothing applied twice. Stripe is reached through a front (stripeFront.ts) that holds the re-fetches.
 */

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
