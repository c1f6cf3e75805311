import { createApp } from '../src/app';
import { createLogger } from '../src/logger';
import { openStripeApi } from '../src/stripe/api';
import { sql } from './support/db';
import { freePort } from './support/net';
import { startTestServer, type TestServer } from './support/server';
import { deliver, fakeEvent, signedHeader } from './support/webhooks';

describe('POST /webhooks/stripe', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ stripe: true });
  });
  afterAll(() => server.close());

  const inbox = () =>
    sql(server.databaseUrl, 'select id, type, status, attempts, last_error, own_request from stripe_event order by received_at');

  it.each([
    ['no signature', () => ({})],
    ['a wrong signature', () => ({ 'stripe-signature': signedHeader('{"other":"payload"}', 'whsec_wrong') })],
    ['a signature made with another secret', (body: string) => ({ 'stripe-signature': signedHeader(body, 'whsec_not_ours') })],
    [
      'a stale signature (older than 300 s)',
      (body: string, secret: string) => ({ 'stripe-signature': signedHeader(body, secret, Math.floor(Date.now() / 1000) - 301) }),
    ],
    [
      'the right secret over another body (the body was changed)',
      (body: string, secret: string) => ({ 'stripe-signature': signedHeader(body.replace('cus_x', 'cus_z'), secret) }),
    ],
    [
      'a header without a v1 signature',
      (body: string, secret: string) => ({ 'stripe-signature': signedHeader(body, secret).replace('v1=', 'v0=') }),
    ],
  ])('refuses %s with 400 and stores nothing', async (_name, headers) => {
    const before = (await inbox()).length;
    const body = JSON.stringify(fakeEvent('customer.created', { id: 'cus_x', object: 'customer' }));
    const res = await deliver(server.url, body, (headers as (b: string, s: string) => Record<string, string>)(body, server.webhookSecret));
    expect(res.status).toBe(400);
    expect((await inbox()).length).toBe(before);
  });

  it('accepts a signature 299 s old: the tolerance is 300 s', async () => {
    const event = fakeEvent('customer.created', { id: 'cus_late', object: 'customer' });
    const body = JSON.stringify(event);
    const res = await deliver(server.url, body, {
      'stripe-signature': signedHeader(body, server.webhookSecret, Math.floor(Date.now() / 1000) - 299),
    });
    expect(res.status).toBe(200);
    expect(await inbox()).toContainEqual(expect.objectContaining({ id: event.id, status: 'ignored' }));
  });

  it('verifies the bytes as sent: a pretty-printed body with a charset is accepted and stored as the event', async () => {
    const event = fakeEvent('customer.created', { id: 'cus_pretty', object: 'customer', name: 'Zoë  Müller' });
    const body = `${JSON.stringify(event, null, 2)}\n`;
    const res = await deliver(server.url, body, {
      'content-type': 'application/json; charset=utf-8',
      'stripe-signature': signedHeader(body, server.webhookSecret),
    });
    expect(res.status).toBe(200);
    const [stored] = await sql(server.databaseUrl, `select payload->'data'->'object'->>'name' as name from stripe_event where id = $1`, [
      event.id,
    ]);
    expect(stored).toEqual({ name: 'Zoë  Müller' });
  });

  it('refuses a correctly signed body that is not an event with 400', async () => {
    const before = await inbox();
    for (const body of [
      'not json at all',
      JSON.stringify({ hello: 'world' }),
      JSON.stringify({ id: 'evt_1', object: 'charge', type: 'x' }),
      JSON.stringify({ id: 'evt_2', object: 'event', type: 'customer.created' }),
      JSON.stringify([fakeEvent('customer.created', { id: 'cus_x', object: 'customer' })]),
    ]) {
      const res = await deliver(server.url, body, { 'stripe-signature': signedHeader(body, server.webhookSecret) });
      expect(res.status).toBe(400);
    }
    expect(await inbox()).toEqual(before);
  });

  it('stores an event of a type Tollgate does not handle as ignored and answers 200', async () => {
    const event = fakeEvent('customer.created', { id: 'cus_x', object: 'customer' });
    const body = JSON.stringify(event);
    const res = await deliver(server.url, body, { 'stripe-signature': signedHeader(body, server.webhookSecret) });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ received: true, status: 'ignored' });
    expect(await inbox()).toContainEqual(
      expect.objectContaining({ id: event.id, type: 'customer.created', status: 'ignored', attempts: 1 }),
    );
  });

  it('accepts the same event three times and applies it once', async () => {
    const event = fakeEvent(
      'customer.updated',
      { id: 'cus_y', object: 'customer' },
      { request: { id: 'req_1', idempotency_key: 'tollgate:customer:abc' } },
    );
    const body = JSON.stringify(event);
    const results = [];
    for (let i = 0; i < 3; i++)
      results.push(await deliver(server.url, body, { 'stripe-signature': signedHeader(body, server.webhookSecret) }));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(results.map((r) => r.body.status)).toEqual(['ignored', 'duplicate', 'duplicate']);
    const rows = (await inbox()).filter((r) => r.id === event.id);
    expect(rows).toEqual([expect.objectContaining({ attempts: 1, own_request: true })]);
  });

  it('without a webhook secret (STRIPE_WEBHOOK_SECRET unset with a real key) refuses every delivery with 500 and stores nothing, so Stripe retries once it is set', async () => {
    const api = await openStripeApi(
      server.config,
      { protocol: 'http', host: server.emulator.host, port: server.emulator.port },
      'sk_test_no_webhook_secret',
      { maxNetworkRetries: 0 },
    );
    const app = await createApp({
      orm: server.orm,
      config: server.config,
      logger: createLogger('silent'),
      stripe: { client: api.client, webhookSecret: undefined, mode: 'test', endpoint: api.endpoint },
    });
    const port = await freePort();
    await new Promise<void>((resolve) => app.httpServer.listen(port, '127.0.0.1', () => resolve()));
    try {
      const before = await inbox();
      const body = JSON.stringify(fakeEvent('customer.created', { id: 'cus_nosecret', object: 'customer' }));
      for (const headers of [
        { 'stripe-signature': signedHeader(body, server.webhookSecret) },
        { 'stripe-signature': signedHeader(body, '') },
      ]) {
        expect((await deliver(`http://127.0.0.1:${port}`, body, headers)).status).toBe(500);
      }
      expect(await inbox()).toEqual(before);
    } finally {
      await app.stop();
      api.close();
    }
  });

  it("stores the emulator's own signed deliveries, of the enabled event types only", async () => {
    const intent = await server.stripe.paymentIntents.create({
      amount: 1234,
      currency: 'usd',
      payment_method: 'pm_card_visa',
      confirm: true,
      automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
    });
    expect(intent.status).toBe('succeeded');
    await server.emulator.idle(10_000);
    const rows = await sql(server.databaseUrl, `select type from stripe_event where payload->'data'->'object'->>'id' = $1 order by type`, [
      intent.id,
    ]);
    // payment_intent.created is not among the endpoint's enabled events; payment_intent.succeeded is.
    expect(rows).toEqual([{ type: 'payment_intent.succeeded' }]);
  });
});
