import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Stripe from 'stripe';
import { addIntervals } from '../../src/emulator/billing/periods';
import { eventTypes, latestEventId, rejection, sdk, startTestEmulator, type TestEmulator } from './support';

let t: TestEmulator;
let monthly: Stripe.Price;
let daily: Stripe.Price;
beforeAll(async () => {
  t = await startTestEmulator();
  monthly = await t.stripe.prices.create({
    currency: 'usd',
    unit_amount: 1500,
    recurring: { interval: 'month' },
    product_data: { name: 'Premium' },
  });
  daily = await t.stripe.prices.create({
    currency: 'usd',
    unit_amount: 300,
    recurring: { interval: 'day' },
    product_data: { name: 'Day Pass' },
  });
});
afterAll(() => t.em.stop());

const JAN_31 = Math.floor(Date.UTC(2030, 0, 31, 12, 0, 0) / 1000);
const unix = (iso: string) => Math.floor(Date.parse(iso) / 1000);

/** A clock at `at`, a customer on it with `card` as its default payment method. */
async function clockCustomer(at = JAN_31, card = 'pm_card_visa') {
  const clock = await t.stripe.testHelpers.testClocks.create({ frozen_time: at, name: 'billing test' });
  const customer = await t.stripe.customers.create({ email: 'clock@example.com', test_clock: clock.id });
  const pm = await t.stripe.paymentMethods.attach(card, { customer: customer.id });
  await t.stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: pm.id } });
  return { clock, customer, pm };
}

const period = (s: Stripe.Subscription) => {
  const item = s.items.data[0] as Stripe.SubscriptionItem;
  return { start: item.current_period_start, end: item.current_period_end };
};

describe('billing periods', () => {
  test('months keep the anchor day, or the last day of shorter months', () => {
    const r = { interval: 'month' as const, interval_count: 1 };
    expect(new Date(addIntervals(JAN_31, r, 1) * 1000).toISOString()).toBe('2030-02-28T12:00:00.000Z');
    expect(new Date(addIntervals(JAN_31, r, 2) * 1000).toISOString()).toBe('2030-03-31T12:00:00.000Z');
    expect(new Date(addIntervals(JAN_31, { interval: 'year', interval_count: 1 }, 1) * 1000).toISOString()).toBe(
      '2031-01-31T12:00:00.000Z',
    );
    expect(addIntervals(JAN_31, { interval: 'week', interval_count: 2 }, 1) - JAN_31).toBe(14 * 86400);
    expect(addIntervals(JAN_31, { interval: 'day', interval_count: 1 }, 3) - JAN_31).toBe(3 * 86400);
  });
});

