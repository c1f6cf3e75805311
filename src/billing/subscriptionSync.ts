import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import { PlanPricing, Subscription, SubscriptionStatus, User } from '../entities';
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

export interface SyncOutcome {
  subscription: Subscription | null;
  /**
   * "updated" our row, "adopted" one we had no row for (made outside Tollgate, or ours whose row was
   * lost), "unknown-customer" / "unknown-price" (recorded, not applied), or "abandoned": one of our
   * subscribe attempts that ended in Stripe without ever being kept here (a declined first payment).
   */
  result: 'updated' | 'adopted' | 'unknown-customer' | 'unknown-price' | 'abandoned';
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ENDED = new Set<string>([SubscriptionStatus.CANCELED, SubscriptionStatus.INCOMPLETE_EXPIRED]);

/**
 * Finds our row for a Stripe subscription (by id, then by the metadata we set) and applies Stripe's
 * state. One we have no row for is adopted when its customer is ours: with the row id and idempotency key
 * our metadata names, so a subscribe whose answer was lost is found again (and its Checkout return link
 * still works). An ended one our metadata names but we never kept is a subscribe that failed (a declined
 * card): it is not brought back as a row.
 */
export async function upsertFromStripe(em: EntityManager, s: Stripe.Subscription, logger?: Logger): Promise<SyncOutcome> {
  let sub = await em.findOne(Subscription, { stripeSubscriptionId: s.id }, { populate: ['pricing'] });
  const ourId = s.metadata?.tollgate_subscription_id;
  const ours = Boolean(ourId && UUID.test(ourId));
  if (!sub && ours) sub = await em.findOne(Subscription, { id: ourId }, { populate: ['pricing'] });
  if (sub) {
    applyStripeSubscription(sub, s);
    return { subscription: sub, result: 'updated' };
  }
  const customerId = stripeId(s.customer);
  const user = customerId ? await em.findOne(User, { stripeCustomerId: customerId }) : null;
  if (!user) {
    logger?.warn({ stripeSubscription: s.id, customer: customerId }, 'Stripe subscription for a customer Tollgate does not know');
    return { subscription: null, result: 'unknown-customer' };
  }
  if (ours && ENDED.has(s.status)) {
    logger?.info({ stripeSubscription: s.id, user: user.id, status: s.status }, 'a subscribe attempt that ended in Stripe (declined) is not kept');
    return { subscription: null, result: 'abandoned' };
  }
  const priceId = stripeId(s.items.data[0]?.price);
  const pricing = priceId ? await em.findOne(PlanPricing, { stripePriceId: priceId }, { populate: ['plan'] }) : null;
  if (!pricing) {
    logger?.warn({ stripeSubscription: s.id, price: priceId }, 'Stripe subscription for a price that is not in the catalog');
    return { subscription: null, result: 'unknown-price' };
  }
  const forUser = ours && s.metadata.tollgate_user_id === user.id;
  const key = forUser ? s.metadata.tollgate_idempotency_key || null : null;
  const keyFree = key ? !(await em.findOne(Subscription, { user, idempotencyKey: key })) : false;
  sub = em.create(Subscription, {
    ...(forUser ? { id: ourId } : {}),
    user,
    plan: pricing.plan,
    pricing,
    status: s.status as SubscriptionStatus,
    idempotencyKey: keyFree ? key : null,
  });
  applyStripeSubscription(sub, s);
  logger?.info({ stripeSubscription: s.id, user: user.id }, forUser ? 'adopted a Tollgate subscription whose row was lost' : 'adopted a subscription made outside Tollgate');
  return { subscription: sub, result: 'adopted' };
}
