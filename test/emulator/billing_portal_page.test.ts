import type Stripe from 'stripe';
import { portalPrices, subscribedCustomer, tollgateFeatures, visit } from './portalFixture';
import { eventTypes, raw, startTestEmulator, type TestEmulator } from './support';

let t: TestEmulator;
let basic: Stripe.Price;
let premium: Stripe.Price;
beforeAll(async () => {
  t = await startTestEmulator();
  ({ basic, premium } = await portalPrices(t));
});
afterAll(() => t.em.stop());

const submit = (url: string, action: string, form: Record<string, string>) =>
  raw(t.em, 'POST', `${new URL(url).pathname}${action}`, { auth: null, body: new URLSearchParams(form).toString() });

describe('what the customer does on the page', () => {
  let config: Stripe.BillingPortal.Configuration;
  beforeAll(async () => {
    config = await t.stripe.billingPortal.configurations.create({ features: tollgateFeatures({ basic, premium }) });
  });

  test('cancel at period end with a reason, then renew: the subscription and its events, as a customer action', async () => {
    const { customer, sub } = await subscribedCustomer(t, basic);
    const session = await t.stripe.billingPortal.sessions.create({ customer: customer.id, configuration: config.id });
    const since = (await t.stripe.events.list({ limit: 1 })).data[0]!.id;
    const canceled = await submit(session.url, `/subscriptions/${sub.id}/cancel`, { reason: 'too_expensive', comment: 'Costs too much' });
    expect(canceled.status).toBe(303);
    expect(canceled.headers.location).toMatch(/\?done=canceled$/);
    let after = await t.stripe.subscriptions.retrieve(sub.id);
    expect(after).toMatchObject({
      cancel_at_period_end: true,
      cancel_at: after.items.data[0]!.current_period_end,
      cancellation_details: { reason: 'cancellation_requested', feedback: 'too_expensive', comment: 'Costs too much' },
    });
    const page = await visit(t, session.url);
    expect(page.text).toContain('Cancels on');
    expect(page.text).toContain('Renew plan');

    await submit(session.url, `/subscriptions/${sub.id}/renew`, {});
    after = await t.stripe.subscriptions.retrieve(sub.id);
    expect(after).toMatchObject({ cancel_at_period_end: false, cancel_at: null, cancellation_details: { reason: null, feedback: null } });
    expect(await eventTypes(t.stripe, since)).toEqual(['customer.subscription.updated', 'customer.subscription.updated']);
    const [latest] = (await t.stripe.events.list({ limit: 1 })).data;
    expect(latest!.request).toEqual({ id: null, idempotency_key: null });
  });

  test("another customer's subscription cannot be touched through a session", async () => {
    const mine = await subscribedCustomer(t, basic);
    const theirs = await subscribedCustomer(t, basic);
    const session = await t.stripe.billingPortal.sessions.create({ customer: mine.customer.id, configuration: config.id });
    const res = await submit(session.url, `/subscriptions/${theirs.sub.id}/cancel`, {});
    expect(res.status).toBe(400);
    expect(res.text).toContain('This subscription cannot be managed here.');
    expect((await t.stripe.subscriptions.retrieve(theirs.sub.id)).cancel_at_period_end).toBe(false);
  });

  test('replace the card: attached, the default for invoices and for the subscription', async () => {
    const { customer, sub, pm } = await subscribedCustomer(t, basic);
    const session = await t.stripe.billingPortal.sessions.create({ customer: customer.id, configuration: config.id });
    const since = (await t.stripe.events.list({ limit: 1 })).data[0]!.id;
    const res = await submit(session.url, '/payment_method', {
      cardNumber: '5555 5555 5555 4444',
      cardExpiry: '12 / 34',
      cardCvc: '123',
      billingName: 'Ada Lovelace',
    });
    expect(res.status).toBe(303);
    const fresh = await t.stripe.customers.retrieve(customer.id);
    const newPm = (fresh as Stripe.Customer).invoice_settings.default_payment_method as string;
    expect(newPm).not.toBe(pm.id);
    expect(await t.stripe.paymentMethods.retrieve(newPm)).toMatchObject({
      customer: customer.id,
      card: { brand: 'mastercard', last4: '4444', exp_month: 12, exp_year: 2034 },
      billing_details: { name: 'Ada Lovelace', email: 'ada@example.com' },
    });
    expect((await t.stripe.subscriptions.retrieve(sub.id)).default_payment_method).toBe(newPm);
    expect(await eventTypes(t.stripe, since)).toEqual(['payment_method.attached', 'customer.updated', 'customer.subscription.updated']);
    expect((await visit(t, session.url)).text).toContain('mastercard •••• 4444');
  });

  test('a card that cannot be saved, or a wrong number, shows why and changes nothing', async () => {
    const { customer, sub, pm } = await subscribedCustomer(t, basic);
    const session = await t.stripe.billingPortal.sessions.create({ customer: customer.id, configuration: config.id });
    const declined = await submit(session.url, '/payment_method', { cardNumber: '4000000000000002', cardExpiry: '12/34', cardCvc: '123' });
    expect(declined.status).toBe(402);
    expect(declined.text).toContain('Your card was declined.');
    const wrong = await submit(session.url, '/payment_method', { cardNumber: '4242424242424241', cardExpiry: '12/34', cardCvc: '123' });
    expect(wrong.text).toContain('Your card number is incorrect.');
    expect((await t.stripe.subscriptions.retrieve(sub.id)).default_payment_method).toBe(pm.id);
    expect((await t.stripe.customers.listPaymentMethods(customer.id)).data.map((p) => p.id)).toEqual([pm.id]);
  });

  test('the invoice list shows the finalized invoices, with links when they have them', async () => {
    const { customer } = await subscribedCustomer(t, basic);
    const session = await t.stripe.billingPortal.sessions.create({ customer: customer.id, configuration: config.id });
    const invoices = await t.stripe.invoices.list({ customer: customer.id });
    const page = await visit(t, session.url);
    for (const inv of invoices.data) {
      expect(page.text).toContain(`id="${inv.id}"`);
      if (inv.hosted_invoice_url) expect(page.text).toContain(`href="${inv.hosted_invoice_url}"`);
    }
    expect(page.text).toContain('$10.00');
  });
});
