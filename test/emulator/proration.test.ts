import type Stripe from 'stripe';
import { eventTypes, latestEventId, rejection, startTestEmulator, type TestEmulator } from './support';

let t: TestEmulator;
let monthly: Stripe.Price;
let monthlyPlus: Stripe.Price;
let daily: Stripe.Price;
beforeAll(async () => {
  t = await startTestEmulator();
  monthly = await t.stripe.prices.create({
    currency: 'usd',
    unit_amount: 1500,
    recurring: { interval: 'month' },
    product_data: { name: 'Premium' },
  });
  monthlyPlus = await t.stripe.prices.create({
    currency: 'usd',
    unit_amount: 3000,
    recurring: { interval: 'month' },
    product_data: { name: 'Team' },
  });
  daily = await t.stripe.prices.create({
    currency: 'usd',
    unit_amount: 300,
    recurring: { interval: 'day' },
    product_data: { name: 'Day Pass' },
  });
});
afterAll(() => t.em.stop());

const START = Math.floor(Date.UTC(2030, 3, 1, 0, 0, 0) / 1000); // 1 Apr 2030, a 30-day month
const HOUR = 3600;
const DAY = 86_400;

/** A customer on a fresh test clock at START with `card` as its default, subscribed to `price`. */
async function subscribed(price: Stripe.Price, card = 'pm_card_visa', params: Partial<Stripe.SubscriptionCreateParams> = {}) {
  const clock = await t.stripe.testHelpers.testClocks.create({ frozen_time: START });
  const customer = await t.stripe.customers.create({ email: 'change@example.com', test_clock: clock.id });
  const pm = await t.stripe.paymentMethods.attach(card, { customer: customer.id });
  await t.stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: pm.id } });
  const sub = await t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }], ...params });
  return { clock, customer, pm, sub };
}

const itemOf = (s: Stripe.Subscription) => s.items.data[0] as Stripe.SubscriptionItem;
const advance = (clock: Stripe.TestHelpers.TestClock, to: number) => t.stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: to });
const latestInvoice = (s: Stripe.Subscription) => t.stripe.invoices.retrieve(s.latest_invoice as string);

