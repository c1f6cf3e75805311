import Stripe from 'stripe';
import { SUBSCRIBE } from './support/billing';
import { createTestDatabase, sql } from './support/db';
import { freePort } from './support/net';
import { startServerProcess, type ServerProcess } from './support/process';
import { deliver, fakeEvent, signedHeader } from './support/webhooks';

jest.setTimeout(120_000);

/**
 * Local mode as `npm start` runs it (no STRIPE_SECRET_KEY): the server process starts the emulator,
 * registers its endpoint there and verifies every delivery with the secret the emulator returned. There
 * is no shortcut past the signature in local mode: a STRIPE_WEBHOOK_SECRET from the environment is not
 * used either.
 */
describe('webhooks in local mode (server process with the in-process emulator)', () => {
  let server: ServerProcess;
  let databaseUrl: string;
  let base: string;
  let stripe: Stripe;
  beforeAll(async () => {
    databaseUrl = await createTestDatabase('localmode');
    const port = await freePort();
    const emulatorPort = await freePort();
    base = `http://127.0.0.1:${port}`;
    server = startServerProcess({
      DATABASE_URL: databaseUrl,
      PORT: String(port),
      STRIPE_EMULATOR_PORT: String(emulatorPort),
      STRIPE_WEBHOOK_SECRET: 'whsec_from_the_environment',
      LOG_LEVEL: 'info',
    });
    await server.waitFor(/Tollgate is ready/);
    stripe = new Stripe('sk_test_local_mode', { host: '127.0.0.1', port: emulatorPort, protocol: 'http', maxNetworkRetries: 0 });
  });
  afterAll(async () => {
    const code = await server.stop();
    expect({ code, output: code === 0 ? '' : server.output() }).toEqual({ code: 0, output: '' });
  });

  /** Waits until the emulator has no event left to deliver (each answered 2xx) and the server's worker has processed them. */
  async function delivered(): Promise<void> {
    for (let i = 0; i < 200; i++) {
      const events = await stripe.events.list({ limit: 100 });
      const [{ n: pending }] = await sql(databaseUrl, `select count(*)::int as n from stripe_event where status = 'pending'`);
      if (events.data.length > 0 && events.data.every((e) => e.pending_webhooks === 0) && pending === 0) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('the emulator still has undelivered events, or the server unprocessed ones');
  }

  const inbox = () => sql(databaseUrl, 'select id, type, status, own_request from stripe_event order by received_at');

  it("applies the emulator's signed deliveries of a subscribe made through the API", async () => {
    const token = /Bearer (tg_[A-Za-z0-9_-]+)/.exec(server.output())![1];
    const [{ id: pricingId }] = await sql(
      databaseUrl,
      `select pp.id from plan_pricing pp join plan p on p.id = pp.plan_id where p.code = 'premium'`,
    );
    const res = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: SUBSCRIBE, variables: { input: { pricingId, paymentMethod: 'pm_card_visa' } } }),
    });
    const sub = ((await res.json()) as any).data.subscribe.subscription;
    expect(sub.status).toBe('ACTIVE');

    // Every event the emulator made was delivered and acknowledged (2xx) by the server.
    await delivered();
    const created = (await inbox()).filter((e) => e.type === 'customer.subscription.created');
    expect(created).toEqual([expect.objectContaining({ status: 'processed', own_request: true })]);
    expect(await sql(databaseUrl, `select status from stripe_event where status not in ('processed', 'ignored')`)).toEqual([]);
    expect(
      await sql(databaseUrl, 'select status, cancel_at_period_end from subscription where stripe_subscription_id = $1', [
        sub.stripeSubscriptionId,
      ]),
    ).toEqual([{ status: 'active', cancel_at_period_end: false }]);
  });

  it('refuses unsigned deliveries and any secret but the one the emulator returned, storing nothing', async () => {
    const before = await inbox();
    const body = JSON.stringify(fakeEvent('customer.subscription.updated', { id: 'sub_forged', object: 'subscription' }));
    const attempts: Array<Record<string, string>> = [
      {},
      { 'stripe-signature': 't=1,v1=deadbeef' },
      { 'stripe-signature': signedHeader(body, 'whsec_from_the_environment') },
      { 'stripe-signature': signedHeader(body, 'whsec_guessed') },
    ];
    for (const headers of attempts) {
      expect((await deliver(base, body, headers)).status).toBe(400);
    }
    expect(await inbox()).toEqual(before);
  });
});
