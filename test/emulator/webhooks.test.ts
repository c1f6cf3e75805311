import Stripe from 'stripe';
import { signPayload } from '../../src/emulator/core/webhooks';
import { CARD, raw, rejection, startReceiver, startTestEmulator, type Receiver, type TestEmulator } from './support';

let t: TestEmulator;
const receivers: Receiver[] = [];
beforeEach(async () => {
  t = await startTestEmulator({ webhookRetryDelaysMs: [20, 40, 80] });
});
afterEach(async () => {
  await t.em.stop();
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

async function receiver(respond?: (index: number, body: string) => number): Promise<Receiver> {
  const r = await startReceiver(respond);
  receivers.push(r);
  return r;
}

function verify(r: Receiver, secret: string): Stripe.Event[] {
  return r.received
    .filter((x) => x.status === 200)
    .map((x) => t.stripe.webhooks.constructEvent(x.body, x.headers['stripe-signature'] as string, secret));
}

describe('webhook endpoints', () => {
  test('create returns the secret once; retrieve, list, update, delete', async () => {
    const we = await t.stripe.webhookEndpoints.create({
      url: 'https://example.com/hook',
      enabled_events: ['payment_intent.succeeded'],
      description: 'shop',
      metadata: { env: 'dev' },
    });
    expect(we).toMatchObject({
      object: 'webhook_endpoint',
      url: 'https://example.com/hook',
      enabled_events: ['payment_intent.succeeded'],
      status: 'enabled',
      description: 'shop',
      metadata: { env: 'dev' },
      livemode: false,
    });
    expect(we.id).toMatch(/^we_/);
    expect(we.secret).toMatch(/^whsec_[A-Za-z0-9]{32}$/);
    const got = await t.stripe.webhookEndpoints.retrieve(we.id);
    expect(got.secret).toBeUndefined();
    expect(got.url).toBe(we.url);
    expect((await t.stripe.webhookEndpoints.list()).data.map((e) => e.id)).toEqual([we.id]);
    const updated = await t.stripe.webhookEndpoints.update(we.id, {
      enabled_events: ['*'],
      disabled: true,
      url: 'https://example.com/hook2',
    });
    expect(updated).toMatchObject({ enabled_events: ['*'], status: 'disabled', url: 'https://example.com/hook2' });
    const deleted = await t.stripe.webhookEndpoints.del(we.id);
    expect(deleted).toMatchObject({ id: we.id, deleted: true });
    expect((await t.stripe.webhookEndpoints.list()).data).toEqual([]);
    const missing = await rejection<Stripe.errors.StripeError>(() => t.stripe.webhookEndpoints.retrieve(we.id));
    expect(missing.statusCode).toBe(404);

    const noUrl = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.webhookEndpoints.create({ enabled_events: ['*'] } as Stripe.WebhookEndpointCreateParams),
    );
    expect(noUrl.param).toBe('url');
    const badUrl = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.webhookEndpoints.create({ url: 'not a url', enabled_events: ['*'] }),
    );
    expect(badUrl.code).toBe('url_invalid');
    const noEvents = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.webhookEndpoints.create({ url: 'https://example.com' } as Stripe.WebhookEndpointCreateParams),
    );
    expect(noEvents.param).toBe('enabled_events');
  });
});

