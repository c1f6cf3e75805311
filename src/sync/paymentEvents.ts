import type Stripe from 'stripe';
import type { BillingDeps } from '../billing/deps';
import { syncPaymentCheckout, syncPaymentIntent } from '../billing/payments/sync';
import { stripeId } from '../ids';
import { callStripe } from '../stripe/errors';
import type { EventHandler } from './handlers';

/**
 * The payment events. Each is a signal: the PaymentIntent it is about (directly, or through its charge,
 * refund or dispute) is re-fetched from Stripe and applied to our payment, with every change logged in
 * the payment's log in the event's transaction.
 */

const source = (event: Stripe.Event) => `webhook ${event.type} ${event.id}`;

/** The PaymentIntent a charge, refund or dispute belongs to (asking Stripe for the charge when the object does not say). */
async function intentOf(
  deps: BillingDeps,
  object: { payment_intent?: string | Stripe.PaymentIntent | null; charge?: string | Stripe.Charge | null },
): Promise<string | null> {
  const direct = stripeId(object.payment_intent);
  if (direct) return direct;
  const chargeId = stripeId(object.charge);
  if (!chargeId) return null;
  const charge = await callStripe(() => deps.stripe.charges.retrieve(chargeId), deps);
  return stripeId(charge.payment_intent);
}

/** A PaymentIntent, or a charge, refund or dispute of one: the intent is re-fetched and applied. */
export const onPaymentObject: EventHandler = async (em, deps, event) => {
  const object = event.data.object as { id: string; object: string; payment_intent?: string | null; charge?: string | null };
  if (object.object === 'payment_intent') return syncPaymentIntent(em, deps, object.id, source(event), object as Stripe.PaymentIntent);
  const intentId = await intentOf(deps, object);
  if (!intentId) return `${object.object} ${object.id} belongs to no PaymentIntent`;
  return syncPaymentIntent(em, deps, intentId, source(event));
};

export const onPaymentCheckout: EventHandler = async (em, deps, event) => {
  const session = event.data.object as Stripe.Checkout.Session;
  const payment = await syncPaymentCheckout(em, deps, session.id, source(event));
  return payment
    ? `payment ${payment.id} synced from checkout ${session.id}: ${payment.status}`
    : `checkout ${session.id} is not one of ours`;
};
