import type Stripe from 'stripe';
import { addIntervals } from '../src/emulator/billing/periods';
import { eventTypes, latestEventId, rejection, startTestEmulator, type TestEmulator } from './emulator/support';

// Free trials in the emulator, through the official SDK: trial_period_days, trial_end (a time or now),
// Checkout's subscription_data, and what a test clock does at the notice and at the trial's end.

let t: TestEmulator;
let monthly: Stripe.Price;
beforeAll(async () => {
  t = await startTestEmulator();
  monthly = await t.stripe.prices.create({
    currency: 'usd',
    unit_amount: 1500,
    recurring: { interval: 'month' },
    product_data: { name: 'Premium' },
  });
});
afterAll(() => t.em.stop());

const DAY = 86_400;
const MONTH = { interval: 'month' as const, interval_count: 1 };
const START = Math.floor(Date.UTC(2031, 2, 10, 9, 0, 0) / 1000);

/** A customer on a clock at START; `card` (attached) is its default payment method unless null. */
async function clockCustomer(card: string | null = 'pm_card_visa') {
  const clock = await t.stripe.testHelpers.testClocks.create({ frozen_time: START });
  const customer = await t.stripe.customers.create({ email: 'trial@example.com', test_clock: clock.id });
  if (card) {
    const pm = await t.stripe.paymentMethods.attach(card, { customer: customer.id });
    await t.stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: pm.id } });
  }
  return { clock, customer };
}

const period = (s: Stripe.Subscription) => ({ start: s.items.data[0]?.current_period_start, end: s.items.data[0]?.current_period_end });

async function invoicesOf(sub: Stripe.Subscription): Promise<Stripe.Invoice[]> {
  return (await t.stripe.invoices.list({ subscription: sub.id })).data.reverse();
}

