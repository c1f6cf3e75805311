import type Stripe from 'stripe';
import type { Payment } from '../../entities';
import { stripeId } from '../../ids';
import { callStripe } from '../../stripe/errors';
import type { BillingDeps } from '../deps';
import { PAYMENT_ID_KEY, type StripePaymentState } from './stripeState';

/** Reading what Stripe knows about a payment: its Checkout Session, PaymentIntent, latest charge and dispute. */

/**
 * A Checkout payment whose PaymentIntent was declined: whether that is final depends on its Checkout
 * Session (still open: the person may try another card), so the session is read too.
 */
export async function withCheckout(deps: BillingDeps, payment: Payment, state: StripePaymentState): Promise<StripePaymentState> {
  const { intent } = state;
  if (state.session || !payment.stripeCheckoutSessionId || intent?.status !== 'requires_payment_method' || !intent.last_payment_error)
    return state;
  const session = await callStripe(() => deps.stripe.checkout.sessions.retrieve(payment.stripeCheckoutSessionId!), deps);
  return { ...state, session };
}

/** The PaymentIntent with its latest charge, and the dispute when the charge is disputed. */
export async function fetchIntentState(deps: BillingDeps, intentId: string): Promise<StripePaymentState> {
  const intent = await callStripe(() => deps.stripe.paymentIntents.retrieve(intentId, { expand: ['latest_charge'] }), deps);
  const charge = typeof intent.latest_charge === 'object' ? intent.latest_charge : null;
  return { intent, charge, dispute: await disputeOf(deps, intent, charge) };
}

export async function disputeOf(
  deps: BillingDeps,
  intent: Stripe.PaymentIntent,
  charge: Stripe.Charge | null,
): Promise<Stripe.Dispute | null> {
  if (!charge?.disputed) return null;
  const list = await callStripe(() => deps.stripe.disputes.list({ payment_intent: intent.id, limit: 1 }), deps);
  return list.data[0] ?? null;
}

/** A Checkout Session with its PaymentIntent once the person has paid (or tried to). */
export async function sessionState(deps: BillingDeps, session: Stripe.Checkout.Session): Promise<StripePaymentState> {
  const intentId = stripeId(session.payment_intent);
  return { session, ...(intentId ? await fetchIntentState(deps, intentId) : {}) };
}

/** Everything Stripe knows about the payment: by its Checkout Session (and the session's PaymentIntent), else its PaymentIntent. */
export async function fetchPaymentState(deps: BillingDeps, payment: Payment): Promise<StripePaymentState> {
  if (payment.stripeCheckoutSessionId) {
    const session = await callStripe(() => deps.stripe.checkout.sessions.retrieve(payment.stripeCheckoutSessionId!), deps);
    return sessionState(deps, session);
  }
  if (payment.stripePaymentIntentId) return fetchIntentState(deps, payment.stripePaymentIntentId);
  return located(deps, payment);
}

/**
 * A payment whose Stripe call failed halfway has no Stripe id, yet Stripe may have made the object:
 * it carries our payment id in its metadata, so the customer's Checkout Sessions and PaymentIntents
 * are searched for it.
 */
async function located(deps: BillingDeps, payment: Payment): Promise<StripePaymentState> {
  const customer = payment.user.stripeCustomerId;
  if (!customer) return {};
  const ours = (o: { metadata?: Stripe.Metadata | null }) => o.metadata?.[PAYMENT_ID_KEY] === payment.id;
  for await (const session of deps.stripe.checkout.sessions.list({ customer, limit: 100 })) {
    if (ours(session)) return sessionState(deps, session);
  }
  for await (const intent of deps.stripe.paymentIntents.list({ customer, limit: 100 })) {
    if (ours(intent)) return fetchIntentState(deps, intent.id);
  }
  return {};
}