describe('deliveries', () => {
  test('signed as Stripe signs, for the enabled types only, verified by constructEvent', async () => {
    const r = await receiver();
    const we = await t.stripe.webhookEndpoints.create({ url: r.url, enabled_events: ['payment_intent.succeeded', 'charge.succeeded'] });
    const pi = await t.stripe.paymentIntents.create(
      { amount: 1200, currency: 'usd', payment_method: 'pm_card_visa', confirm: true, ...CARD },
      { idempotencyKey: 'order-77' },
    );
    await t.em.idle(5000);

    expect(r.received).toHaveLength(2);
    const events = verify(r, we.secret as string);
    expect(events.map((e) => e.type).sort()).toEqual(['charge.succeeded', 'payment_intent.succeeded']);
    const succeeded = events.find((e) => e.type === 'payment_intent.succeeded') as Stripe.PaymentIntentSucceededEvent;
    expect(succeeded).toMatchObject({
      object: 'event',
      livemode: false,
      api_version: t.em.ctx.apiVersion,
      request: { idempotency_key: 'order-77' },
    });
    expect(succeeded.id).toMatch(/^evt_/);
    expect(succeeded.request?.id).toMatch(/^req_/);
    expect(succeeded.data.object.id).toBe(pi.id);
    expect(succeeded.data.object.status).toBe('succeeded');
    const headers = r.received[0]?.headers ?? {};
    expect(headers['content-type']).toBe('application/json; charset=utf-8');
    expect(headers['user-agent']).toMatch(/^Stripe\/1\.0/);
    expect(headers['stripe-signature']).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);

    // the signature is the HMAC-SHA256 of "t.payload": the same helper reproduces it
    const [body, header] = [r.received[0]?.body as string, headers['stripe-signature'] as string];
    const ts = Number(/t=(\d+)/.exec(header)?.[1]);
    expect(signPayload(body, we.secret as string, ts)).toBe(header);
    expect(() => t.stripe.webhooks.constructEvent(body, header, 'whsec_wrong')).toThrow(Stripe.errors.StripeSignatureVerificationError);
    expect(() => t.stripe.webhooks.constructEvent(body.replace('1200', '1300'), header, we.secret as string)).toThrow(
      Stripe.errors.StripeSignatureVerificationError,
    );

    // delivered events have no pending webhooks left
    const stored = await t.stripe.events.retrieve(succeeded.id);
    expect(stored.pending_webhooks).toBe(0);
    expect(stored.data.object).toEqual(succeeded.data.object);
  });

  test('`*` receives every event; disabled endpoints receive none; data.object is a snapshot', async () => {
    const all = await receiver();
    const off = await receiver();
    const weAll = await t.stripe.webhookEndpoints.create({ url: all.url, enabled_events: ['*'] });
    const weOff = await t.stripe.webhookEndpoints.create({ url: off.url, enabled_events: ['*'] });
    await t.stripe.webhookEndpoints.update(weOff.id, { disabled: true });
    const c = await t.stripe.customers.create({ name: 'Before' });
    await t.stripe.customers.update(c.id, { name: 'After' });
    await t.em.idle(5000);
    expect(off.received).toHaveLength(0);
    const events = verify(all, weAll.secret as string);
    expect(events.map((e) => e.type).sort()).toEqual(['customer.created', 'customer.updated']);
    const created = events.find((e) => e.type === 'customer.created') as Stripe.CustomerCreatedEvent;
    const updated = events.find((e) => e.type === 'customer.updated') as Stripe.CustomerUpdatedEvent;
    expect(created.data.object.name).toBe('Before');
    expect(updated.data.object.name).toBe('After');
    expect(updated.data.previous_attributes).toEqual({ name: 'Before' });
  });

  test('a 500 answer is retried until the endpoint accepts', async () => {
    const r = await receiver((i) => (i === 0 ? 500 : 200));
    const we = await t.stripe.webhookEndpoints.create({ url: r.url, enabled_events: ['customer.created'] });
    const c = await t.stripe.customers.create({ email: 'retry@example.com' });
    await t.em.idle(5000);
    expect(r.received.map((x) => x.status)).toEqual([500, 200]);
    const [event] = verify(r, we.secret as string) as [Stripe.CustomerCreatedEvent];
    expect(event.data.object.id).toBe(c.id);
    // both attempts carried the same event
    expect(JSON.parse(r.received[0]?.body as string).id).toBe(event.id);
    const deliveries = await raw(t.em, 'GET', `/v1/test_helpers/deliveries?event=${event.id}`);
    expect(deliveries.json.pending).toBe(0);
    expect(deliveries.json.data).toHaveLength(1);
    expect(deliveries.json.data[0]).toMatchObject({ event: event.id, endpoint: we.id, status: 'succeeded' });
    expect(deliveries.json.data[0].attempts.map((a: { status_code: number }) => a.status_code)).toEqual([500, 200]);
    expect((await t.stripe.events.retrieve(event.id)).pending_webhooks).toBe(0);
  });

  test('a refused connection is retried, then given up after the last delay', async () => {
    const r = await receiver();
    const url = r.url;
    await r.close();
    const we = await t.stripe.webhookEndpoints.create({ url, enabled_events: ['customer.created'] });
    const started = Date.now();
    await t.stripe.customers.create({});
    await t.em.idle(5000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(20 + 40 + 80);
    const deliveries = await raw(t.em, 'GET', `/v1/test_helpers/deliveries?endpoint=${we.id}`);
    const [d] = deliveries.json.data;
    expect(d.status).toBe('failed');
    expect(d.attempts).toHaveLength(4);
    expect(d.attempts[0].error).toMatch(/ECONNREFUSED/);
    // backoff: each retry waited its own, longer delay (20, 40, then 80 ms) after the attempt before
    const gaps = d.attempts.slice(1).map((a: { at: number }, i: number) => a.at - d.attempts[i].at);
    gaps.forEach((gap: number, i: number) => expect([i, gap >= [20, 40, 80][i]!]).toEqual([i, true]));
    expect(d.next_attempt_at).toBeNull();
    const event = await t.stripe.events.retrieve(d.event);
    expect(event.pending_webhooks).toBe(1);
  });

  test('not in order: a retried event arrives after a newer one for the same endpoint', async () => {
    // many short retries: the first event keeps failing until the newer one has been received
    const em = await startTestEmulator({ webhookRetryDelaysMs: Array.from({ length: 200 }, () => 20) });
    try {
      let newerSeen = false;
      const r = await receiver((_i, body) => {
        const type = (JSON.parse(body) as Stripe.Event).type;
        if (type === 'customer.updated') newerSeen = true;
        return type === 'customer.created' && !newerSeen ? 500 : 200;
      });
      const we = await em.stripe.webhookEndpoints.create({ url: r.url, enabled_events: ['customer.created', 'customer.updated'] });
      const c = await em.stripe.customers.create({ name: 'First' });
      await em.stripe.customers.update(c.id, { name: 'Second' });
      await em.em.idle(10_000);
      const accepted = r.received
        .filter((x) => x.status === 200)
        .map((x) => em.stripe.webhooks.constructEvent(x.body, x.headers['stripe-signature'] as string, we.secret as string));
      expect(accepted.map((e) => e.type)).toEqual(['customer.updated', 'customer.created']);
      // each carries the object as it was when the event happened: applying them in arrival order would regress
      expect(accepted.map((e) => (e.data.object as Stripe.Customer).name)).toEqual(['Second', 'First']);
    } finally {
      await em.em.stop();
    }
  });

  test('deliveries are independent: a failing endpoint does not hold back the others', async () => {
    // long retry delays, so the failing endpoint is surely still being retried when the other is done
    const slowEm = await startTestEmulator({ webhookRetryDelaysMs: [300, 300] });
    try {
      const slow = await receiver(() => 503);
      const fast = await receiver();
      await slowEm.stripe.webhookEndpoints.create({ url: slow.url, enabled_events: ['customer.created'] });
      await slowEm.stripe.webhookEndpoints.create({ url: fast.url, enabled_events: ['customer.created'] });
      await slowEm.stripe.customers.create({});
      await slowEm.stripe.customers.create({});
      const succeeded = () => slowEm.em.ctx.webhooks.list({ status: 'succeeded' });
      const deadline = Date.now() + 2000;
      while (succeeded().length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 2));
      expect(succeeded().map((d) => d.url)).toEqual([fast.url, fast.url]);
      expect(fast.received.filter((x) => x.status === 200)).toHaveLength(2);
      expect(slowEm.em.ctx.webhooks.list({ status: 'pending' }).map((d) => d.url)).toEqual([slow.url, slow.url]);
      await slowEm.em.idle(5000);
      expect(slow.received.length).toBe(6);
      expect(slowEm.em.ctx.webhooks.list({ status: 'failed' })).toHaveLength(2);
    } finally {
      await slowEm.em.stop();
    }
  });
});

