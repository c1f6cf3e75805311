import type Stripe from 'stripe';
import type { Trigger } from './index';

const CARD_ONLY: Pick<Stripe.PaymentIntentCreateParams, 'allowed_payment_method_types'> = { allowed_payment_method_types: ['card'] };

async function succeededPayment(stripe: Stripe, paymentMethod = 'pm_card_visa'): Promise<Stripe.PaymentIntent> {
  return stripe.paymentIntents.create({
    amount: 2000,
    currency: 'usd',
    description: '(created by stripe:trigger)',
    payment_method: paymentMethod,
    confirm: true,
    ...CARD_ONLY,
  });
}

async function declinedPayment(stripe: Stripe): Promise<void> {
  try {
    await stripe.paymentIntents.create({
      amount: 2000,
      currency: 'usd',
      description: '(created by stripe:trigger)',
      payment_method: 'pm_card_chargeDeclined',
      confirm: true,
      ...CARD_ONLY,
    });
  } catch (err) {
    if ((err as { type?: string }).type !== 'StripeCardError') throw err;
    return;
  }
  throw new Error('expected the payment with pm_card_chargeDeclined to be declined');
}

async function authorized(stripe: Stripe): Promise<Stripe.PaymentIntent> {
  return stripe.paymentIntents.create({
    amount: 2000,
    currency: 'usd',
    capture_method: 'manual',
    payment_method: 'pm_card_visa',
    confirm: true,
    ...CARD_ONLY,
  });
}

export const PAYMENT_TRIGGERS: Record<string, Trigger> = {
  'customer.created': {
    description: 'creates a customer',
    run: async (s) => void (await s.customers.create({ description: '(created by stripe:trigger)' })),
  },
  'customer.updated': {
    description: 'creates a customer, then updates its metadata',
    run: async (s) => {
      const c = await s.customers.create({ description: '(created by stripe:trigger)' });
      await s.customers.update(c.id, { metadata: { triggered: 'true' } });
    },
  },
  'customer.deleted': {
    description: 'creates a customer, then deletes it',
    run: async (s) => {
      const c = await s.customers.create({ description: '(created by stripe:trigger)' });
      await s.customers.del(c.id);
    },
  },
  'product.created': { description: 'creates a product', run: async (s) => void (await s.products.create({ name: 'Triggered product' })) },
  'price.created': {
    description: 'creates a product and a one-time price',
    run: async (s) => void (await s.prices.create({ currency: 'usd', unit_amount: 1500, product_data: { name: 'Triggered product' } })),
  },
  'payment_method.attached': {
    description: 'creates a customer and attaches pm_card_visa',
    run: async (s) => {
      const c = await s.customers.create({ description: '(created by stripe:trigger)' });
      await s.paymentMethods.attach('pm_card_visa', { customer: c.id });
    },
  },
  'payment_intent.created': {
    description: 'creates a payment intent',
    run: async (s) => void (await s.paymentIntents.create({ amount: 2000, currency: 'usd', ...CARD_ONLY })),
  },
  'payment_intent.succeeded': { description: 'pays 20.00 USD with pm_card_visa', run: async (s) => void (await succeededPayment(s)) },
  'charge.succeeded': { description: 'pays 20.00 USD with pm_card_visa', run: async (s) => void (await succeededPayment(s)) },
  'payment_intent.payment_failed': { description: 'attempts a payment with pm_card_chargeDeclined', run: declinedPayment },
  'charge.failed': { description: 'attempts a payment with pm_card_chargeDeclined', run: declinedPayment },
  'payment_intent.canceled': {
    description: 'creates a payment intent, then cancels it',
    run: async (s) => {
      const pi = await s.paymentIntents.create({ amount: 2000, currency: 'usd', ...CARD_ONLY });
      await s.paymentIntents.cancel(pi.id);
    },
  },
  'payment_intent.requires_action': {
    description: 'confirms a payment with pm_card_authenticationRequired (3-D Secure)',
    run: async (s) =>
      void (await s.paymentIntents.create({
        amount: 2000,
        currency: 'usd',
        payment_method: 'pm_card_authenticationRequired',
        confirm: true,
        return_url: 'http://localhost/return',
        ...CARD_ONLY,
      })),
  },
  'payment_intent.amount_capturable_updated': {
    description: 'authorizes 20.00 USD (capture_method=manual)',
    run: async (s) => void (await authorized(s)),
  },
  'charge.captured': {
    description: 'authorizes 20.00 USD, then captures it',
    run: async (s) => {
      const pi = await authorized(s);
      await s.paymentIntents.capture(pi.id);
    },
  },
  'charge.refunded': {
    description: 'pays 20.00 USD, then refunds it',
    run: async (s) => {
      const pi = await succeededPayment(s);
      await s.refunds.create({ payment_intent: pi.id });
    },
  },
  'refund.created': {
    description: 'pays 20.00 USD, then refunds 5.00',
    run: async (s) => {
      const pi = await succeededPayment(s);
      await s.refunds.create({ payment_intent: pi.id, amount: 500 });
    },
  },
  'charge.dispute.created': {
    description: 'pays with pm_card_createDispute (the payment is disputed)',
    run: async (s) => void (await succeededPayment(s, 'pm_card_createDispute')),
  },
  'charge.dispute.closed': {
    description: 'pays with pm_card_createDispute, then accepts the dispute',
    run: async (s) => {
      const pi = await succeededPayment(s, 'pm_card_createDispute');
      const disputes = await s.disputes.list({ payment_intent: pi.id });
      const dispute = disputes.data[0];
      if (!dispute) throw new Error('no dispute was opened');
      await s.disputes.close(dispute.id);
    },
  },
};