describe('test clocks', () => {
  test('create, retrieve, list, advance (synchronous: answers ready), delete', async () => {
    const clock = await t.stripe.testHelpers.testClocks.create({ frozen_time: JAN_31, name: 'crud' });
    expect(clock).toMatchObject({ object: 'test_helpers.test_clock', frozen_time: JAN_31, name: 'crud', status: 'ready', livemode: false });
    expect(clock.id).toMatch(/^clock_/);
    expect(await t.stripe.testHelpers.testClocks.retrieve(clock.id)).toEqual(clock);
    expect((await t.stripe.testHelpers.testClocks.list()).data.map((c) => c.id)).toContain(clock.id);
    const since = await latestEventId(t.stripe);
    const advanced = await t.stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: JAN_31 + 3600 });
    expect(advanced).toMatchObject({ status: 'ready', frozen_time: JAN_31 + 3600 });
    expect(await eventTypes(t.stripe, since)).toEqual(['test_helpers.test_clock.advancing', 'test_helpers.test_clock.ready']);
    const advancing = (await t.stripe.events.list({ type: 'test_helpers.test_clock.advancing', limit: 1 })).data[0];
    expect(advancing?.data.object).toMatchObject({
      status: 'advancing',
      status_details: { advancing: { target_frozen_time: JAN_31 + 3600 } },
    });
    const back = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: JAN_31 }),
    );
    expect(back).toMatchObject({ statusCode: 400, param: 'frozen_time' });

    const customer = await t.stripe.customers.create({ test_clock: clock.id });
    expect(customer.created).toBe(JAN_31 + 3600);
    expect(await t.stripe.testHelpers.testClocks.del(clock.id)).toEqual({ id: clock.id, object: 'test_helpers.test_clock', deleted: true });
    expect((await rejection<Stripe.errors.StripeError>(() => t.stripe.testHelpers.testClocks.retrieve(clock.id))).statusCode).toBe(404);
    expect(((await t.stripe.customers.retrieve(customer.id)) as Stripe.DeletedCustomer).deleted).toBe(true);
  });

  test('objects of a customer on a clock live at the clock’s time', async () => {
    const { clock, customer } = await clockCustomer();
    const sub = await t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }], expand: ['latest_invoice'] });
    expect(sub).toMatchObject({ created: JAN_31, start_date: JAN_31, billing_cycle_anchor: JAN_31, test_clock: clock.id });
    expect(period(sub)).toEqual({ start: JAN_31, end: unix('2030-02-28T12:00:00Z') });
    expect(sub.latest_invoice as Stripe.Invoice).toMatchObject({
      created: JAN_31,
      test_clock: clock.id,
      period_start: JAN_31,
      period_end: JAN_31,
    });
    expect((await t.stripe.subscriptions.list({ test_clock: clock.id })).data.map((s) => s.id)).toEqual([sub.id]);
    const created = (await t.stripe.events.list({ type: 'customer.subscription.created', limit: 1 })).data[0];
    expect(created?.created).toBe(JAN_31);
  });

  test('renewal: each period boundary passed gives a new period and a paid subscription_cycle invoice', async () => {
    const { clock, customer } = await clockCustomer();
    const sub = await t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }] });
    const since = await latestEventId(t.stripe);
    await t.stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: unix('2030-04-01T00:00:00Z') });
    const renewed = await t.stripe.subscriptions.retrieve(sub.id, { expand: ['latest_invoice.payments'] });
    expect(renewed.status).toBe('active');
    expect(period(renewed)).toEqual({ start: unix('2030-03-31T12:00:00Z'), end: unix('2030-04-30T12:00:00Z') });
    const invoices = (await t.stripe.invoices.list({ subscription: sub.id })).data;
    expect(invoices.map((i) => [i.billing_reason, i.status, i.amount_paid, i.created])).toEqual([
      ['subscription_cycle', 'paid', 1500, unix('2030-03-31T12:00:00Z')],
      ['subscription_cycle', 'paid', 1500, unix('2030-02-28T12:00:00Z')],
      ['subscription_create', 'paid', 1500, JAN_31],
    ]);
    // Stripe's invoice period is the one that just ended; the line's period is the one paid for
    const latest = renewed.latest_invoice as Stripe.Invoice;
    expect(latest.id).toBe(invoices[0]?.id);
    expect([latest.period_start, latest.period_end]).toEqual([unix('2030-02-28T12:00:00Z'), unix('2030-03-31T12:00:00Z')]);
    expect(latest.lines.data[0]?.period).toEqual(period(renewed));
    expect(latest.payments?.data[0]).toMatchObject({ status: 'paid', payment: { type: 'payment_intent' } });
    const pi = await t.stripe.paymentIntents.retrieve(latest.payments?.data[0]?.payment.payment_intent as string);
    expect(pi).toMatchObject({ status: 'succeeded', description: 'Subscription update', created: unix('2030-03-31T12:00:00Z') });

    const types = await eventTypes(t.stripe, since);
    expect(types.filter((x) => x === 'invoice.paid')).toHaveLength(2);
    expect(types.filter((x) => x === 'customer.subscription.updated')).toHaveLength(2);
    const updated = (await t.stripe.events.list({ type: 'customer.subscription.updated', limit: 1 })).data[0];
    expect(updated?.created).toBe(unix('2030-03-31T12:00:00Z'));
    const prev = updated?.data.previous_attributes as { items?: { data: Stripe.SubscriptionItem[] }; latest_invoice?: string };
    expect(prev.items?.data[0]?.current_period_end).toBe(unix('2030-03-31T12:00:00Z'));
    expect(prev.latest_invoice).toBe(invoices[1]?.id);
    expect((await t.stripe.testHelpers.testClocks.retrieve(clock.id)).frozen_time).toBe(unix('2030-04-01T00:00:00Z'));
  });

  test('what the clock does is automatic: renewal events carry no request, the advance request only its own event', async () => {
    const { clock, customer } = await clockCustomer();
    await t.stripe.subscriptions.create(
      { customer: customer.id, items: [{ price: daily.id }] },
      { idempotencyKey: 'clock-auto-subscribe' },
    );
    const since = await latestEventId(t.stripe);
    await t.stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: JAN_31 + 86400 + 60 }, { idempotencyKey: 'clock-auto-advance' });
    const events: Stripe.Event[] = [];
    for await (const e of t.stripe.events.list({ ending_before: since as string, limit: 100 })) events.push(e);
    expect(events.map((e) => e.type)).toEqual(
      expect.arrayContaining(['invoice.created', 'invoice.paid', 'payment_intent.succeeded', 'customer.subscription.updated']),
    );
    const [advancing, ...rest] = events;
    expect(advancing?.type).toBe('test_helpers.test_clock.advancing');
    expect(advancing?.request).toMatchObject({ id: expect.stringMatching(/^req_/), idempotency_key: 'clock-auto-advance' });
    for (const e of rest) expect([e.type, e.request]).toEqual([e.type, { id: null, idempotency_key: null }]);
    const created = (await t.stripe.events.list({ type: 'customer.subscription.created', limit: 1 })).data[0];
    expect(created?.request?.idempotency_key).toBe('clock-auto-subscribe');
  });

  test('cancel_at_period_end: ends at the period end (canceled, ended_at, customer.subscription.deleted), no renewal invoice', async () => {
    const { clock, customer } = await clockCustomer();
    const sub = await t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }] });
    await t.stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: JAN_31 + 86400 });
    const requested = await t.stripe.subscriptions.update(sub.id, { cancel_at_period_end: true });
    expect(requested.canceled_at).toBe(JAN_31 + 86400);
    const since = await latestEventId(t.stripe);
    await t.stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: period(sub).end + 3600 });
    const ended = await t.stripe.subscriptions.retrieve(sub.id);
    expect(ended).toMatchObject({ status: 'canceled', ended_at: period(sub).end, canceled_at: JAN_31 + 86400, cancel_at: period(sub).end });
    expect(await eventTypes(t.stripe, since)).toEqual([
      'test_helpers.test_clock.advancing',
      'customer.subscription.deleted',
      'test_helpers.test_clock.ready',
    ]);
    expect((await t.stripe.invoices.list({ subscription: sub.id })).data).toHaveLength(1);
  });

  test('a daily price with cancel_at_period_end ends after one day', async () => {
    const { clock, customer } = await clockCustomer();
    const sub = await t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: daily.id }], cancel_at_period_end: true });
    expect(period(sub).end - period(sub).start).toBe(86400);
    expect(sub).toMatchObject({ status: 'active', cancel_at: JAN_31 + 86400, canceled_at: JAN_31 });
    await t.stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: JAN_31 + 86400 - 60 });
    expect((await t.stripe.subscriptions.retrieve(sub.id)).status).toBe('active');
    await t.stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: JAN_31 + 86400 + 60 });
    expect(await t.stripe.subscriptions.retrieve(sub.id)).toMatchObject({ status: 'canceled', ended_at: JAN_31 + 86400 });
  });

  test('failed renewal: past_due and invoice.payment_failed; paying the invoice makes it active again', async () => {
    const { clock, customer } = await clockCustomer();
    const sub = await t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }] });
    // a card that can be saved but whose charges fail
    const failing = await t.stripe.paymentMethods.attach('pm_card_chargeCustomerFail', { customer: customer.id });
    await t.stripe.subscriptions.update(sub.id, { default_payment_method: failing.id });
    const since = await latestEventId(t.stripe);
    await t.stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: period(sub).end + 60 });
    const pastDue = await t.stripe.subscriptions.retrieve(sub.id, { expand: ['latest_invoice'] });
    expect(pastDue.status).toBe('past_due');
    expect(period(pastDue).start).toBe(period(sub).end);
    const invoice = pastDue.latest_invoice as Stripe.Invoice;
    expect(invoice).toMatchObject({
      billing_reason: 'subscription_cycle',
      status: 'open',
      amount_paid: 0,
      attempt_count: 1,
      next_payment_attempt: null,
    });
    const types = await eventTypes(t.stripe, since);
    expect(types).toEqual(
      expect.arrayContaining([
        'invoice.created',
        'invoice.finalized',
        'charge.failed',
        'payment_intent.payment_failed',
        'invoice.payment_failed',
        'customer.subscription.updated',
      ]),
    );
    const updated = (await t.stripe.events.list({ type: 'customer.subscription.updated', limit: 1 })).data[0];
    expect(updated?.data.object).toMatchObject({ status: 'past_due' });
    expect(updated?.data.previous_attributes).toMatchObject({ status: 'active' });

    const visa = await t.stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    expect(await t.stripe.invoices.pay(invoice.id, { payment_method: visa.id })).toMatchObject({ status: 'paid', attempt_count: 2 });
    expect((await t.stripe.subscriptions.retrieve(sub.id)).status).toBe('active');
  });

  test('failed renewal through the customer’s default payment method', async () => {
    const { clock, customer } = await clockCustomer(JAN_31, 'pm_card_chargeCustomerFail');
    const visa = await t.stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    const sub = await t.stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
      default_payment_method: visa.id,
    });
    await t.stripe.subscriptions.update(sub.id, { default_payment_method: '' as unknown as string });
    await t.stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: period(sub).end + 60 });
    expect((await t.stripe.subscriptions.retrieve(sub.id)).status).toBe('past_due');
  });

  test('an incomplete subscription not paid within 23 hours becomes incomplete_expired, its invoice void', async () => {
    const { clock, customer } = await clockCustomer(JAN_31, 'pm_card_chargeCustomerFail');
    const sub = await t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }] });
    expect(sub.status).toBe('incomplete');
    await t.stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: JAN_31 + 22 * 3600 });
    expect((await t.stripe.subscriptions.retrieve(sub.id)).status).toBe('incomplete');
    await t.stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: JAN_31 + 24 * 3600 });
    const expired = await t.stripe.subscriptions.retrieve(sub.id, { expand: ['latest_invoice'] });
    expect(expired).toMatchObject({ status: 'incomplete_expired', ended_at: JAN_31 + 23 * 3600 });
    expect((expired.latest_invoice as Stripe.Invoice).status).toBe('void');
    const updated = (await t.stripe.events.list({ type: 'customer.subscription.updated', limit: 1 })).data[0];
    expect(updated?.data.previous_attributes).toMatchObject({ status: 'incomplete' });
    expect((await t.stripe.subscriptions.list({ customer: customer.id, status: 'ended' })).data.map((s) => s.id)).toEqual([sub.id]);
  });

  test('open Checkout Sessions of the clock’s customer expire after 24 hours', async () => {
    const { clock, customer } = await clockCustomer();
    const session = await t.stripe.checkout.sessions.create({
      mode: 'subscription',
      customer: customer.id,
      line_items: [{ price: monthly.id, quantity: 1 }],
      success_url: 'https://example.com/ok',
    });
    expect(session).toMatchObject({ created: JAN_31, expires_at: JAN_31 + 86400, status: 'open' });
    await t.stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: JAN_31 + 86400 + 1 });
    expect(await t.stripe.checkout.sessions.retrieve(session.id)).toMatchObject({ status: 'expired', url: null });
    const expired = (await t.stripe.events.list({ type: 'checkout.session.expired', limit: 1 })).data[0];
    expect(expired?.data.object).toMatchObject({ id: session.id, status: 'expired' });
    expect(expired?.created).toBe(JAN_31 + 86400);
  });

  test('other clocks and real-time customers do not move', async () => {
    const a = await clockCustomer();
    const b = await clockCustomer();
    const real = await t.stripe.customers.create({});
    const pm = await t.stripe.paymentMethods.attach('pm_card_visa', { customer: real.id });
    const subA = await t.stripe.subscriptions.create({ customer: a.customer.id, items: [{ price: daily.id }] });
    const subB = await t.stripe.subscriptions.create({ customer: b.customer.id, items: [{ price: daily.id }] });
    const subReal = await t.stripe.subscriptions.create({ customer: real.id, items: [{ price: daily.id }], default_payment_method: pm.id });
    await t.stripe.testHelpers.testClocks.advance(a.clock.id, { frozen_time: JAN_31 + 5 * 86400 + 60 });
    expect(period(await t.stripe.subscriptions.retrieve(subA.id)).start).toBe(JAN_31 + 5 * 86400);
    expect(period(await t.stripe.subscriptions.retrieve(subB.id))).toEqual(period(subB));
    expect(period(await t.stripe.subscriptions.retrieve(subReal.id))).toEqual(period(subReal));
    expect((await t.stripe.invoices.list({ subscription: subA.id })).data).toHaveLength(6);
  });

  test('subscriptions, clocks and sessions survive a restart with a data file, and keep renewing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stripe-emulator-billing-'));
    try {
      const dataFile = join(dir, 'state.json');
      const first = await startTestEmulator({ dataFile });
      const s1 = first.stripe;
      const price = await s1.prices.create({
        currency: 'usd',
        unit_amount: 500,
        recurring: { interval: 'week' },
        product_data: { name: 'Weekly' },
      });
      const clock = await s1.testHelpers.testClocks.create({ frozen_time: JAN_31 });
      const customer = await s1.customers.create({ test_clock: clock.id });
      const pm = await s1.paymentMethods.attach('pm_card_visa', { customer: customer.id });
      const sub = await s1.subscriptions.create({ customer: customer.id, items: [{ price: price.id }], default_payment_method: pm.id });
      await s1.testHelpers.testClocks.advance(clock.id, { frozen_time: JAN_31 + 7 * 86400 + 60 });
      await first.em.stop();

      const second = await startTestEmulator({ dataFile });
      try {
        const s2 = sdk(second.em);
        await s2.testHelpers.testClocks.advance(clock.id, { frozen_time: JAN_31 + 14 * 86400 + 60 });
        const renewed = await s2.subscriptions.retrieve(sub.id);
        expect(renewed.status).toBe('active');
        expect(period(renewed)).toEqual({ start: JAN_31 + 14 * 86400, end: JAN_31 + 21 * 86400 });
        expect((await s2.invoices.list({ subscription: sub.id })).data.map((i) => i.number)).toEqual([
          expect.stringMatching(/-0003$/),
          expect.stringMatching(/-0002$/),
          expect.stringMatching(/-0001$/),
        ]);
      } finally {
        await second.em.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