describe('trial_period_days on POST /v1/subscriptions', () => {
  test('trialing, the period is the trial, a paid $0 invoice, and nothing charged', async () => {
    const { customer } = await clockCustomer();
    const since = await latestEventId(t.stripe);
    const sub = await t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }], trial_period_days: 14 });
    expect(sub).toMatchObject({
      status: 'trialing',
      trial_start: START,
      trial_end: START + 14 * DAY,
      billing_cycle_anchor: START + 14 * DAY,
    });
    expect(period(sub)).toEqual({ start: START, end: START + 14 * DAY });
    const [first] = await invoicesOf(sub);
    expect(first).toMatchObject({ billing_reason: 'subscription_create', status: 'paid', amount_due: 0, amount_paid: 0, total: 0 });
    expect(first?.lines.data[0]).toMatchObject({
      amount: 0,
      description: 'Trial period for Premium',
      period: { start: START, end: START + 14 * DAY },
    });
    expect((await t.stripe.paymentIntents.list({ customer: customer.id })).data).toEqual([]);
    const types = await eventTypes(t.stripe, since);
    expect(types).toContain('customer.subscription.created');
    expect(types).not.toContain('customer.subscription.trial_will_end');
  });

  test('a trial needs no payment method; without one, the end of the trial leaves it past_due', async () => {
    const { clock, customer } = await clockCustomer(null);
    const sub = await t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }], trial_period_days: 7 });
    expect(sub.status).toBe('trialing');
    await t.stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: START + 7 * DAY + 60 });
    const after = await t.stripe.subscriptions.retrieve(sub.id);
    expect(after.status).toBe('past_due');
    expect((await invoicesOf(sub))[1]).toMatchObject({ billing_reason: 'subscription_cycle', status: 'open', amount_due: 1500 });
  });

  test('the clock sends trial_will_end three days before the end, then charges the first period at the end', async () => {
    const { clock, customer } = await clockCustomer();
    const sub = await t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }], trial_period_days: 10 });
    const since = await latestEventId(t.stripe);
    await t.stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: START + 7 * DAY + 60 });
    const notice = (await t.stripe.events.list({ type: 'customer.subscription.trial_will_end', limit: 5 })).data.find(
      (e) => (e.data.object as Stripe.Subscription).id === sub.id,
    );
    expect(notice?.created).toBe(START + 7 * DAY);
    expect((await t.stripe.subscriptions.retrieve(sub.id)).status).toBe('trialing');

    await t.stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: START + 10 * DAY + 60 });
    const after = await t.stripe.subscriptions.retrieve(sub.id);
    expect(after).toMatchObject({ status: 'active', trial_end: START + 10 * DAY, billing_cycle_anchor: START + 10 * DAY });
    expect(period(after)).toEqual({ start: START + 10 * DAY, end: addIntervals(START + 10 * DAY, MONTH, 1) });
    const second = (await invoicesOf(sub))[1];
    expect(second).toMatchObject({ billing_reason: 'subscription_cycle', status: 'paid', amount_paid: 1500 });
    expect(second?.lines.data[0]?.period).toEqual(period(after));
    const updated = (await t.stripe.events.list({ type: 'customer.subscription.updated', limit: 10 })).data.find(
      (e) => (e.data.object as Stripe.Subscription).id === sub.id,
    );
    expect(updated?.data.previous_attributes).toMatchObject({ status: 'trialing' });
    expect((await eventTypes(t.stripe, since)).filter((type) => type === 'customer.subscription.trial_will_end')).toHaveLength(1);
  });

  test('a card declined at the end of the trial: past_due with invoice.payment_failed, active once the invoice is paid', async () => {
    const { clock, customer } = await clockCustomer('pm_card_chargeCustomerFail');
    const sub = await t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }], trial_period_days: 5 });
    const since = await latestEventId(t.stripe);
    await t.stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: START + 5 * DAY + 60 });
    expect((await t.stripe.subscriptions.retrieve(sub.id)).status).toBe('past_due');
    expect(await eventTypes(t.stripe, since)).toContain('invoice.payment_failed');
    const open = (await invoicesOf(sub))[1] as Stripe.Invoice;
    expect(open).toMatchObject({ status: 'open', attempt_count: 1, amount_remaining: 1500 });
    await t.stripe.invoices.pay(open.id, { payment_method: 'pm_card_visa' });
    expect((await t.stripe.subscriptions.retrieve(sub.id)).status).toBe('active');
  });

  test('a trial shorter than three days is announced at once', async () => {
    const { customer } = await clockCustomer();
    const since = await latestEventId(t.stripe);
    await t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }], trial_period_days: 2 });
    const types = await eventTypes(t.stripe, since);
    expect(types.indexOf('customer.subscription.trial_will_end')).toBeGreaterThan(types.indexOf('customer.subscription.created'));
  });
});

