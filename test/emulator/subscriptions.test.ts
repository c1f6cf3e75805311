import type Stripe from 'stripe';
import { eventTypes, latestEventId, raw, rejection, startTestEmulator, type TestEmulator } from './support';

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

/** A customer with `card` saved as its invoices' default payment method. */
async function customerWith(card = 'pm_card_visa', params: Stripe.CustomerCreateParams = {}) {
  const customer = await t.stripe.customers.create({ email: 'sub@example.com', ...params });
  const pm = await t.stripe.paymentMethods.attach(card, { customer: customer.id });
  await t.stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: pm.id } });
  return { customer, pm };
}

const invoiceOf = (s: Stripe.Subscription) => s.latest_invoice as Stripe.Invoice;

async function intentOf(invoiceId: string): Promise<Stripe.PaymentIntent> {
  const invoice = await t.stripe.invoices.retrieve(invoiceId, { expand: ['payments'] });
  const payment = invoice.payments?.data.find((p) => p.payment.type === 'payment_intent');
  return t.stripe.paymentIntents.retrieve(payment?.payment.payment_intent as string);
}

describe('creating a subscription', () => {
  test('paid at once from the default payment method: active, periods on the items, a paid invoice linked to its payment', async () => {
    const { customer, pm } = await customerWith();
    const since = await latestEventId(t.stripe);
    const sub = await t.stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
      default_payment_method: pm.id,
      metadata: { plan: 'premium' },
      expand: ['latest_invoice.payments', 'latest_invoice.confirmation_secret', 'customer'],
    });
    expect(sub).toMatchObject({
      object: 'subscription',
      status: 'active',
      cancel_at_period_end: false,
      cancel_at: null,
      canceled_at: null,
      ended_at: null,
      metadata: { plan: 'premium' },
      default_payment_method: pm.id,
      currency: 'usd',
      test_clock: null,
    });
    expect(sub.id).toMatch(/^sub_/);
    expect((sub.customer as Stripe.Customer).id).toBe(customer.id);
    const item = sub.items.data[0] as Stripe.SubscriptionItem;
    expect(item).toMatchObject({
      object: 'subscription_item',
      quantity: 1,
      subscription: sub.id,
      price: { id: monthly.id },
      plan: { id: monthly.id, interval: 'month', amount: 1500 },
    });
    expect(item.current_period_start).toBe(sub.start_date);
    const start = new Date(item.current_period_start * 1000);
    const end = new Date(item.current_period_end * 1000);
    expect(end.getUTCFullYear() * 12 + end.getUTCMonth() - (start.getUTCFullYear() * 12 + start.getUTCMonth())).toBe(1);
    expect(end.toISOString().slice(11)).toBe(start.toISOString().slice(11));

    const invoice = invoiceOf(sub);
    expect(invoice).toMatchObject({
      object: 'invoice',
      status: 'paid',
      billing_reason: 'subscription_create',
      amount_due: 1500,
      amount_paid: 1500,
      amount_remaining: 0,
      currency: 'usd',
      customer: customer.id,
      attempted: true,
      attempt_count: 1,
    });
    expect(invoice.parent?.subscription_details?.subscription).toBe(sub.id);
    expect(invoice.number).toMatch(/^[A-Z0-9]+-0001$/);
    expect(invoice.status_transitions.paid_at).toBe(sub.created);
    expect(invoice.lines.data[0]).toMatchObject({
      amount: 1500,
      period: { start: item.current_period_start, end: item.current_period_end },
      parent: { subscription_item_details: { subscription_item: item.id } },
    });
    expect(invoice.lines.data[0]?.description).toBe('1 × Premium (at $15.00 / month)');
    const payment = invoice.payments?.data[0] as Stripe.InvoicePayment;
    expect(payment).toMatchObject({
      object: 'invoice_payment',
      status: 'paid',
      amount_paid: 1500,
      amount_requested: 1500,
      invoice: invoice.id,
      is_default: true,
      payment: { type: 'payment_intent' },
    });
    const pi = await t.stripe.paymentIntents.retrieve(payment.payment.payment_intent as string);
    expect(pi).toMatchObject({
      status: 'succeeded',
      amount: 1500,
      customer: customer.id,
      payment_method: pm.id,
      description: 'Subscription creation',
    });
    expect(invoice.confirmation_secret).toEqual({ client_secret: pi.client_secret, type: 'payment_intent' });

    // the includable fields are absent unless expanded
    const plain = await t.stripe.invoices.retrieve(invoice.id);
    expect(plain.payments).toBeUndefined();
    expect(plain.confirmation_secret).toBeUndefined();
    expect((await t.stripe.invoicePayments.list({ invoice: invoice.id })).data.map((p) => p.id)).toEqual([payment.id]);

    const types = await eventTypes(t.stripe, since);
    expect(types).toEqual(
      expect.arrayContaining([
        'invoice.created',
        'invoice.finalized',
        'payment_intent.created',
        'charge.succeeded',
        'payment_intent.succeeded',
        'invoice.paid',
        'invoice.payment_succeeded',
        'customer.subscription.created',
      ]),
    );
    expect(types).not.toContain('invoice.payment_failed');
  });

  test('the customer’s invoice_settings.default_payment_method pays when the subscription names none', async () => {
    const { customer } = await customerWith('pm_card_mastercard');
    const sub = await t.stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id, quantity: 2 }],
      expand: ['latest_invoice'],
    });
    expect(sub.status).toBe('active');
    expect(sub.default_payment_method).toBeNull();
    expect(invoiceOf(sub)).toMatchObject({ status: 'paid', amount_paid: 3000 });
  });

  test('declined with allow_incomplete (the default): incomplete, invoice open, its PaymentIntent requires_payment_method with the error', async () => {
    const { customer } = await customerWith('pm_card_chargeCustomerFail');
    const since = await latestEventId(t.stripe);
    const sub = await t.stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
      expand: ['latest_invoice.payments'],
    });
    expect(sub.status).toBe('incomplete');
    expect(invoiceOf(sub)).toMatchObject({ status: 'open', amount_paid: 0, amount_remaining: 1500, attempt_count: 1 });
    const pi = await intentOf(invoiceOf(sub).id);
    expect(pi.status).toBe('requires_payment_method');
    expect(pi.last_payment_error).toMatchObject({ type: 'card_error', code: 'card_declined', decline_code: 'generic_decline' });
    expect(await eventTypes(t.stripe, since)).toEqual(
      expect.arrayContaining(['charge.failed', 'payment_intent.payment_failed', 'invoice.payment_failed', 'customer.subscription.created']),
    );

    // paying the invoice with another card activates it
    const visa = await t.stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    const paid = await t.stripe.invoices.pay(invoiceOf(sub).id, { payment_method: visa.id });
    expect(paid).toMatchObject({ status: 'paid', amount_paid: 1500, attempt_count: 2 });
    expect((await t.stripe.subscriptions.retrieve(sub.id)).status).toBe('active');
  });

  test('declined with error_if_incomplete: 402 card error and no subscription', async () => {
    const { customer } = await customerWith('pm_card_chargeCustomerFail');
    const err = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }], payment_behavior: 'error_if_incomplete' }),
    );
    expect(err.statusCode).toBe(402);
    expect(err).toMatchObject({ type: 'StripeCardError', code: 'card_declined', decline_code: 'generic_decline' });
    expect((await t.stripe.subscriptions.list({ customer: customer.id, status: 'all' })).data).toEqual([]);
    expect((await t.stripe.invoices.list({ customer: customer.id })).data).toEqual([]);
  });

  test('3-D Secure: incomplete with the PaymentIntent requires_action; authenticating pays the invoice and activates it', async () => {
    const { customer, pm } = await customerWith('pm_card_authenticationRequiredOnSetup');
    const sub = await t.stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
      default_payment_method: pm.id,
      expand: ['latest_invoice.confirmation_secret'],
    });
    expect(sub.status).toBe('incomplete');
    const pi = await intentOf(invoiceOf(sub).id);
    expect(pi.status).toBe('requires_action');
    // Stripe confirmed it without a return_url: an action for Stripe.js, or a confirm with a return_url for a page.
    expect(pi.next_action?.type).toBe('use_stripe_sdk');
    expect(invoiceOf(sub).confirmation_secret?.client_secret).toBe(pi.client_secret);

    const since = await latestEventId(t.stripe);
    await t.stripe.rawRequest('POST', `/v1/test_helpers/payment_intents/${pi.id}/authenticate`, { outcome: 'succeed' });
    const after = await t.stripe.subscriptions.retrieve(sub.id, { expand: ['latest_invoice'] });
    expect(after.status).toBe('active');
    expect(invoiceOf(after).status).toBe('paid');
    const events = await t.stripe.events.list({ type: 'customer.subscription.updated', limit: 1 });
    expect(events.data[0]?.data.object).toMatchObject({ id: sub.id, status: 'active' });
    expect(events.data[0]?.data.previous_attributes).toEqual({ status: 'incomplete' });
    expect(await eventTypes(t.stripe, since)).toEqual(
      expect.arrayContaining(['payment_intent.succeeded', 'invoice.paid', 'invoice.payment_succeeded', 'customer.subscription.updated']),
    );
  });

  test('default_incomplete: the client confirms the first invoice’s PaymentIntent', async () => {
    const customer = await t.stripe.customers.create({ email: 'client@example.com' });
    const sub = await t.stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
      payment_behavior: 'default_incomplete',
      expand: ['latest_invoice.confirmation_secret'],
    });
    expect(sub.status).toBe('incomplete');
    const secret = invoiceOf(sub).confirmation_secret?.client_secret as string;
    const piId = secret.split('_secret_')[0] as string;
    expect((await t.stripe.paymentIntents.retrieve(piId)).status).toBe('requires_payment_method');
    const confirmed = await t.stripe.paymentIntents.confirm(piId, { payment_method: 'pm_card_visa' });
    expect(confirmed.status).toBe('succeeded');
    expect((await t.stripe.subscriptions.retrieve(sub.id)).status).toBe('active');
    // setup_future_usage on the first payment saved the card on the customer
    expect((await t.stripe.customers.listPaymentMethods(customer.id)).data).toHaveLength(1);
  });

  test('default_incomplete with payment_settings[save_default_payment_method]=on_subscription: the confirmed card becomes the default and pays the renewal', async () => {
    const clock = await t.stripe.testHelpers.testClocks.create({ frozen_time: Math.floor(Date.UTC(2031, 0, 10) / 1000) });
    const customer = await t.stripe.customers.create({ email: 'save@example.com', test_clock: clock.id });
    const sub = await t.stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
      payment_behavior: 'default_incomplete',
      payment_settings: { save_default_payment_method: 'on_subscription', payment_method_types: ['card'] },
      expand: ['latest_invoice.confirmation_secret'],
    });
    expect(sub).toMatchObject({
      status: 'incomplete',
      default_payment_method: null,
      payment_settings: { save_default_payment_method: 'on_subscription' },
    });
    const piId = (invoiceOf(sub).confirmation_secret?.client_secret as string).split('_secret_')[0] as string;
    const confirmed = await t.stripe.paymentIntents.confirm(piId, { payment_method: 'pm_card_visa' });
    const active = await t.stripe.subscriptions.retrieve(sub.id);
    expect(active).toMatchObject({ status: 'active', default_payment_method: confirmed.payment_method });
    const updated = (await t.stripe.events.list({ type: 'customer.subscription.updated', limit: 1 })).data[0];
    expect(updated?.data.previous_attributes).toEqual({ status: 'incomplete', default_payment_method: null });
    // the customer has no invoice default: the renewal is paid with the subscription's saved method
    const end = active.items.data[0]?.current_period_end as number;
    await t.stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: end + 60 });
    expect(await t.stripe.subscriptions.retrieve(sub.id, { expand: ['latest_invoice'] })).toMatchObject({
      status: 'active',
      latest_invoice: { billing_reason: 'subscription_cycle', status: 'paid' },
    });

    // without it (the default, off) the subscription keeps no default and the renewal fails
    const other = await t.stripe.customers.create({ email: 'nosave@example.com', test_clock: clock.id });
    const plain = await t.stripe.subscriptions.create({
      customer: other.id,
      items: [{ price: monthly.id }],
      payment_behavior: 'default_incomplete',
      expand: ['latest_invoice.confirmation_secret'],
    });
    expect(plain.payment_settings?.save_default_payment_method).toBe('off');
    await t.stripe.paymentIntents.confirm((invoiceOf(plain).confirmation_secret?.client_secret as string).split('_secret_')[0] as string, {
      payment_method: 'pm_card_visa',
    });
    expect(await t.stripe.subscriptions.retrieve(plain.id)).toMatchObject({ status: 'active', default_payment_method: null });
    const plainEnd = plain.items.data[0]?.current_period_end as number;
    await t.stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: plainEnd + 120 });
    expect((await t.stripe.subscriptions.retrieve(plain.id)).status).toBe('past_due');
  });

  test('items sent as items[][price] (how other clients encode arrays) work as items[0][price]', async () => {
    const { customer } = await customerWith();
    const res = await raw(t.em, 'POST', '/v1/subscriptions', {
      body: `customer=${customer.id}&items[][price]=${monthly.id}&items[][quantity]=2&metadata[via]=rack`,
    });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      object: 'subscription',
      status: 'active',
      metadata: { via: 'rack' },
      items: { data: [{ price: { id: monthly.id }, quantity: 2 }] },
    });
  });

  test('refusals: no payment method, a one-time price, a payment method of someone else', async () => {
    const bare = await t.stripe.customers.create({});
    const noPm = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.subscriptions.create({ customer: bare.id, items: [{ price: monthly.id }] }),
    );
    expect(noPm.statusCode).toBe(400);
    expect(noPm.message).toMatch(/no attached payment source or default payment method/);
    const oneTime = await t.stripe.prices.create({ currency: 'usd', unit_amount: 100, product_data: { name: 'Once' } });
    const { customer } = await customerWith();
    const once = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: oneTime.id }] }),
    );
    expect(once).toMatchObject({ statusCode: 400, param: 'items[0][price]' });
    const other = await customerWith();
    const foreign = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }], default_payment_method: other.pm.id }),
    );
    expect(foreign).toMatchObject({ statusCode: 400, param: 'default_payment_method' });
    const trial = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }], trial_from_plan: true }),
    );
    expect(trial).toMatchObject({ statusCode: 400, param: 'trial_from_plan' });
  });

  test('idempotent creation replays the same subscription', async () => {
    const { customer } = await customerWith();
    const params = { customer: customer.id, items: [{ price: monthly.id }] };
    const a = await t.stripe.subscriptions.create(params, { idempotencyKey: `sub-${customer.id}` });
    const b = await t.stripe.subscriptions.create(params, { idempotencyKey: `sub-${customer.id}` });
    expect(b.id).toBe(a.id);
    expect((await t.stripe.subscriptions.list({ customer: customer.id })).data).toHaveLength(1);
  });
});