describe('changing the price of a subscription item', () => {
  test('same interval, always_invoice: credit for unused time and charge for the remaining time, invoiced and paid now', async () => {
    const { clock, sub } = await subscribed(monthly);
    await advance(clock, START + 10 * DAY); // a third of April gone: 20 of 30 days left
    const since = await latestEventId(t.stripe);
    const updated = await t.stripe.subscriptions.update(sub.id, {
      items: [{ id: itemOf(sub).id, price: monthlyPlus.id }],
      proration_behavior: 'always_invoice',
    });
    expect(itemOf(updated)).toMatchObject({ id: itemOf(sub).id, price: { id: monthlyPlus.id }, current_period_start: START });
    expect(updated.billing_cycle_anchor).toBe(START);
    const invoice = await latestInvoice(updated);
    expect(invoice).toMatchObject({ billing_reason: 'subscription_update', status: 'paid', amount_due: 1000, amount_paid: 1000 });
    const lines = invoice.lines.data.map((l) => ({
      amount: l.amount,
      description: l.description,
      proration: l.parent?.subscription_item_details?.proration,
      period: l.period,
    }));
    expect(lines).toEqual([
      {
        amount: -1000,
        description: 'Unused time on Premium after 11 Apr 2030',
        proration: true,
        period: { start: START + 10 * DAY, end: START + 30 * DAY },
      },
      {
        amount: 2000,
        description: 'Remaining time on Team after 11 Apr 2030',
        proration: true,
        period: { start: START + 10 * DAY, end: START + 30 * DAY },
      },
    ]);
    const credit = invoice.lines.data[0]!.parent!.subscription_item_details!.proration_details!.credited_items;
    expect(credit?.invoice).toBe(sub.latest_invoice);
    const types = await eventTypes(t.stripe, since);
    expect(types).toEqual(
      expect.arrayContaining(['invoice.created', 'invoice.finalized', 'invoice.paid', 'customer.subscription.updated']),
    );
    expect(types.filter((e) => e === 'customer.subscription.updated')).toHaveLength(1);
  });

  test('interval change (daily to monthly): the cycle restarts now, the new month is charged in full less the credit', async () => {
    const { clock, sub } = await subscribed(daily, 'pm_card_visa', { cancel_at_period_end: true });
    await advance(clock, START + 6 * HOUR);
    const now = START + 6 * HOUR;
    const preview = await t.stripe.invoices.createPreview({
      subscription: sub.id,
      subscription_details: {
        items: [{ id: itemOf(sub).id, price: monthly.id }],
        proration_behavior: 'always_invoice',
        proration_date: now,
      },
    });
    const updated = await t.stripe.subscriptions.update(sub.id, {
      items: [{ id: itemOf(sub).id, price: monthly.id }],
      proration_behavior: 'always_invoice',
      proration_date: now,
      payment_behavior: 'pending_if_incomplete',
    });
    expect(updated.billing_cycle_anchor).toBe(now);
    expect(itemOf(updated).current_period_start).toBe(now);
    expect(new Date(itemOf(updated).current_period_end * 1000).toISOString()).toBe('2030-05-01T06:00:00.000Z');
    expect(updated).toMatchObject({ cancel_at_period_end: true, cancel_at: itemOf(updated).current_period_end, pending_update: null });
    const invoice = await latestInvoice(updated);
    expect(invoice.lines.data.map((l) => [l.amount, l.parent?.subscription_item_details?.proration])).toEqual([
      [-225, true],
      [1500, false],
    ]);
    expect(invoice).toMatchObject({ status: 'paid', amount_paid: 1275 });
    // the preview was the invoice, to the cent
    expect(preview.id).toMatch(/^upcoming_in_/);
    expect(preview.amount_due).toBe(invoice.amount_due);
    expect(preview.lines.data.map((l) => [l.amount, l.description])).toEqual(invoice.lines.data.map((l) => [l.amount, l.description]));
    // and it changed nothing
    expect((await t.stripe.invoices.list({ subscription: sub.id })).data).toHaveLength(2);
  });

  test('create_prorations: nothing invoiced now; the prorations are on the next renewal invoice', async () => {
    const { clock, sub } = await subscribed(monthly);
    await advance(clock, START + 15 * DAY);
    const updated = await t.stripe.subscriptions.update(sub.id, { items: [{ id: itemOf(sub).id, price: monthlyPlus.id }] });
    expect(updated.latest_invoice).toBe(sub.latest_invoice);
    await advance(clock, START + 30 * DAY + HOUR);
    const renewal = await latestInvoice(await t.stripe.subscriptions.retrieve(sub.id));
    expect(renewal.billing_reason).toBe('subscription_cycle');
    expect(renewal.lines.data.map((l) => l.amount)).toEqual([-750, 1500, 3000]);
    expect(renewal.amount_paid).toBe(3750);
  });

  test('pending_if_incomplete with a declined card: nothing changes, pending_update waits; voiding its invoice discards it', async () => {
    const { clock, sub, customer } = await subscribed(monthly);
    const failing = await t.stripe.paymentMethods.attach('pm_card_chargeCustomerFail', { customer: customer.id });
    await t.stripe.subscriptions.update(sub.id, { default_payment_method: failing.id });
    await advance(clock, START + 10 * DAY);
    const target = sub;
    const updated = await t.stripe.subscriptions.update(target.id, {
      items: [{ id: itemOf(target).id, price: monthlyPlus.id }],
      proration_behavior: 'always_invoice',
      payment_behavior: 'pending_if_incomplete',
    });
    expect(itemOf(updated).price.id).toBe(monthly.id);
    expect(updated.status).toBe('active');
    expect(updated.pending_update?.subscription_items?.[0]?.price.id).toBe(monthlyPlus.id);
    const invoice = await latestInvoice(updated);
    expect(invoice.status).toBe('open');
    const since = await latestEventId(t.stripe);
    await t.stripe.invoices.voidInvoice(invoice.id);
    const after = await t.stripe.subscriptions.retrieve(target.id);
    expect(after).toMatchObject({ pending_update: null, status: 'active' });
    expect(itemOf(after).price.id).toBe(monthly.id);
    expect(await eventTypes(t.stripe, since)).toContain('customer.subscription.updated');
  });

  test('pending_if_incomplete with 3-D Secure: applied once the payment is authenticated; expires after 23 hours otherwise', async () => {
    const { clock, sub, customer } = await subscribed(monthly);
    const card = await t.stripe.paymentMethods.attach('pm_card_authenticationRequired', { customer: customer.id });
    await t.stripe.subscriptions.update(sub.id, { default_payment_method: card.id });
    const pending = await t.stripe.subscriptions.update(sub.id, {
      items: [{ id: itemOf(sub).id, price: monthlyPlus.id }],
      proration_behavior: 'always_invoice',
      payment_behavior: 'pending_if_incomplete',
      expand: ['latest_invoice.payments'],
    });
    expect(pending.pending_update?.expires_at).toBe(START + 23 * HOUR);
    const invoice = pending.latest_invoice as Stripe.Invoice;
    const intentId = invoice.payments!.data[0]!.payment.payment_intent as string;
    expect((await t.stripe.paymentIntents.retrieve(intentId)).status).toBe('requires_action');
    const since = await latestEventId(t.stripe);
    await t.stripe.rawRequest('POST', `/v1/test_helpers/payment_intents/${intentId}/authenticate`, { outcome: 'succeed' });
    const applied = await t.stripe.subscriptions.retrieve(sub.id);
    expect(applied.pending_update).toBeNull();
    expect(itemOf(applied).price.id).toBe(monthlyPlus.id);
    expect(await eventTypes(t.stripe, since)).toEqual(
      expect.arrayContaining(['invoice.paid', 'customer.subscription.pending_update_applied', 'customer.subscription.updated']),
    );

    // another change left unauthenticated expires
    const bigger = await t.stripe.prices.create({
      currency: 'usd',
      unit_amount: 5000,
      recurring: { interval: 'month' },
      product: monthlyPlus.product as string,
    });
    const again = await t.stripe.subscriptions.update(sub.id, {
      items: [{ id: itemOf(sub).id, price: bigger.id }],
      proration_behavior: 'always_invoice',
      payment_behavior: 'pending_if_incomplete',
    });
    expect(again.pending_update).not.toBeNull();
    const before = await latestEventId(t.stripe);
    await advance(clock, START + 24 * HOUR);
    const expired = await t.stripe.subscriptions.retrieve(sub.id);
    expect(expired.pending_update).toBeNull();
    expect(itemOf(expired).price.id).toBe(monthlyPlus.id);
    expect((await t.stripe.invoices.retrieve(again.latest_invoice as string)).status).toBe('void');
    expect(await eventTypes(t.stripe, before)).toContain('customer.subscription.pending_update_expired');
  });

  test('error_if_incomplete with a declined card: the card error, and nothing kept', async () => {
    const { sub, customer } = await subscribed(monthly);
    const failing = await t.stripe.paymentMethods.attach('pm_card_chargeCustomerFail', { customer: customer.id });
    await t.stripe.subscriptions.update(sub.id, { default_payment_method: failing.id });
    const err = await rejection<Stripe.errors.StripeCardError>(() =>
      t.stripe.subscriptions.update(sub.id, {
        items: [{ id: itemOf(sub).id, price: monthlyPlus.id }],
        proration_behavior: 'always_invoice',
        payment_behavior: 'error_if_incomplete',
      }),
    );
    expect(err).toMatchObject({ statusCode: 402, type: 'StripeCardError', code: 'card_declined' });
    const after = await t.stripe.subscriptions.retrieve(sub.id);
    expect(itemOf(after).price.id).toBe(monthly.id);
    expect(after.latest_invoice).toBe(sub.latest_invoice);
  });

  test('refusals: other parameters with pending_if_incomplete, adding items, a proration_date outside the period', async () => {
    const { sub } = await subscribed(monthly);
    const item = itemOf(sub).id;
    const withMeta = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.subscriptions.update(sub.id, {
        items: [{ id: item, price: monthlyPlus.id }],
        payment_behavior: 'pending_if_incomplete',
        metadata: { a: 'b' },
      }),
    );
    expect(withMeta).toMatchObject({ statusCode: 400, param: 'metadata' });
    const adding = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.subscriptions.update(sub.id, { items: [{ price: monthlyPlus.id }] }),
    );
    expect(adding).toMatchObject({ statusCode: 400, param: 'items' });
    const late = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.subscriptions.update(sub.id, { items: [{ id: item, price: monthlyPlus.id }], proration_date: START + 40 * DAY }),
    );
    expect(late).toMatchObject({ statusCode: 400, param: 'proration_date' });
    expect(itemOf(await t.stripe.subscriptions.retrieve(sub.id)).price.id).toBe(monthly.id);
  });
});

