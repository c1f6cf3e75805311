import type Stripe from 'stripe';
import type { Trigger } from './index';

const NOTE = '(created by stripe:trigger)';

async function monthlyPrice(stripe: Stripe): Promise<Stripe.Price> {
  return stripe.prices.create({
    currency: 'usd',
    unit_amount: 2000,
    recurring: { interval: 'month' },
    product_data: { name: 'Triggered subscription' },
  });
}

/** A customer whose invoices are paid with `card` (attached and set as its default payment method). */
async function customerPaying(stripe: Stripe, card = 'pm_card_visa'): Promise<Stripe.Customer> {
  const customer = await stripe.customers.create({ description: NOTE, email: 'trigger@example.com' });
  const pm = await stripe.paymentMethods.attach(card, { customer: customer.id });
  return stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: pm.id } });
}

async function paidSubscription(stripe: Stripe): Promise<Stripe.Subscription> {
  const [price, customer] = await Promise.all([monthlyPrice(stripe), customerPaying(stripe)]);
  return stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }], metadata: { triggered: 'true' } });
}

async function failedSubscription(stripe: Stripe): Promise<void> {
  const [price, customer] = await Promise.all([monthlyPrice(stripe), customerPaying(stripe, 'pm_card_chargeCustomerFail')]);
  await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
}

async function openSession(stripe: Stripe): Promise<Stripe.Checkout.Session> {
  return stripe.checkout.sessions.create({
    mode: 'payment',
    line_items: [{ price_data: { currency: 'usd', unit_amount: 3000, product_data: { name: 'Triggered purchase' } }, quantity: 1 }],
    success_url: 'http://localhost/success?session_id={CHECKOUT_SESSION_ID}',
    cancel_url: 'http://localhost/cancel',
  });
}

const paid: Trigger = {
  description: 'creates a customer paying with pm_card_visa and a monthly subscription (first invoice paid)',
  run: async (s) => void (await paidSubscription(s)),
};

export const BILLING_TRIGGERS: Record<string, Trigger> = {
  'customer.subscription.created': paid,
  'invoice.created': paid,
  'invoice.finalized': paid,
  'invoice.paid': paid,
  'invoice.payment_succeeded': paid,
  'customer.subscription.updated': {
    description: 'creates a monthly subscription, then sets it to cancel at the period end',
    run: async (s) => {
      const sub = await paidSubscription(s);
      await s.subscriptions.update(sub.id, { cancel_at_period_end: true });
    },
  },
  'customer.subscription.deleted': {
    description: 'creates a monthly subscription, then cancels it',
    run: async (s) => {
      const sub = await paidSubscription(s);
      await s.subscriptions.cancel(sub.id);
    },
  },
  'customer.subscription.trial_will_end': {
    description: 'creates a monthly subscription with a one-day trial: the trial ends in under three days, so it is announced at once',
    run: async (s) => {
      const [price, customer] = await Promise.all([monthlyPrice(s), customerPaying(s)]);
      await s.subscriptions.create({ customer: customer.id, items: [{ price: price.id }], trial_period_days: 1 });
    },
  },
  'invoice.payment_failed': {
    description: 'creates a subscription for a customer whose card is declined (pm_card_chargeCustomerFail): incomplete',
    run: failedSubscription,
  },
  'checkout.session.completed': {
    description: 'creates a payment-mode Checkout Session and pays it with 4242 4242 4242 4242',
    run: async (s) => {
      const session = await openSession(s);
      await s.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${session.id}/complete`, {
        card_number: '4242424242424242',
        email: 'trigger@example.com',
      });
    },
  },
  'checkout.session.expired': {
    description: 'creates a Checkout Session, then expires it',
    run: async (s) => {
      const session = await openSession(s);
      await s.checkout.sessions.expire(session.id);
    },
  },
  'test_helpers.test_clock.ready': {
    description: 'creates a test clock and advances it by one day',
    run: async (s) => {
      const now = Math.floor(Date.now() / 1000);
      const clock = await s.testHelpers.testClocks.create({ frozen_time: now, name: 'stripe:trigger' });
      await s.testHelpers.testClocks.advance(clock.id, { frozen_time: now + 86400 });
    },
  },
};
