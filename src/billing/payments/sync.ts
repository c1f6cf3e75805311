import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import { Payment, type User } from '../../entities';
import { UUID } from '../../ids';
import { callStripe } from '../../stripe/errors';
import type { BillingDeps } from '../deps';
import { lockUser } from '../locks';
import { disputeOf, fetchIntentState, sessionState, withCheckout } from './fetchState';
import { underPaymentLock } from './lock';
import { applyStripeState, belongsTo, PAYMENT_ID_KEY } from './stripeState';

/**
 * Stripe -> our payments: on a webhook's signal, a Checkout return or stripe:sync, the payment's objects
 * are re-read from Stripe and applied under the user's billing lock.
 */

/** Our payment for a Stripe object: by its id, else by the payment id in its metadata. */
export async function findPaymentFor(
  em: EntityManager,
  object: { id: string; metadata?: Stripe.Metadata | null },
  by: 'stripePaymentIntentId' | 'stripeCheckoutSessionId',
): Promise<Payment | null> {
  const direct = await em.findOne(Payment, { [by]: object.id });
  if (direct) return direct;
  const ourId = object.metadata?.[PAYMENT_ID_KEY];
  return ourId && UUID.test(ourId) ? em.findOne(Payment, { id: ourId }) : null;
}

/**
 * A webhook about a PaymentIntent (or its charge, refund or dispute): re-fetch the intent and apply it
 * to our payment. `snapshot` is the event's copy of the intent, when the event carries one: it tells
 * whether the intent is ours without asking Stripe (most are not, e.g. those of subscription invoices).
 * Returns the inbox outcome.
 */
export async function syncPaymentIntent(
  em: EntityManager,
  deps: BillingDeps,
  intentId: string,
  source: string,
  snapshot?: Pick<Stripe.PaymentIntent, 'id' | 'metadata'>,
): Promise<string> {
  const found = await findPaymentFor(em, snapshot ?? (await fetchIntentState(deps, intentId)).intent!, 'stripePaymentIntentId');
  if (!found) return `payment_intent ${intentId} is not a Tollgate payment`;
  return underPaymentLock(em, found.id, async (tx, payment) => {
    // Read under the lock: a change made while we waited for it is applied, not lost.
    const state = await withCheckout(deps, payment, await fetchIntentState(deps, intentId));
    if (!belongsTo(payment, state)) {
      deps.logger.warn(
        { payment: payment.id, paymentIntent: intentId },
        'a PaymentIntent names a Tollgate payment it does not match; not applied',
      );
      return `payment_intent ${intentId} does not match payment ${payment.id}; not applied`;
    }
    const changes = applyStripeState(tx, payment, state, source);
    return `payment ${payment.id} from ${intentId}: ${payment.status}${changes.length ? '' : ' (no change)'}`;
  });
}

/**
 * A Checkout Session of payment mode changed (the person paid, came back, or it expired): re-read it
 * and its PaymentIntent and apply them. Returns our payment, or null when the session is not ours.
 */
export async function syncPaymentCheckout(
  em: EntityManager,
  deps: BillingDeps,
  sessionId: string,
  source: string,
): Promise<Payment | null> {
  const session = await callStripe(() => deps.stripe.checkout.sessions.retrieve(sessionId), deps);
  if (session.mode !== 'payment') return null;
  const found = await findPaymentFor(em, session, 'stripeCheckoutSessionId');
  if (!found) return null;
  return underPaymentLock(em, found.id, async (tx, payment) => {
    if (payment.stripeCheckoutSessionId && payment.stripeCheckoutSessionId !== session.id) return null;
    const state = await sessionState(deps, session);
    if (!belongsTo(payment, state)) return null;
    applyStripeState(tx, payment, state, source);
    return payment;
  });
}

/**
 * stripe:sync for one customer: every PaymentIntent of the customer that carries one of our payment ids
 * (or is linked to one) is applied, then Checkout payments still without a PaymentIntent are read from
 * their sessions. Runs inside the reconciler's transaction and never flushes, so a dry run can show the
 * pending changes.
 */
export async function reconcilePayments(em: EntityManager, deps: BillingDeps, user: User, pageSize = 100): Promise<void> {
  await lockUser(em, user.id);
  const payments = await em.find(Payment, { user }, { populate: ['user'] });
  const customer = user.stripeCustomerId;
  if (payments.length === 0 || !customer) return;
  const done = await reconcileIntents(em, deps, customer, payments, pageSize);
  const unlinked = payments.filter((p) => !done.has(p.id) && !p.stripePaymentIntentId);
  if (unlinked.length > 0) await reconcileCheckouts(em, deps, customer, unlinked, pageSize);
}

/** Applies the customer's PaymentIntents that are these payments'; returns the ids of the payments applied. */
async function reconcileIntents(
  em: EntityManager,
  deps: BillingDeps,
  customer: string,
  payments: Payment[],
  pageSize: number,
): Promise<Set<string>> {
  const byId = new Map(payments.map((p) => [p.id, p]));
  const byIntent = new Map(payments.filter((p) => p.stripePaymentIntentId).map((p) => [p.stripePaymentIntentId!, p]));
  const done = new Set<string>();
  for await (const intent of deps.stripe.paymentIntents.list({ customer, limit: pageSize, expand: ['data.latest_charge'] })) {
    const payment = byIntent.get(intent.id) ?? byId.get(intent.metadata?.[PAYMENT_ID_KEY] ?? '');
    if (!payment || done.has(payment.id)) continue;
    const charge = typeof intent.latest_charge === 'object' ? intent.latest_charge : null;
    const state = await withCheckout(deps, payment, { intent, charge, dispute: await disputeOf(deps, intent, charge) });
    if (!belongsTo(payment, state)) continue;
    applyStripeState(em, payment, state, 'stripe:sync');
    done.add(payment.id);
  }
  return done;
}

/** Checkout payments that still have no PaymentIntent, read from the customer's sessions. */
async function reconcileCheckouts(
  em: EntityManager,
  deps: BillingDeps,
  customer: string,
  unlinked: Payment[],
  pageSize: number,
): Promise<void> {
  const unlinkedById = new Map(unlinked.map((p) => [p.id, p]));
  for await (const session of deps.stripe.checkout.sessions.list({ customer, limit: pageSize })) {
    const payment =
      unlinked.find((p) => p.stripeCheckoutSessionId === session.id) ?? unlinkedById.get(session.metadata?.[PAYMENT_ID_KEY] ?? '');
    if (!payment || session.mode !== 'payment' || !belongsTo(payment, { session })) continue;
    applyStripeState(em, payment, { session }, 'stripe:sync');
  }
}
