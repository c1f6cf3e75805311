import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import type { BillingEnv } from '../billing/env';
import { syncCheckoutSession } from '../billing/subscriptions';
import { lockUser } from '../billing/locks';
import { stripeId, upsertFromStripe } from '../billing/subscriptionSync';
import { User } from '../entities';

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
 * Runs under the customer's user billing lock, and fetches only once it holds it: a delivery that arrives
 * while that user's subscribe is still in flight waits for it, then sees both Stripe's state after the
 * call and our row, so it neither adopts a duplicate nor brings back a declined attempt.
 */
export async function syncSubscriptionById(em: EntityManager, env: BillingEnv, subscriptionId: string, customerId?: string | null): Promise<string> {
  const owner = customerId ? await em.findOne(User, { stripeCustomerId: customerId }) : null;
  if (owner) await lockUser(em, owner.id);
  const s = await env.stripe.subscriptions.retrieve(subscriptionId);
  const { subscription, result } = await upsertFromStripe(em, s, env.logger);
  if (result === 'unknown-customer') return `subscription ${s.id} of unknown customer ${stripeId(s.customer)} recorded, not applied`;
  if (result === 'unknown-price') return `subscription ${s.id} for a price outside the catalog recorded, not applied`;
  if (result === 'abandoned') return `subscription ${s.id} is a subscribe attempt that ended without being kept (${s.status}), not applied`;
  return `${result} subscription ${subscription!.id} from ${s.id}: ${s.status}`;
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
