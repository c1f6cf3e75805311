import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type Stripe from 'stripe';
import { startReceiver, startTestEmulator, type Receiver, type TestEmulator } from './support';

const run = promisify(execFile);
const TRIGGER = join(__dirname, '..', '..', 'src', 'cli', 'stripeTrigger.js');

const BILLING_EVENTS: Stripe.WebhookEndpointCreateParams.EnabledEvent[] = [
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'invoice.created',
  'invoice.finalized',
  'invoice.paid',
  'invoice.payment_succeeded',
  'invoice.payment_failed',
  'checkout.session.completed',
  'checkout.session.expired',
  'test_helpers.test_clock.ready',
];

let t: TestEmulator;
let r: Receiver;
let secret: string;
beforeAll(async () => {
  t = await startTestEmulator();
  r = await startReceiver();
  secret = (await t.stripe.webhookEndpoints.create({ url: r.url, enabled_events: BILLING_EVENTS })).secret as string;
});
afterAll(async () => {
  await t.em.stop();
  await r.close();
});

/** Every delivery so far, verified with the endpoint secret as a webhook handler would. */
function delivered(): Stripe.Event[] {
  return r.received.map((x) => t.stripe.webhooks.constructEvent(x.body, x.headers['stripe-signature'] as string, secret));
}

test('the subscription lifecycle and Checkout reach a webhook endpoint, signed as Stripe signs', async () => {
  const start = Math.floor(Date.UTC(2031, 4, 1) / 1000);
  const clock = await t.stripe.testHelpers.testClocks.create({ frozen_time: start });
  const customer = await t.stripe.customers.create({ email: 'hooks@example.com', test_clock: clock.id });
  const visa = await t.stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
  const price = await t.stripe.prices.create({
    currency: 'eur',
    unit_amount: 900,
    recurring: { interval: 'week' },
    product_data: { name: 'Weekly' },
  });
  const sub = await t.stripe.subscriptions.create(
    { customer: customer.id, items: [{ price: price.id }], default_payment_method: visa.id },
    { idempotencyKey: 'hooks-subscribe' },
  );

  // a renewal that fails, then the subscription is canceled
  const failing = await t.stripe.paymentMethods.attach('pm_card_chargeCustomerFail', { customer: customer.id });
  await t.stripe.subscriptions.update(sub.id, { default_payment_method: failing.id });
  await t.stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: start + 7 * 86400 + 60 });
  await t.stripe.subscriptions.cancel(sub.id);

  // Checkout: one completed, one expired
  const session = await t.stripe.checkout.sessions.create({
    mode: 'subscription',
    customer_email: 'checkout@example.com',
    line_items: [{ price: price.id, quantity: 1 }],
    success_url: 'https://example.com/ok',
  });
  await t.stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${session.id}/complete`, {});
  const abandoned = await t.stripe.checkout.sessions.create({
    mode: 'subscription',
    line_items: [{ price: price.id, quantity: 1 }],
    success_url: 'https://example.com/ok',
  });
  await t.stripe.checkout.sessions.expire(abandoned.id);

  await t.em.idle(10_000);
  const events = delivered();
  const types = new Set(events.map((e) => e.type));
  for (const type of BILLING_EVENTS) expect(types).toContain(type);
  // only the enabled types are delivered
  expect(events.every((e) => (BILLING_EVENTS as string[]).includes(e.type))).toBe(true);

  const byType = (type: string) => events.filter((e) => e.type === type);
  const created = byType('customer.subscription.created').find((e) => (e.data.object as Stripe.Subscription).id === sub.id) as Stripe.Event;
  expect(created.request).toMatchObject({ idempotency_key: 'hooks-subscribe' });
  expect(created.created).toBe(start);
  expect(created.data.object).toMatchObject({ status: 'active', customer: customer.id, test_clock: clock.id });

  const pastDue = byType('customer.subscription.updated').find(
    (e) => (e.data.object as Stripe.Subscription).status === 'past_due',
  ) as Stripe.Event;
  expect(pastDue.data.previous_attributes).toMatchObject({ status: 'active' });
  expect(pastDue.created).toBe(start + 7 * 86400);

  const failed = byType('invoice.payment_failed')[0]?.data.object as Stripe.Invoice;
  expect(failed).toMatchObject({ billing_reason: 'subscription_cycle', status: 'open', currency: 'eur', amount_due: 900 });
  expect(failed.parent?.subscription_details?.subscription).toBe(sub.id);

  const paid = byType('invoice.paid').map((e) => e.data.object as Stripe.Invoice);
  expect(paid.some((i) => i.parent?.subscription_details?.subscription === sub.id && i.billing_reason === 'subscription_create')).toBe(
    true,
  );

  expect(byType('customer.subscription.deleted').map((e) => (e.data.object as Stripe.Subscription).id)).toContain(sub.id);
  const completed = byType('checkout.session.completed')[0]?.data.object as Stripe.Checkout.Session;
  expect(completed).toMatchObject({ id: session.id, status: 'complete', payment_status: 'paid', mode: 'subscription' });
  expect(completed.subscription).toMatch(/^sub_/);
  expect((byType('checkout.session.expired')[0]?.data.object as Stripe.Checkout.Session).id).toBe(abandoned.id);

  // a tampered body fails verification
  const one = r.received[0];
  expect(() => t.stripe.webhooks.constructEvent(`${one?.body} `, one?.headers['stripe-signature'] as string, secret)).toThrow();
});

test('npm run stripe:trigger fires the billing events on a running emulator', async () => {
  const { stdout } = await run(process.execPath, [TRIGGER, 'invoice.payment_failed', '--port', String(t.em.port)]);
  expect(stdout).toMatch(/evt_\w+ {2}invoice\.payment_failed/);
  expect(stdout).toContain('Trigger succeeded!');
  const sessions = await run(process.execPath, [TRIGGER, 'checkout.session.completed', '--port', String(t.em.port)]);
  expect(sessions.stdout).toMatch(/evt_\w+ {2}checkout\.session\.completed/);
  const list = await run(process.execPath, [TRIGGER, '--list']);
  for (const name of [
    'customer.subscription.created',
    'customer.subscription.updated',
    'customer.subscription.deleted',
    'invoice.paid',
    'invoice.payment_failed',
    'checkout.session.completed',
    'checkout.session.expired',
  ]) {
    expect(list.stdout).toContain(name);
  }
});
