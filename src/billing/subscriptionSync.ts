import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import { PlanPricing, Subscription, SubscriptionStatus, User } from '../entities';
import { query } from '../db/sql';
import type { Logger } from '../logger';

/**
 * Stripe is the source of truth for subscriptions; these functions copy its current state onto our rows.
 * Callers pass a freshly retrieved object, never an event's snapshot, so late or duplicate signals
 * cannot move a row backwards.
 */

const seconds = (t: number | null | undefined) => (t ? new Date(t * 1000) : null);

export function stripeId(value: string | { id: string } | null | undefined): string | null {
  if (!value) return null;
  return typeof value === 'string' ? value : value.id;
}

/** Copies Stripe's state (status, periods from the first item, cancellation) onto our row. */
export function applyStripeSubscription(sub: Subscription, s: Stripe.Subscription): void {
  const item = s.items.data[0];
  sub.stripeSubscriptionId = s.id;
  sub.status = s.status as SubscriptionStatus;
  sub.currentPeriodStart = seconds(item?.current_period_start);
  sub.currentPeriodEnd = seconds(item?.current_period_end);
  sub.cancelAtPeriodEnd = s.cancel_at_period_end;
  sub.canceledAt = seconds(s.canceled_at);
  sub.endedAt = seconds(s.ended_at);
  sub.stripeSyncedAt = new Date();
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

/** Our row ids (subscriptions, payments) as they appear in Stripe metadata. */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Metadata key carrying our subscription id on every Stripe subscription and Checkout Session we create. */
export const SUBSCRIPTION_ID_KEY = 'tollgate_subscription_id';

/** Stripe statuses after which a subscription can no longer be paid for or used. */
const ENDED: ReadonlyArray<Stripe.Subscription.Status> = ['canceled', 'incomplete_expired'];

export interface SyncOutcome {
  subscription: Subscription | null;
  /**
   * "updated" our row, "adopted" one made outside Tollgate, or recorded and not applied: "unknown-customer",
   * "unknown-price", "abandoned" (one Tollgate started whose row was rolled back, e.g. a declined first
   * payment, and that has ended in Stripe).
   */
  result: 'updated' | 'adopted' | 'unknown-customer' | 'unknown-price' | 'abandoned';
}

/**
 * The row a Stripe subscription's metadata names, when it may be that subscription's: the row belongs to
 * the subscription's customer and is not linked to another Stripe subscription already. A copied or
 * forged `tollgate_subscription_id` (another customer's row, or not one of our ids) names nothing.
 */
async function namedRow(em: EntityManager, s: Stripe.Subscription, customerId: string | null, logger?: Logger): Promise<Subscription | null> {
  const ourId = s.metadata?.[SUBSCRIPTION_ID_KEY];
  if (!ourId || !UUID.test(ourId)) return null;
  const named = await em.findOne(Subscription, { id: ourId }, { populate: ['pricing', 'user'] });
  if (!named) return null;
  if (named.user.stripeCustomerId !== customerId || (named.stripeSubscriptionId && named.stripeSubscriptionId !== s.id)) {
    logger?.warn({ stripeSubscription: s.id, customer: customerId, names: ourId }, 'a Stripe subscription names a Tollgate subscription that is not its own; not linked');
    return null;
  }
  return named;
}

/**
 * Finds our row for a Stripe subscription (by id, then by the metadata we set, when it matches) and
 * applies Stripe's state; a subscription made elsewhere for a customer we know is adopted. Callers hold
 * the user's billing lock (see lockUser) when they can, so no other write to the row races this one.
 */
export async function upsertFromStripe(em: EntityManager, s: Stripe.Subscription, logger?: Logger): Promise<SyncOutcome> {
  const customerId = stripeId(s.customer);
  const sub = (await em.findOne(Subscription, { stripeSubscriptionId: s.id }, { populate: ['pricing'] })) ?? (await namedRow(em, s, customerId, logger));
  if (sub) {
    applyStripeSubscription(sub, s);
    return { subscription: sub, result: 'updated' };
  }
  const user = customerId ? await em.findOne(User, { stripeCustomerId: customerId }) : null;
  if (!user) {
    logger?.warn({ stripeSubscription: s.id, customer: customerId }, 'Stripe subscription for a customer Tollgate does not know');
    return { subscription: null, result: 'unknown-customer' };
  }
  const ourId = s.metadata?.[SUBSCRIPTION_ID_KEY];
  if (ourId && UUID.test(ourId) && ENDED.includes(s.status) && !(await em.findOne(Subscription, { id: ourId }, { fields: ['id'] }))) {
    // Tollgate started it and rolled its row back (the first payment was declined, so it was canceled
    // right away): there is nothing to adopt. One that is still live is adopted below, since the
    // customer pays for it.
    logger?.info({ stripeSubscription: s.id, user: user.id }, 'a subscription Tollgate started and abandoned has ended in Stripe; nothing to adopt');
    return { subscription: null, result: 'abandoned' };
  }
  const priceId = stripeId(s.items.data[0]?.price);
  const pricing = priceId ? await em.findOne(PlanPricing, { stripePriceId: priceId }, { populate: ['plan'] }) : null;
  if (!pricing) {
    logger?.warn({ stripeSubscription: s.id, price: priceId }, 'Stripe subscription for a price that is not in the catalog');
    return { subscription: null, result: 'unknown-price' };
  }
  const adopted = em.create(Subscription, { user, plan: pricing.plan, pricing, status: s.status as SubscriptionStatus });
  applyStripeSubscription(adopted, s);
  logger?.info({ stripeSubscription: s.id, user: user.id }, 'adopted a subscription made outside Tollgate');
  return { subscription: adopted, result: 'adopted' };
}

/**
 * The user a Stripe subscription is for, as far as our rows tell without asking Stripe: the owner of
 * our row for it, else the user of the customer. Plain SQL, so nothing is loaded into the identity map
 * before the caller takes that user's lock.
 */
export async function userOfStripeSubscription(em: EntityManager, subscriptionId: string, customerId?: string | null): Promise<string | null> {
  const [row] = await query<{ user_id: string }>(em, 'select user_id from subscription where stripe_subscription_id = $1', [subscriptionId]);
  if (row) return row.user_id;
  if (!customerId) return null;
  const [user] = await query<{ id: string }>(em, 'select id from app_user where stripe_customer_id = $1', [customerId]);
  return user?.id ?? null;
}