describe('subscription schedules', () => {
  test('a price change at the period end: from_subscription, a second phase, applied as the clock passes, then completed', async () => {
    const { clock, sub } = await subscribed(monthlyPlus);
    const since = await latestEventId(t.stripe);
    const schedule = await t.stripe.subscriptionSchedules.create({ from_subscription: sub.id });
    expect(schedule).toMatchObject({
      object: 'subscription_schedule',
      status: 'active',
      subscription: sub.id,
      end_behavior: 'release',
      current_phase: { start_date: START, end_date: START + 30 * DAY },
    });
    expect(schedule.phases).toHaveLength(1);
    expect((await t.stripe.subscriptions.retrieve(sub.id)).schedule).toBe(schedule.id);
    const refused = await rejection<Stripe.errors.StripeError>(() => t.stripe.subscriptions.update(sub.id, { cancel_at_period_end: true }));
    expect(refused.message).toMatch(/managed by the subscription schedule/);

    const updated = await t.stripe.subscriptionSchedules.update(schedule.id, {
      phases: [
        { items: [{ price: monthlyPlus.id, quantity: 1 }], start_date: START, end_date: START + 30 * DAY },
        { items: [{ price: monthly.id, quantity: 1 }], duration: { interval: 'month', interval_count: 1 } },
      ],
    });
    expect(updated.phases.map((p) => [p.start_date, p.end_date, p.items[0]?.price])).toEqual([
      [START, START + 30 * DAY, monthlyPlus.id],
      [START + 30 * DAY, START + 61 * DAY, monthly.id],
    ]);
    expect(await eventTypes(t.stripe, since)).toEqual(
      expect.arrayContaining(['subscription_schedule.created', 'customer.subscription.updated', 'subscription_schedule.updated']),
    );

    await advance(clock, START + 30 * DAY + HOUR);
    const moved = await t.stripe.subscriptions.retrieve(sub.id);
    expect(itemOf(moved)).toMatchObject({ price: { id: monthly.id }, current_period_start: START + 30 * DAY });
    const renewal = await latestInvoice(moved);
    expect(renewal).toMatchObject({ billing_reason: 'subscription_cycle', amount_paid: 1500 });
    expect((await t.stripe.subscriptionSchedules.retrieve(schedule.id)).current_phase?.start_date).toBe(START + 30 * DAY);

    await advance(clock, START + 61 * DAY + HOUR);
    const done = await t.stripe.subscriptionSchedules.retrieve(schedule.id);
    expect(done).toMatchObject({ status: 'completed', released_subscription: sub.id });
    const released = await t.stripe.subscriptions.retrieve(sub.id);
    expect(released).toMatchObject({ status: 'active', schedule: null });
    expect(itemOf(released).price.id).toBe(monthly.id);
  });

  test('a move to a daily price restarts the cycle at the phase start; end_behavior=cancel ends it after the last phase', async () => {
    const { clock, sub } = await subscribed(monthly);
    const schedule = await t.stripe.subscriptionSchedules.create({ from_subscription: sub.id });
    await t.stripe.subscriptionSchedules.update(schedule.id, {
      end_behavior: 'cancel',
      phases: [
        { items: [{ price: monthly.id }], start_date: START, end_date: START + 30 * DAY },
        { items: [{ price: daily.id }], duration: { interval: 'day' } },
      ],
    });
    await advance(clock, START + 30 * DAY + HOUR);
    const moved = await t.stripe.subscriptions.retrieve(sub.id);
    expect(moved).toMatchObject({ billing_cycle_anchor: START + 30 * DAY, cancel_at: START + 31 * DAY, status: 'active' });
    expect(itemOf(moved)).toMatchObject({
      price: { id: daily.id },
      current_period_start: START + 30 * DAY,
      current_period_end: START + 31 * DAY,
    });
    expect((await latestInvoice(moved)).amount_paid).toBe(300);
    await advance(clock, START + 32 * DAY);
    expect(await t.stripe.subscriptions.retrieve(sub.id)).toMatchObject({ status: 'canceled', ended_at: START + 31 * DAY });
    expect((await t.stripe.subscriptionSchedules.retrieve(schedule.id)).status).toBe('completed');
  });

  test('release leaves the subscription as it is; cancel ends it; list by customer', async () => {
    const { sub, customer } = await subscribed(monthlyPlus);
    const schedule = await t.stripe.subscriptionSchedules.create({ from_subscription: sub.id });
    await t.stripe.subscriptionSchedules.update(schedule.id, {
      phases: [{ items: [{ price: monthlyPlus.id }], start_date: START, end_date: START + 30 * DAY }, { items: [{ price: monthly.id }] }],
    });
    const listed = await t.stripe.subscriptionSchedules.list({ customer: customer.id });
    expect(listed.data.map((s) => s.id)).toEqual([schedule.id]);
    const released = await t.stripe.subscriptionSchedules.release(schedule.id);
    expect(released).toMatchObject({ status: 'released', subscription: null, released_subscription: sub.id });
    const after = await t.stripe.subscriptions.retrieve(sub.id);
    expect(after.schedule).toBeNull();
    expect(itemOf(after).price.id).toBe(monthlyPlus.id);
    const again = await rejection<Stripe.errors.StripeError>(() => t.stripe.subscriptionSchedules.release(schedule.id));
    expect(again.statusCode).toBe(400);

    const second = await t.stripe.subscriptionSchedules.create({ from_subscription: sub.id });
    const canceled = await t.stripe.subscriptionSchedules.cancel(second.id);
    expect(canceled.status).toBe('canceled');
    expect((await t.stripe.subscriptions.retrieve(sub.id)).status).toBe('canceled');
  });
});