describe('events API', () => {
  test('list filters by type, wildcard and types[]; retrieve by id', async () => {
    await t.stripe.customers.create({});
    await t.stripe.paymentIntents.create({ amount: 700, currency: 'usd', payment_method: 'pm_card_visa', confirm: true, ...CARD });
    const byType = await t.stripe.events.list({ type: 'charge.succeeded' });
    expect(byType.data.map((e) => e.type)).toEqual(['charge.succeeded']);
    const wildcard = await t.stripe.events.list({ type: 'payment_intent.*' });
    expect(wildcard.data.map((e) => e.type)).toEqual(['payment_intent.succeeded', 'payment_intent.created']);
    const types = await t.stripe.events.list({ types: ['customer.created', 'charge.succeeded'] });
    expect(types.data.map((e) => e.type)).toEqual(['charge.succeeded', 'customer.created']);
    const all = await t.stripe.events.list();
    expect(all.data.map((e) => e.type)).toEqual([
      'payment_intent.succeeded',
      'charge.succeeded',
      'payment_intent.created',
      'customer.created',
    ]);
    const one = await t.stripe.events.retrieve(all.data[1]?.id as string);
    expect(one.type).toBe('charge.succeeded');
    expect(one.object).toBe('event');
    expect(one.pending_webhooks).toBe(0);
    const missing = await rejection<Stripe.errors.StripeError>(() => t.stripe.events.retrieve('evt_nope'));
    expect(missing.message).toBe("No such event: 'evt_nope'");
  });
});

describe('endpoint changes', () => {
  test('deliveries still pending for a deleted endpoint are dropped', async () => {
    const r = await receiver(() => 500);
    const we = await t.stripe.webhookEndpoints.create({ url: r.url, enabled_events: ['customer.created'] });
    await t.stripe.customers.create({});
    const deadline = Date.now() + 2000;
    while (r.received.length < 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 2));
    await t.stripe.webhookEndpoints.del(we.id);
    await t.em.idle(5000);
    expect(r.received).toHaveLength(1);
    const [d] = t.em.ctx.webhooks.list({ endpoint: we.id });
    expect(d?.status).toBe('failed');
    expect(d?.attempts.at(-1)?.error).toBe('endpoint deleted or disabled');
  });
});

test('a malformed request line does not bring the server down', async () => {
  const res = await raw(t.em, 'GET', '//[bad');
  expect(res.status).toBe(404);
  expect((await t.stripe.customers.list()).object).toBe('list');
});