describe('trial_end', () => {
  test('a time on create; refusals for the past, over two years, both parameters and trial_from_plan', async () => {
    const { customer } = await clockCustomer();
    const sub = await t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }], trial_end: START + 4 * DAY });
    expect(sub).toMatchObject({ status: 'trialing', trial_end: START + 4 * DAY });
    const refused = async (params: Partial<Stripe.SubscriptionCreateParams>) =>
      rejection<Stripe.errors.StripeError>(() =>
        t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }], ...params }),
      );
    expect(await refused({ trial_end: START - 60 })).toMatchObject({ statusCode: 400, param: 'trial_end' });
    expect(await refused({ trial_end: START + 731 * DAY })).toMatchObject({ statusCode: 400, param: 'trial_end' });
    expect(await refused({ trial_period_days: 731 })).toMatchObject({ statusCode: 400, param: 'trial_period_days' });
    expect(await refused({ trial_end: START + DAY, trial_period_days: 3 })).toMatchObject({
      statusCode: 400,
      code: 'parameters_exclusive',
    });
    expect(await refused({ trial_from_plan: true })).toMatchObject({ statusCode: 400, param: 'trial_from_plan' });
  });

  test('trial_end=now on create is no trial', async () => {
    const { customer } = await clockCustomer();
    const sub = await t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }], trial_end: 'now' });
    expect(sub).toMatchObject({ status: 'active', trial_end: null, trial_start: null });
  });

  test('updating trial_end moves the end of the trial; a trial is not added to a paid subscription', async () => {
    const { customer } = await clockCustomer();
    const sub = await t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }], trial_period_days: 20 });
    const moved = await t.stripe.subscriptions.update(sub.id, { trial_end: START + 30 * DAY });
    expect(moved).toMatchObject({ status: 'trialing', trial_end: START + 30 * DAY, billing_cycle_anchor: START + 30 * DAY });
    expect(period(moved)).toEqual({ start: START, end: START + 30 * DAY });
    const paid = await t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }] });
    const refused = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.subscriptions.update(paid.id, { trial_end: START + 9 * DAY }),
    );
    expect(refused).toMatchObject({ statusCode: 400, param: 'trial_end' });
  });

  test('trial_end=now ends the trial: announced, active, a new period anchored now, charged at once', async () => {
    const { clock, customer } = await clockCustomer();
    const sub = await t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }], trial_period_days: 14 });
    await t.stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: START + DAY });
    const since = await latestEventId(t.stripe);
    const ended = await t.stripe.subscriptions.update(sub.id, { trial_end: 'now' });
    expect(ended).toMatchObject({ status: 'active', trial_start: START, trial_end: START + DAY, billing_cycle_anchor: START + DAY });
    expect(period(ended)).toEqual({ start: START + DAY, end: addIntervals(START + DAY, MONTH, 1) });
    expect((await invoicesOf(sub))[1]).toMatchObject({ billing_reason: 'subscription_update', status: 'paid', amount_paid: 1500 });
    const types = await eventTypes(t.stripe, since);
    expect(types).toContain('customer.subscription.trial_will_end');
    expect(types.at(-1)).toBe('customer.subscription.updated');
  });
});

describe('Checkout with subscription_data trials', () => {
  const sessionParams = (customer: string, trial: Stripe.Checkout.SessionCreateParams.SubscriptionData) => ({
    mode: 'subscription' as const,
    customer,
    line_items: [{ price: monthly.id, quantity: 1 }],
    success_url: 'http://localhost/ok',
    subscription_data: { metadata: { from: 'checkout' }, ...trial },
  });

  test('nothing due today; completing saves the card and starts a trialing subscription', async () => {
    const { customer } = await clockCustomer(null);
    const session = await t.stripe.checkout.sessions.create(sessionParams(customer.id, { trial_period_days: 7 }));
    expect(session).toMatchObject({ amount_total: 0, status: 'open' });
    const page = await fetch(session.url as string);
    expect(await page.text()).toMatch(/Free trial: 7 days/);
    const done = await t.stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${session.id}/complete`, {
      card_number: '4242424242424242',
    });
    const completed = await t.stripe.checkout.sessions.retrieve(session.id);
    expect(done).toBeDefined();
    expect(completed).toMatchObject({ status: 'complete', payment_status: 'no_payment_required' });
    const sub = await t.stripe.subscriptions.retrieve(completed.subscription as string);
    expect(sub).toMatchObject({ status: 'trialing', trial_start: START, trial_end: START + 7 * DAY, metadata: { from: 'checkout' } });
    const pm = await t.stripe.paymentMethods.retrieve(sub.default_payment_method as string);
    expect(pm.customer).toBe(customer.id);
    expect((await t.stripe.paymentIntents.list({ customer: customer.id })).data).toEqual([]);
  });

  test('subscription_data trial bounds: at least one day, trial_end 48 hours ahead', async () => {
    const { customer } = await clockCustomer(null);
    const zero = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.checkout.sessions.create(sessionParams(customer.id, { trial_period_days: 0 })),
    );
    expect(zero).toMatchObject({ statusCode: 400, param: 'subscription_data[trial_period_days]' });
    const soon = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.checkout.sessions.create(sessionParams(customer.id, { trial_end: START + 3600 })),
    );
    expect(soon).toMatchObject({ statusCode: 400, param: 'subscription_data[trial_end]' });
    const ok = await t.stripe.checkout.sessions.create(sessionParams(customer.id, { trial_end: START + 3 * DAY }));
    expect(ok.amount_total).toBe(0);
  });
});
