import type { EntityManager, FilterQuery } from '@mikro-orm/postgresql';
import { Subscription, SubscriptionStatus, User } from '../../entities';
import { notFound } from '../../errors';
import { UUID } from '../../ids';
import { checkIdLength } from '../../input';
import { callStripe } from '../../stripe/errors';
import type { BillingDeps } from '../deps';

/**
 * The rows that are or were in force, or may still be. Not listed: attempts whose first payment was never
 * made (expired unpaid, or canceled before it was paid), and a Checkout not paid yet (see
 * pendingCheckout). A card subscription waiting for 3-D Secure (INCOMPLETE, with its Stripe subscription)
 * is listed: it is the user's to complete or cancel.
 */
const HELD: FilterQuery<Subscription>[] = [
  { inForceSince: { $ne: null } },
  { status: SubscriptionStatus.INCOMPLETE, stripeSubscriptionId: { $ne: null } },
];

/** The user's subscriptions, newest first; with `includeAttempts` the unpaid attempts too (for admins). */
export function listSubscriptions(em: EntityManager, userId: string, { includeAttempts = false } = {}): Promise<Subscription[]> {
  return em.find(Subscription, includeAttempts ? { user: userId } : { user: userId, $or: HELD }, {
    orderBy: { createdAt: 'desc', id: 'desc' },
  });
}

/** Admins: any user's subscriptions, attempts included; an unknown user is NOT_FOUND. */
export async function userSubscriptions(em: EntityManager, userId: string): Promise<Subscription[]> {
  if (!UUID.test(checkIdLength(userId)) || !(await em.count(User, { id: userId }))) throw notFound('User');
  return listSubscriptions(em, userId, { includeAttempts: true });
}

export interface PendingCheckout {
  subscriptionId: string;
  url: string;
  expiresAt: Date;
}

/**
 * The user's open Checkout (a subscribe without a card, not paid yet), with its URL and expiry as Stripe
 * has them now: we store only the session's id, and Stripe knows whether it is still open.
 */
export async function pendingCheckout(em: EntityManager, deps: BillingDeps, userId: string): Promise<PendingCheckout | null> {
  const row = await em.findOne(
    Subscription,
    { user: userId, status: SubscriptionStatus.INCOMPLETE, stripeSubscriptionId: null, stripeCheckoutSessionId: { $ne: null } },
    { orderBy: { createdAt: 'desc', id: 'desc' } },
  );
  if (!row) return null;
  const session = await callStripe(() => deps.stripe.checkout.sessions.retrieve(row.stripeCheckoutSessionId!), deps);
  if (session.status !== 'open' || !session.url) return null;
  return { subscriptionId: row.id, url: session.url, expiresAt: new Date(session.expires_at * 1000) };
}

/** One of the user's own subscriptions: another user's, or an id that is none of ours, is NOT_FOUND. */
export async function ownSubscription(tx: EntityManager, userId: string, id: string): Promise<Subscription> {
  if (!UUID.test(checkIdLength(id))) throw notFound('Subscription');
  const sub = await tx.findOne(Subscription, { id, user: userId }, { populate: ['pricing', 'plan'] });
  if (!sub) throw notFound('Subscription');
  return sub;
}
