import type { EntityManager } from '@mikro-orm/postgresql';
import Stripe from 'stripe';
import { Subscription, SubscriptionStatus } from '../../entities';
import type { DomainError } from '../../errors';
import { stripeId, UUID } from '../../ids';
import { idempotencyKey } from '../../stripe/client';
import { callStripe } from '../../stripe/errors';
import type { BillingDeps } from '../deps';
import { lockUser } from '../locks';
import { alreadySubscribed, hasEnded } from './holding';
import { keepFromRenewing } from './lifecycle';
import { applyExpiredCheckout, applyStripeSubscription, SUBSCRIPTION_ID_KEY } from './stripeState';
import { subscribeMetadata, subscribeStep, type SubscribeCall, type SubscribeResult } from './subscribeCall';

/** The Checkout path: a Checkout Session for the new row, whose URL is the answer. */
export async function openCheckout(tx: EntityManager, deps: BillingDeps, call: SubscribeCall, sub: Subscription): Promise<SubscribeResult> {
  const metadata = subscribeMetadata(call, sub);
  const session = await callStripe(
    () =>
      deps.stripe.checkout.sessions.create(
        {
          mode: 'subscription',
          customer: call.customerId,
          client_reference_id: call.user.id,
          line_items: [{ price: call.pricing.stripePriceId!, quantity: 1 }],
          success_url: `${deps.publicUrl}/subscriptions/${sub.id}/success?session_id={CHECKOUT_SESSION_ID}`,
          cancel_url: `${deps.publicUrl}/subscriptions/${sub.id}/cancel`,
          metadata,
          subscription_data: { metadata, ...(call.trialDays > 0 ? { trial_period_days: call.trialDays } : {}) },
        },
        { idempotencyKey: subscribeStep(sub, 'checkout') },
      ),
    deps,
  );
  sub.stripeCheckoutSessionId = session.id;
  await tx.flush();
  return { subscription: sub, checkoutUrl: session.url };
}

/**
 * The user's Checkouts still open in our rows, brought up to date from Stripe, so that no number of calls
 * ends in two subscriptions. One paid meanwhile is applied and makes this a CONFLICT; the newest one open
 * for the same option, when this call goes to Checkout too, answers it again; every other open one is
 * expired in Stripe, so it can no longer be paid. Null when none answers.
 */
export async function settleOpenCheckouts(
  tx: EntityManager,
  deps: BillingDeps,
  call: SubscribeCall,
): Promise<SubscribeResult | DomainError | null> {
  const rows = await tx.find(
    Subscription,
    { user: call.user, stripeSubscriptionId: null, stripeCheckoutSessionId: { $ne: null }, status: SubscriptionStatus.INCOMPLETE },
    { populate: ['pricing'], orderBy: { createdAt: 'desc', id: 'desc' } },
  );
  const sessions = await Promise.all(
    rows.map((row) => callStripe(() => deps.stripe.checkout.sessions.retrieve(row.stripeCheckoutSessionId!), deps)),
  );
  const paid = sessions.some((session) => session.status === 'complete');
  const reused =
    call.paymentMethod || paid ? -1 : rows.findIndex((row, i) => sessions[i].status === 'open' && row.pricing.id === call.pricing.id);
  let conflicting: Subscription | null = null;
  for (const [i, row] of rows.entries()) {
    if (i === reused) continue;
    const session = sessions[i].status === 'open' ? await expireSession(deps, row, sessions[i]) : sessions[i];
    await applyCheckoutSession(deps, row, session);
    if (!hasEnded(row)) conflicting ??= row;
  }
  await tx.flush();
  if (conflicting) return alreadySubscribed(conflicting);
  return reused < 0 ? null : reuseCheckout(call, rows[reused], sessions[reused]);
}

/** An open session expired, so it can no longer be paid; one Stripe refuses to expire (completed a moment ago) is taken as it is now. */
async function expireSession(deps: BillingDeps, row: Subscription, session: Stripe.Checkout.Session): Promise<Stripe.Checkout.Session> {
  try {
    return await callStripe(
      () => deps.stripe.checkout.sessions.expire(session.id, {}, { idempotencyKey: idempotencyKey('subscription', row.id, 'expire') }),
      deps,
    );
  } catch (err) {
    if (!(err instanceof Stripe.errors.StripeInvalidRequestError)) throw err;
    return callStripe(() => deps.stripe.checkout.sessions.retrieve(session.id), deps);
  }
}

/** The open Checkout answers this call too, and now returns the person to this call's URLs. */
function reuseCheckout(call: SubscribeCall, row: Subscription, session: Stripe.Checkout.Session): SubscribeResult {
  row.successUrl = call.successUrl;
  row.cancelUrl = call.cancelUrl;
  if (call.idempotencyKey) row.idempotencyKey ??= call.idempotencyKey;
  return { subscription: row, checkoutUrl: session.url };
}

/**
 * Whether a Checkout Session is the one we opened for this row: ours carry the user as
 * client_reference_id and the user's customer, and a row keeps the first session linked to it. Metadata
 * alone can be copied onto any session.
 */
function openedFor(session: Stripe.Checkout.Session, sub: Subscription): boolean {
  if (session.client_reference_id !== sub.user.id) return false;
  const customer = stripeId(session.customer);
  if (customer && customer !== sub.user.stripeCustomerId) return false;
  return !sub.stripeCheckoutSessionId || sub.stripeCheckoutSessionId === session.id;
}

/**
 * The person is back from Checkout (or a webhook said the session changed): re-read the session from
 * Stripe and apply the subscription it created. Returns our row, or null when the session is not ours.
 */
export async function syncCheckoutSession(em: EntityManager, deps: BillingDeps, sessionId: string): Promise<Subscription | null> {
  const session = await callStripe(() => deps.stripe.checkout.sessions.retrieve(sessionId), deps);
  if (session.mode !== 'subscription') return null;
  const ourId = session.metadata?.[SUBSCRIPTION_ID_KEY];
  const lookup = await em.findOne(Subscription, ourId && UUID.test(ourId) ? { id: ourId } : { stripeCheckoutSessionId: session.id }, {
    populate: ['user'],
  });
  if (!lookup) return null;
  if (!openedFor(session, lookup)) {
    deps.logger.warn(
      { checkoutSession: session.id, subscription: lookup.id, customer: stripeId(session.customer) },
      'a Checkout Session names a Tollgate subscription it was not opened for; not applied',
    );
    return null;
  }
  const userId = lookup.user.id;
  return em.transactional(async (tx) => {
    await lockUser(tx, userId);
    const sub = await tx.findOneOrFail(Subscription, lookup.id, { populate: ['pricing'], refresh: true });
    await applyCheckoutSession(deps, sub, session);
    return sub;
  });
}

/** Applies a Checkout Session's state to its row: the subscription it created, or the end of an unpaid session. */
async function applyCheckoutSession(deps: BillingDeps, sub: Subscription, session: Stripe.Checkout.Session): Promise<void> {
  sub.stripeCheckoutSessionId ??= session.id;
  const stripeSubId = stripeId(session.subscription);
  if (session.status === 'complete' && stripeSubId) {
    const s = await callStripe(() => deps.stripe.subscriptions.retrieve(stripeSubId), deps);
    applyStripeSubscription(sub, await keepFromRenewing(deps, sub, s));
  } else {
    applyExpiredCheckout(sub, session);
  }
}
