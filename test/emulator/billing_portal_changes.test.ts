import type Stripe from 'stripe';
import { portalPrices } from './portalFixture';
import { eventTypes, raw, startTestEmulator, type TestEmulator } from './support';

/** Plan changes on the portal page: upgrades at once with the configured proration, downgrades at period end. */
let t: TestEmulator;
let basic: Stripe.Price;
let premium: Stripe.Price;
let config: Stripe.BillingPortal.Configuration;
beforeAll(async () => {
  t = await startTestEmulator();
  ({ basic, premium } = await portalPrices(t));
  config = await t.stripe.billingPortal.configurations.create({
    features: {
      subscription_cancel: { enabled: true, mode: 'at_period_end' },
      subscription_update: {
        enabled: true,
        default_allowed_updates: ['price'],
        products: [
          { product: basic.product as string, prices: [basic.id] },
          { product: premium.product as string, prices: [premium.id] },
        ],
        proration_behavior: 'always_invoice',
        schedule_at_period_end: { conditions: [{ type: 'decreasing_item_amount' }, { type: 'shortening_interval' }] },
      },
    },
  });
});
afterAll(() => t.em.stop());

const visit = (url: string) => raw(t.em, 'GET', new URL(url).pathname, { auth: null });
const choose = (url: string, sub: string, price: string) =>
  raw(t.em, 'POST', `${new URL(url).pathname}/subscriptions/${sub}/update`, { auth: null, body: `price=${price}` });
const lastEventId = async () => (await t.stripe.events.list({ limit: 1 })).data[0]!.id;

async function subscribed(price: Stripe.Price, card = 'pm_card_visa') {
  const clock = await t.stripe.testHelpers.testClocks.create({ frozen_time: Math.floor(Date.now() / 1000) });
  const customer = await t.stripe.customers.create({ email: 'ada@example.com', payment_method: 'pm_card_visa', test_clock: clock.id });
  const pm = (await t.stripe.customers.listPaymentMethods(customer.id)).data[0]!;
  const sub = await t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }], default_payment_method: pm.id });
  if (card !== 'pm_card_visa') {
    const other = await t.stripe.paymentMethods.attach(card, { customer: customer.id });
    await t.stripe.subscriptions.update(sub.id, { default_payment_method: other.id });
  }
  const session = await t.stripe.billingPortal.sessions.create({ customer: customer.id, configuration: config.id });
  return { clock, customer, sub, session };
}

test('an upgrade applies at once: the new price, a prorated invoice paid now, one customer.subscription.updated', async () => {
  const { sub, session } = await subscribed(basic);
  const since = await lastEventId();
  const res = await choose(session.url, sub.id, premium.id);
  expect(res.status).toBe(303);
  expect(res.headers.location).toMatch(/done=updated$/);
  const after = await t.stripe.subscriptions.retrieve(sub.id, { expand: ['latest_invoice'] });
  expect(after.items.data[0]!.price.id).toBe(premium.id);
  expect(after.schedule).toBeNull();
  const invoice = after.latest_invoice as Stripe.Invoice;
  expect(invoice).toMatchObject({ billing_reason: 'subscription_update', status: 'paid' });
  // the rest of the month at 25.00 less the unused 10.00, charged now
  expect(invoice.amount_paid).toBeGreaterThan(1400);
  expect(invoice.amount_paid).toBeLessThanOrEqual(1500);
  const types = await eventTypes(t.stripe, since);
  expect(types.filter((e) => e === 'customer.subscription.updated')).toHaveLength(1);
  expect(types).toEqual(expect.arrayContaining(['invoice.created', 'invoice.finalized', 'invoice.paid']));
  const page = await visit(session.url);
  expect(page.text).toContain('$25.00 per month');
});

test('a downgrade waits for the period end in a schedule; the page says so; the price changes when the period ends', async () => {
  const { clock, sub, session } = await subscribed(premium);
  const res = await choose(session.url, sub.id, basic.id);
  expect(res.headers.location).toMatch(/done=scheduled$/);
  const waiting = await t.stripe.subscriptions.retrieve(sub.id);
  expect(waiting.items.data[0]!.price.id).toBe(premium.id);
  const schedule = await t.stripe.subscriptionSchedules.retrieve(waiting.schedule as string);
  const end = waiting.items.data[0]!.current_period_end;
  expect(schedule).toMatchObject({ status: 'active', end_behavior: 'release' });
  expect(schedule.phases.map((p) => [p.items[0]!.price, p.start_date])).toEqual([
    [premium.id, waiting.items.data[0]!.current_period_start],
    [basic.id, end],
  ]);
  const page = await visit(session.url);
  expect(page.text).toContain('Changes to Basic ($10.00 per month) on');
  expect(page.text).toContain('Keep Premium');

  await t.stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: end + 60 });
  const changed = await t.stripe.subscriptions.retrieve(sub.id, { expand: ['latest_invoice'] });
  expect(changed.items.data[0]!.price.id).toBe(basic.id);
  expect((changed.latest_invoice as Stripe.Invoice).amount_paid).toBe(1000);
});

test('keeping the current plan drops the scheduled downgrade', async () => {
  const { sub, session } = await subscribed(premium);
  await choose(session.url, sub.id, basic.id);
  const schedule = (await t.stripe.subscriptions.retrieve(sub.id)).schedule as string;
  const res = await choose(session.url, sub.id, premium.id);
  expect(res.headers.location).toMatch(/done=kept$/);
  expect((await t.stripe.subscriptions.retrieve(sub.id)).schedule).toBeNull();
  expect((await t.stripe.subscriptionSchedules.retrieve(schedule)).status).toBe('released');
  expect((await visit(session.url)).text).not.toContain('Changes to');
});

test('canceling drops a scheduled downgrade: the plan ends rather than changes', async () => {
  const { sub, session } = await subscribed(premium);
  await choose(session.url, sub.id, basic.id);
  await raw(t.em, 'POST', `${new URL(session.url).pathname}/subscriptions/${sub.id}/cancel`, { auth: null, body: '' });
  const after = await t.stripe.subscriptions.retrieve(sub.id);
  expect(after).toMatchObject({ schedule: null, cancel_at_period_end: true });
  expect(after.items.data[0]!.price.id).toBe(premium.id);
});

test('an upgrade the card refuses changes nothing and shows why; prices not offered are refused', async () => {
  const { sub, session } = await subscribed(basic, 'pm_card_chargeCustomerFail');
  const res = await choose(session.url, sub.id, premium.id);
  expect(res.status).toBe(402);
  expect(res.text).toContain('Your card was declined.');
  const after = await t.stripe.subscriptions.retrieve(sub.id);
  expect(after).toMatchObject({ status: 'active' });
  expect(after.items.data[0]!.price.id).toBe(basic.id);

  const elsewhere = await t.stripe.prices.create({
    currency: 'usd',
    unit_amount: 100,
    recurring: { interval: 'month' },
    product_data: { name: 'X' },
  });
  const refused = await choose(session.url, sub.id, elsewhere.id);
  expect(refused.status).toBe(400);
  expect(refused.text).toContain('This plan is not offered here.');
});
