import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import type { BillingEnv } from '../billing/env';
import { syncCheckoutSession } from '../billing/subscriptions';
import { stripeId, upsertFromStripe } from '../billing/subscriptionSync';
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

/** Re-fetches one subscription and applies it (adopting one made outside Tollgate for a known customer). */
export async function syncSubscriptionById(em: EntityManager, env: BillingEnv, subscriptionId: string): Promise<string> {
  const s = await callStripe(() => env.stripe.subscriptions.retrieve(subscriptionId), env);
  const { subscription, result } = await upsertFromStripe(em, s, env.logger);
  if (result === 'unknown-customer') return `subscription ${s.id} of unknown customer ${stripeId(s.customer)} recorded, not applied`;
  if (result === 'unknown-price') return `subscription ${s.id} for a price outside the catalog recorded, not applied`;
  if (result === 'abandoned') return `subscription ${s.id} of a subscribe that failed, ${s.status}: recorded, not applied`;
  return `${result} subscription ${subscription!.id} from ${s.id}: ${s.status}`;
}

registerHandler(['customer.subscription.created', 'customer.subscription.updated', 'customer.subscription.deleted'], (em, env, event) =>
  syncSubscriptionById(em, env, (event.data.object as Stripe.Subscription).id),
);

registerHandler(['invoice.paid', 'invoice.payment_failed'], async (em, env, event) => {
  const invoice = event.data.object as Stripe.Invoice;
  const subscriptionId = stripeId(invoice.parent?.subscription_details?.subscription);
  if (!subscriptionId) return `invoice ${invoice.id} belongs to no subscription`;
  return syncSubscriptionById(em, env, subscriptionId);
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
