import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import { PlanPricing, Subscription, SubscriptionStatus, User } from '../entities';
import type { Logger } from '../logger';

/**
 * Stripe is the source of truth for subscriptions; these functions copy its current state onto our rows.
 * Callers pass a freshly retrieved object, never an event's snapshot, so late or duplicate signals
 * cannot move a row backwards.
 */

/** Statuses of a subscription that is over and can never be paid or renewed. */
const ENDED = new Set<Stripe.Subscription.Status>(['canceled', 'incomplete_expired']);

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
   * "updated" our row, "adopted" one made outside Tollgate; not applied: "unknown-customer",
   * "unknown-price", and "abandoned" (one a failed subscribe made and left ended: its row was rolled back).
   */
  result: 'updated' | 'adopted' | 'unknown-customer' | 'unknown-price' | 'abandoned';
}

/**
 * Finds our row for a Stripe subscription (by id, then by the metadata we set) and applies Stripe's
 * state; a subscription made elsewhere for a customer we know is adopted.
 */
export async function upsertFromStripe(em: EntityManager, s: Stripe.Subscription, logger?: Logger): Promise<SyncOutcome> {
  let sub = await em.findOne(Subscription, { stripeSubscriptionId: s.id }, { populate: ['pricing'] });
  const ourId = s.metadata?.tollgate_subscription_id;
  if (!sub && ourId) sub = await em.findOne(Subscription, { id: ourId }, { populate: ['pricing'] });
  if (sub) {
    applyStripeSubscription(sub, s);
    return { subscription: sub, result: 'updated' };
  }
  if (ourId && ENDED.has(s.status)) {
    // Made by a subscribe that failed (our row went with its rolled-back transaction) and canceled there:
    // adopting it would show the user a subscription they never had.
    return { subscription: null, result: 'abandoned' };
  }
  const customerId = stripeId(s.customer);
  const user = customerId ? await em.findOne(User, { stripeCustomerId: customerId }) : null;
  if (!user) {
    logger?.warn({ stripeSubscription: s.id, customer: customerId }, 'Stripe subscription for a customer Tollgate does not know');
    return { subscription: null, result: 'unknown-customer' };
  }
  const priceId = stripeId(s.items.data[0]?.price);
  const pricing = priceId ? await em.findOne(PlanPricing, { stripePriceId: priceId }, { populate: ['plan'] }) : null;
  if (!pricing) {
    logger?.warn({ stripeSubscription: s.id, price: priceId }, 'Stripe subscription for a price that is not in the catalog');
    return { subscription: null, result: 'unknown-price' };
  }
  sub = em.create(Subscription, { user, plan: pricing.plan, pricing, status: s.status as SubscriptionStatus });
  applyStripeSubscription(sub, s);
  logger?.info({ stripeSubscription: s.id, user: user.id }, 'adopted a subscription made outside Tollgate');
  return { subscription: sub, result: 'adopted' };
}