describe('updating, canceling, listing', () => {
  test('cancel_at_period_end sets cancel_at and canceled_at; turning it off clears them', async () => {
    const { customer } = await customerWith();
    const sub = await t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }] });
    const end = sub.items.data[0]?.current_period_end;
    const canceled = await t.stripe.subscriptions.update(sub.id, { cancel_at_period_end: true, metadata: { why: 'too expensive' } });
    expect(canceled).toMatchObject({
      status: 'active',
      cancel_at_period_end: true,
      cancel_at: end,
      metadata: { why: 'too expensive' },
      cancellation_details: { reason: 'cancellation_requested' },
    });
    expect(canceled.canceled_at).toEqual(expect.any(Number));
    const event = (await t.stripe.events.list({ type: 'customer.subscription.updated', limit: 1 })).data[0];
    expect(event?.data.previous_attributes).toMatchObject({
      cancel_at_period_end: false,
      cancel_at: null,
      canceled_at: null,
      metadata: {},
    });
    const resumed = await t.stripe.subscriptions.update(sub.id, { cancel_at_period_end: false });
    expect(resumed).toMatchObject({ cancel_at_period_end: false, cancel_at: null, canceled_at: null });
  });

  test('changing the default payment method', async () => {
    const { customer } = await customerWith();
    const sub = await t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }] });
    const mc = await t.stripe.paymentMethods.attach('pm_card_mastercard', { customer: customer.id });
    expect((await t.stripe.subscriptions.update(sub.id, { default_payment_method: mc.id })).default_payment_method).toBe(mc.id);
  });

  test('DELETE cancels now: canceled, canceled_at, ended_at, customer.subscription.deleted; then only metadata changes', async () => {
    const { customer } = await customerWith();
    const sub = await t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }] });
    const canceled = await t.stripe.subscriptions.cancel(sub.id, { cancellation_details: { comment: 'moving on', feedback: 'unused' } });
    expect(canceled).toMatchObject({
      status: 'canceled',
      cancellation_details: { comment: 'moving on', feedback: 'unused', reason: 'cancellation_requested' },
    });
    expect(canceled.ended_at).toBe(canceled.canceled_at);
    expect(canceled.ended_at).toEqual(expect.any(Number));
    const deleted = (await t.stripe.events.list({ type: 'customer.subscription.deleted', limit: 1 })).data[0];
    expect(deleted?.data.object).toMatchObject({ id: sub.id, status: 'canceled' });
    const again = await rejection<Stripe.errors.StripeError>(() => t.stripe.subscriptions.cancel(sub.id));
    expect(again).toMatchObject({ statusCode: 404, code: 'resource_missing', message: `No such subscription: '${sub.id}'` });
    const refused = await rejection<Stripe.errors.StripeError>(() => t.stripe.subscriptions.update(sub.id, { cancel_at_period_end: true }));
    expect(refused.message).toBe('A canceled subscription can only update its cancellation_details and metadata.');
    expect((await t.stripe.subscriptions.update(sub.id, { metadata: { note: 'x' } })).metadata).toEqual({ note: 'x' });
  });

  test('an invoice marked uncollectible shows why, and can still be paid (or voided)', async () => {
    const { customer } = await customerWith('pm_card_chargeCustomerFail');
    const sub = await t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }] });
    const since = await latestEventId(t.stripe);
    const written = await t.stripe.invoices.markUncollectible(sub.latest_invoice as string);
    expect(written).toMatchObject({
      status: 'uncollectible',
      status_details: { uncollectible: { reason: 'user_forgiven' } },
      status_transitions: { marked_uncollectible_at: expect.any(Number) },
    });
    expect(await eventTypes(t.stripe, since)).toEqual(['invoice.marked_uncollectible']);
    const visa = await t.stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    const paid = await t.stripe.invoices.pay(written.id, { payment_method: visa.id });
    expect(paid).toMatchObject({ status: 'paid', amount_paid: 1500 });
    expect(paid.status_details).toBeUndefined();
    expect((await t.stripe.subscriptions.retrieve(sub.id)).status).toBe('active');

    const other = await t.stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
      default_payment_method: (await t.stripe.paymentMethods.attach('pm_card_chargeCustomerFail', { customer: customer.id })).id,
    });
    await t.stripe.invoices.markUncollectible(other.latest_invoice as string);
    const voided = await t.stripe.invoices.voidInvoice(other.latest_invoice as string);
    expect(voided.status).toBe('void');
    expect(voided.status_details).toBeUndefined();
    expect((await rejection<Stripe.errors.StripeError>(() => t.stripe.invoices.pay(voided.id))).message).toBe(
      'You can only pay an open or uncollectible invoice. This invoice has a status of void.',
    );
  });

  test('canceling an incomplete subscription voids its first invoice', async () => {
    const { customer } = await customerWith('pm_card_chargeCustomerFail');
    const sub = await t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }] });
    await t.stripe.subscriptions.cancel(sub.id);
    const invoice = await t.stripe.invoices.retrieve(sub.latest_invoice as string, { expand: ['payments'] });
    expect(invoice.status).toBe('void');
    expect(invoice.payments?.data[0]?.status).toBe('canceled');
    expect((await intentOf(invoice.id)).status).toBe('canceled');
  });

  test('list by customer, status (default hides canceled; all), price', async () => {
    const { customer } = await customerWith();
    const yearly = await t.stripe.prices.create({
      currency: 'usd',
      unit_amount: 9900,
      recurring: { interval: 'year' },
      product_data: { name: 'Yearly' },
    });
    const a = await t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }] });
    const b = await t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: yearly.id }] });
    await t.stripe.subscriptions.cancel(a.id);
    expect((await t.stripe.subscriptions.list({ customer: customer.id })).data.map((s) => s.id)).toEqual([b.id]);
    expect((await t.stripe.subscriptions.list({ customer: customer.id, status: 'all' })).data.map((s) => s.id)).toEqual([b.id, a.id]);
    expect((await t.stripe.subscriptions.list({ customer: customer.id, status: 'canceled' })).data.map((s) => s.id)).toEqual([a.id]);
    expect((await t.stripe.subscriptions.list({ customer: customer.id, price: yearly.id })).data.map((s) => s.id)).toEqual([b.id]);
    expect((await t.stripe.invoices.list({ customer: customer.id })).data).toHaveLength(2);
    expect((await t.stripe.invoices.list({ subscription: b.id })).data.map((i) => i.amount_paid)).toEqual([9900]);
    const withSubs = await t.stripe.customers.retrieve(customer.id, { expand: ['subscriptions'] });
    expect((withSubs as Stripe.Customer).subscriptions?.data.map((s) => s.id)).toEqual([b.id]);
  });

  test('deleting the customer cancels its subscriptions at once', async () => {
    const { customer } = await customerWith();
    const sub = await t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }] });
    await t.stripe.customers.del(customer.id);
    expect(await t.stripe.subscriptions.retrieve(sub.id)).toMatchObject({
      status: 'canceled',
      cancellation_details: { reason: 'cancellation_requested' },
    });
    const deleted = (await t.stripe.events.list({ type: 'customer.subscription.deleted', limit: 1 })).data[0];
    expect((deleted?.data.object as Stripe.Subscription).id).toBe(sub.id);
  });

  test('unknown subscription: Stripe’s 404', async () => {
    const err = await rejection<Stripe.errors.StripeError>(() => t.stripe.subscriptions.retrieve('sub_nope'));
    expect(err).toMatchObject({ statusCode: 404, code: 'resource_missing', message: "No such subscription: 'sub_nope'" });
  });
});
