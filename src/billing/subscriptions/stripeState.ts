import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import { PlanPricing, Subscription, SubscriptionStatus, User } from '../../entities';
import { query } from '../../db/sql';
import { stripeId, UUID } from '../../ids';
import type { Logger } from '../../logger';

/**
 * Stripe is the source of truth for subscriptions; these functions copy its current state onto our rows.
 * Callers pass a freshly retrieved object, never an event's snapshot, so late or duplicate signals
 * cannot move a row backwards.
 */

const seconds = (t: number | null | undefined) => (t ? new Date(t * 1000) : null);

/** Stripe statuses that only a subscription in force (or once in force) can have. */
const IN_FORCE: ReadonlyArray<Stripe.Subscription.Status> = ['active', 'trialing', 'past_due', 'unpaid'];

/** Copies Stripe's state (status, periods from the first item, cancellation) onto our row. */
export function applyStripeSubscription(sub: Subscription, s: Stripe.Subscription): void {
  const item = s.items.data[0];
  sub.stripeSubscriptionId = s.id;
  sub.status = s.status as SubscriptionStatus;
  if (IN_FORCE.includes(s.status)) sub.inForceSince ??= seconds(s.start_date) ?? new Date();
  sub.currentPeriodStart = seconds(item?.current_period_start);
  sub.currentPeriodEnd = seconds(item?.current_period_end);
  // a schedule ending with its last phase sets cancel_at (not cancel_at_period_end): it ends all the same
  sub.cancelAtPeriodEnd = s.cancel_at_period_end || (s.cancel_at !== null && !!item && s.cancel_at <= item.current_period_end);
  sub.canceledAt = seconds(s.canceled_at);
  sub.endedAt = seconds(s.ended_at);
  sub.trialEnd = seconds(s.trial_end);
  sub.stripeSyncedAt = new Date();
}

/**
 * The row's pricing option (and plan) follow the price of the Stripe subscription's item, which a plan
 * change moves: at once for an upgrade, at the period end for a scheduled downgrade. A price outside
 * the catalog leaves the row as it is.
 */
export async function followStripePrice(em: EntityManager, sub: Subscription, s: Stripe.Subscription, logger?: Logger): Promise<void> {
  const priceId = stripeId(s.items.data[0]?.price);
  if (!priceId || priceId === sub.pricing.stripePriceId) return;
  const pricing = await em.findOne(PlanPricing, { stripePriceId: priceId }, { populate: ['plan'] });
  if (!pricing) {
    logger?.warn(
      { stripeSubscription: s.id, price: priceId },
      'Stripe subscription moved to a price that is not in the catalog; not applied',
    );
    return;
  }
  sub.pricing = pricing;
  sub.plan = pricing.plan;
}

/**
 * A Checkout Session that expired unpaid ends the row it was opened for (when no subscription came of
 * it). Returns whether the row changed.
 */
export function applyExpiredCheckout(sub: Subscription, session: Stripe.Checkout.Session): boolean {
  if (session.status !== 'expired' || sub.stripeSubscriptionId || sub.status === SubscriptionStatus.INCOMPLETE_EXPIRED) return false;
  sub.status = SubscriptionStatus.INCOMPLETE_EXPIRED;
  sub.endedAt ??= session.expires_at ? new Date(Math.min(session.expires_at * 1000, Date.now())) : new Date();
  sub.stripeSyncedAt = new Date();
  return true;
}

/** Metadata key carrying our subscription id on every Stripe subscription and Checkout Session we create. */
export const SUBSCRIPTION_ID_KEY = 'tollgate_subscription_id';

/** Stripe statuses after which a subscription can no longer be paid for or used. */
const ENDED: ReadonlyArray<Stripe.Subscription.Status> = ['canceled', 'incomplete_expired'];

export interface SyncOutcome {
  subscription: Subscription | null;
  /**
   * "updated" our row, "adopted" one we had no row for (made outside Tollgate, or ours whose row was
   * lost), or recorded and not applied: "unknown-customer", "unknown-price", "abandoned" (a subscribe
   * attempt Tollgate started and rolled back, e.g. a declined first payment, that has ended in Stripe).
   */
  result: 'updated' | 'adopted' | 'unknown-customer' | 'unknown-price' | 'abandoned';
}

/** The id of ours a Stripe subscription's metadata names, when it is one of our ids at all. */
function namedId(s: Stripe.Subscription): string | null {
  const ourId = s.metadata?.[SUBSCRIPTION_ID_KEY];
  return ourId && UUID.test(ourId) ? ourId : null;
}

/**
 * Whether the row a Stripe subscription's metadata names may be that subscription's: the row belongs to
 * the subscription's customer and is not linked to another Stripe subscription already. A copied
 * `tollgate_subscription_id` (another customer's row, or one already taken) links nothing.
 */
