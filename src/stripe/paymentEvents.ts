import type Stripe from 'stripe';
import type { BillingEnv } from '../billing/env';
import { syncPaymentCheckout, syncPaymentIntent } from '../billing/paymentSync';
import { stripeId } from '../billing/subscriptionSync';
import { callStripe } from './errors';
import { registerCheckoutHandler, registerHandler, type EventHandler } from './eventHandlers';

/**
 * The payment events. Each is a signal: the PaymentIntent it is about (directly, or through its charge,
 * refund or dispute) is re-fetched from Stripe and applied to our payment, with every change logged in
 * the payment's log in the event's transaction.
 */

const source = (event: Stripe.Event) => `webhook ${event.type} ${event.id}`;

/** The PaymentIntent a charge, refund or dispute belongs to (asking Stripe for the charge when the object does not say). */
async function intentOf(
  env: BillingEnv,
  object: { payment_intent?: string | Stripe.PaymentIntent | null; charge?: string | Stripe.Charge | null },
): Promise<string | null> {
  const direct = stripeId(object.payment_intent);
  if (direct) return direct;
  const chargeId = stripeId(object.charge);
  if (!chargeId) return null;
  const charge = await callStripe(() => env.stripe.charges.retrieve(chargeId), env);
  return stripeId(charge.payment_intent);
}

const byIntent: EventHandler = async (em, env, event) => {
  const object = event.data.object as { id: string; object: string; payment_intent?: string | null; charge?: string | null };
  if (object.object === 'payment_intent') return syncPaymentIntent(em, env, object.id, source(event), object as Stripe.PaymentIntent);
  const intentId = await intentOf(env, object);
  if (!intentId) return `${object.object} ${object.id} belongs to no PaymentIntent`;
  return syncPaymentIntent(em, env, intentId, source(event));
};

registerHandler(
  [
    'payment_intent.succeeded',
    'payment_intent.payment_failed',
    'payment_intent.canceled',
    'payment_intent.amount_capturable_updated',
    'payment_intent.requires_action',
    'charge.refunded',
    'refund.created',
    'charge.dispute.created',
  ],
  byIntent,
);

registerCheckoutHandler('payment', async (em, env, event) => {
  const session = event.data.object as Stripe.Checkout.Session;
  const payment = await syncPaymentCheckout(em, env, session.id, source(event));
  return payment
    ? `payment ${payment.id} synced from checkout ${session.id}: ${payment.status}`
    : `checkout ${session.id} is not one of ours`;
});
