import type { EntityManager } from '@mikro-orm/postgresql';
import Stripe from 'stripe';
import { PlanPricing, Subscription, SubscriptionStatus, User } from '../../entities';
import type { DomainError } from '../../errors';
import { stripeId, UUID } from '../../ids';
import { idempotencyKey } from '../../stripe/client';
import { callStripe } from '../../stripe/errors';
import type { BillingDeps } from '../deps';
import { lockUser } from '../locks';
import { alreadySubscribed, hasEnded } from './holding';
import { keepFromRenewing } from './lifecycle';
import { applyExpiredCheckout, applyStripeSubscription, SUBSCRIPTION_ID_KEY } from './stripeState';

/**
 * The user's Checkouts that are still open in our rows, brought up to date from Stripe. One that was paid
 * meanwhile is applied and makes this a CONFLICT; one open for `reusable` is returned to be answered
 * again; every other open one is expired in Stripe, so it can no longer be paid.
 */
export async function settleOpenCheckouts(
  tx: EntityManager,
  deps: BillingDeps,
  user: User,
  reusable: PlanPricing | null,
): Promise<{ subscription: Subscription; checkoutUrl: string | null } | DomainError | null> {
  const rows = await tx.find(
    Subscription,
    { user, stripeSubscriptionId: null, stripeCheckoutSessionId: { $ne: null }, status: SubscriptionStatus.INCOMPLETE },
    { populate: ['pricing'], orderBy: { createdAt: 'desc', id: 'desc' } },
  );
  const sessions = await Promise.all(
    rows.map((row) => callStripe(() => deps.stripe.checkout.sessions.retrieve(row.stripeCheckoutSessionId!), deps)),
  );
  const paid = rows.some((_, i) => sessions[i].status === 'complete');
  let reuse: { subscription: Subscription; checkoutUrl: string | null } | null = null;
  let conflicting: Subscription | null = null;
  for (const [i, row] of rows.entries()) {
    let session = sessions[i];
    if (session.status === 'open' && !paid && !reuse && reusable && row.pricing.id === reusable.id) {
      reuse = { subscription: row, checkoutUrl: session.url };
      continue;
    }
    if (session.status === 'open') {
      try {
        session = await callStripe(
          () => deps.stripe.checkout.sessions.expire(session.id, {}, { idempotencyKey: idempotencyKey('subscription', row.id, 'expire') }),
          deps,
        );
      } catch (err) {
        // Stripe refuses to expire a session that was completed a moment ago: take it as it is now.
        if (!(err instanceof Stripe.errors.StripeInvalidRequestError)) throw err;
        session = await callStripe(() => deps.stripe.checkout.sessions.retrieve(session.id), deps);
      }
    }
    await applyCheckoutSession(deps, row, session);
    if (!hasEnded(row)) conflicting ??= row;
  }
  await tx.flush();
  if (conflicting) return alreadySubscribed(conflicting);
  return reuse;
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
