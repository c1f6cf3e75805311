import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import type { BillingEnv } from '../billing/env';
import { keepFromRenewing, syncCheckoutSession } from '../billing/subscriptions';
import { lockUser } from '../billing/locks';
import { applyStripeSubscription, stripeId, upsertFromStripe, userOfStripeSubscription } from '../billing/subscriptionSync';
import { callStripe } from './errors';

/**
 * What each Stripe event type means to Tollgate. An event is only a signal: every handler re-fetches
 * the object from Stripe and writes Stripe's current state, so duplicates, late and out-of-order events
 * cannot move a row backwards. A handler returns a short description of what it did.
 */
export type EventHandler = (em: EntityManager, env: BillingEnv, event: Stripe.Event) => Promise<string>;

const handlers = new Map<string, EventHandler>();

export function registerHandler(types: string[], handler: EventHandler): void {
  for (const type of types) handlers.set(type, handler);
}

const checkoutHandlers = new Map<string, EventHandler>();

/** Checkout Sessions of other modes (e.g. "payment") are handed to the service that opened them. */
export function registerCheckoutHandler(mode: Stripe.Checkout.Session.Mode, handler: EventHandler): void {
  checkoutHandlers.set(mode, handler);
}

export function handlerFor(type: string): EventHandler | undefined {
  return handlers.get(type);
}

export function handledTypes(): string[] {
  return [...handlers.keys()].sort();
}

/**
 * Re-fetches one subscription and applies it (adopting one made outside Tollgate for a known customer).
 * The read from Stripe happens under the user's billing lock, the one subscribe, cancel and resume hold
 * while they call Stripe: an event handled while one of those is under way, or alongside another event
 * about the same subscription, waits for it and then reads what Stripe says afterwards, so a slower
 * reader can never write an older state over a newer one. `customerId` (from the event) finds the user
 * before our row exists.
 */
export async function syncSubscriptionById(
  em: EntityManager,
  env: BillingEnv,
  subscriptionId: string,
  customerId?: string | null,
): Promise<string> {
  const retrieve = () => callStripe(() => env.stripe.subscriptions.retrieve(subscriptionId), env);
  let userId = await userOfStripeSubscription(em, subscriptionId, customerId);
  let s: Stripe.Subscription | undefined;
  if (!userId) {
    s = await retrieve();
    userId = await userOfStripeSubscription(em, subscriptionId, stripeId(s.customer));
  }
  if (userId) {
    await lockUser(em, userId);
    s = await retrieve();
  }
  const { subscription, result } = await upsertFromStripe(em, s!, env.logger);
  if (subscription) {
    // A Day Pass never renews, even one whose Checkout return and checkout.session.completed never came.
    const kept = await keepFromRenewing(env, subscription, s!);
    if (kept !== s) applyStripeSubscription(subscription, kept);
  }
  if (result === 'unknown-customer') return `subscription ${s!.id} of unknown customer ${stripeId(s!.customer)} recorded, not applied`;
  if (result === 'unknown-price') return `subscription ${s!.id} for a price outside the catalog recorded, not applied`;
  if (result === 'abandoned')
    return `subscription ${s!.id} is a subscribe attempt that ended without being kept (${s!.status} in Stripe): recorded, not applied`;
  return `${result} subscription ${subscription!.id} from ${s!.id}: ${s!.status}`;
}

registerHandler(['customer.subscription.created', 'customer.subscription.updated', 'customer.subscription.deleted'], (em, env, event) => {
  const s = event.data.object as Stripe.Subscription;
  return syncSubscriptionById(em, env, s.id, stripeId(s.customer));
});

registerHandler(['invoice.paid', 'invoice.payment_failed'], async (em, env, event) => {
  const invoice = event.data.object as Stripe.Invoice;
  const subscriptionId = stripeId(invoice.parent?.subscription_details?.subscription);
  if (!subscriptionId) return `invoice ${invoice.id} belongs to no subscription`;
  return syncSubscriptionById(em, env, subscriptionId, stripeId(invoice.customer));
});

registerHandler(['checkout.session.completed', 'checkout.session.expired'], async (em, env, event) => {
  const session = event.data.object as Stripe.Checkout.Session;
  if (session.mode === 'subscription') {
    const sub = await syncCheckoutSession(em, env, session.id);
    return sub ? `subscription ${sub.id} synced from checkout ${session.id}: ${sub.status}` : `checkout ${session.id} is not one of ours`;
  }
  const byMode = checkoutHandlers.get(session.mode);
  return byMode ? byMode(em, env, event) : `checkout ${session.id} (${session.mode}) is not handled`;
});