function isOwnRow(named: Subscription, s: Stripe.Subscription, customerId: string | null, logger?: Logger): boolean {
  if (named.user.stripeCustomerId === customerId && (!named.stripeSubscriptionId || named.stripeSubscriptionId === s.id)) return true;
  logger?.warn(
    { stripeSubscription: s.id, customer: customerId, names: named.id },
    'a Stripe subscription names a Tollgate subscription that is not its own; not linked',
  );
  return false;
}

/**
 * Finds our row for a Stripe subscription (by id, then by the metadata we set, when it is that
 * customer's row) and applies Stripe's state. One we have no row for is adopted when its customer is
 * ours; when our metadata names a row that does not exist, it is one of our subscribe attempts whose row
 * was rolled back or lost: an ended one (a declined first payment) is not brought back, and a live one is
 * adopted under the row id and idempotency key its metadata names, so a retry of a subscribe whose answer
 * was lost finds it (and its Checkout return link still works). Callers hold the user's billing lock (see
 * lockUser) when they can, so no other write to the row races this one.
 */
export async function upsertFromStripe(em: EntityManager, s: Stripe.Subscription, logger?: Logger): Promise<SyncOutcome> {
  const customerId = stripeId(s.customer);
  const linked = await em.findOne(Subscription, { stripeSubscriptionId: s.id }, { populate: ['pricing'] });
  const ourId = linked ? null : namedId(s);
  const named = ourId ? await em.findOne(Subscription, { id: ourId }, { populate: ['pricing', 'user'] }) : null;
  const sub = linked ?? (named && isOwnRow(named, s, customerId, logger) ? named : null);
  if (sub) {
    applyStripeSubscription(sub, s);
    await followStripePrice(em, sub, s, logger);
    return { subscription: sub, result: 'updated' };
  }
  const user = customerId ? await em.findOne(User, { stripeCustomerId: customerId }) : null;
  if (!user) {
    logger?.warn({ stripeSubscription: s.id, customer: customerId }, 'Stripe subscription for a customer Tollgate does not know');
    return { subscription: null, result: 'unknown-customer' };
  }
  // Ours, but no row has the id it names: a subscribe attempt that was never kept here.
  const unkept = ourId !== null && !named;
  if (unkept && ENDED.includes(s.status)) {
    logger?.info(
      { stripeSubscription: s.id, user: user.id, status: s.status },
      'a subscribe attempt that ended in Stripe without being kept here is not adopted',
    );
    return { subscription: null, result: 'abandoned' };
  }
  const priceId = stripeId(s.items.data[0]?.price);
  const pricing = priceId ? await em.findOne(PlanPricing, { stripePriceId: priceId }, { populate: ['plan'] }) : null;
  if (!pricing) {
    logger?.warn({ stripeSubscription: s.id, price: priceId }, 'Stripe subscription for a price that is not in the catalog');
    return { subscription: null, result: 'unknown-price' };
  }
  const restored = unkept && s.metadata.tollgate_user_id === user.id;
  const key = restored ? s.metadata.tollgate_idempotency_key || null : null;
  const keyFree = key ? !(await em.findOne(Subscription, { user, idempotencyKey: key }, { fields: ['id'] })) : false;
  const adopted = em.create(Subscription, {
    ...(restored ? { id: ourId } : {}),
    user,
    plan: pricing.plan,
    pricing,
    status: s.status as SubscriptionStatus,
    idempotencyKey: keyFree ? key : null,
  });
  applyStripeSubscription(adopted, s);
  // Its history is not ours to know: one that ended canceled (not expired unpaid) is taken as once in force.
  if (s.status === 'canceled') adopted.inForceSince ??= seconds(s.start_date) ?? new Date();
  logger?.info(
    { stripeSubscription: s.id, user: user.id },
    restored ? 'adopted a Tollgate subscription whose row was lost' : 'adopted a subscription made outside Tollgate',
  );
  return { subscription: adopted, result: 'adopted' };
}

/**
 * The user a Stripe subscription is for, as far as our rows tell without asking Stripe: the owner of
 * our row for it, else the user of the customer. Plain SQL, so nothing is loaded into the identity map
 * before the caller takes that user's lock.
 */
export async function userOfStripeSubscription(
  em: EntityManager,
  subscriptionId: string,
  customerId?: string | null,
): Promise<string | null> {
  const [row] = await query<{ user_id: string }>(em, 'select user_id from subscription where stripe_subscription_id = $1', [
    subscriptionId,
  ]);
  if (row) return row.user_id;
  if (!customerId) return null;
  const [user] = await query<{ id: string }>(em, 'select id from app_user where stripe_customer_id = $1', [customerId]);
  return user?.id ?? null;
}
