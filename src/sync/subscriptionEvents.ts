import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import type { BillingDeps } from '../billing/deps';
import { lockUser } from '../billing/locks';
import { syncCheckoutSession } from '../billing/subscriptions/checkout';
import { keepFromRenewing, renewAfterChange } from '../billing/subscriptions/lifecycle';
import { applyStripeSchedule } from '../billing/subscriptions/schedule';
import { applyStripeSubscription, upsertFromStripe, userOfStripeSubscription } from '../billing/subscriptions/stripeState';
import { stripeId } from '../ids';
import { callStripe } from '../stripe/errors';
import type { EventHandler } from './handlers';

/** The subscription events: each re-fetches the subscription it is about and applies it. */

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
  deps: BillingDeps,
  subscriptionId: string,
  customerId?: string | null,
): Promise<string> {
  const retrieve = () => callStripe(() => deps.stripe.subscriptions.retrieve(subscriptionId), deps);
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
  const { subscription, result } = await upsertFromStripe(em, s!, deps.logger);
  if (subscription) {
    // A Day Pass never renews, even one whose Checkout return and checkout.session.completed never came;
    // one upgraded to Premium renews from then on.
    const kept = await renewAfterChange(deps, subscription, await keepFromRenewing(deps, subscription, s!));
    if (kept !== s) applyStripeSubscription(subscription, kept);
    await applyStripeSchedule(em, deps, subscription, kept);
  }
  if (result === 'unknown-customer') return `subscription ${s!.id} of unknown customer ${stripeId(s!.customer)} recorded, not applied`;
  if (result === 'unknown-price') return `subscription ${s!.id} for a price outside the catalog recorded, not applied`;
  if (result === 'abandoned')
    return `subscription ${s!.id} is a subscribe attempt that ended without being kept (${s!.status} in Stripe): recorded, not applied`;
  return `${result} subscription ${subscription!.id} from ${s!.id}: ${s!.status}`;
}

export const onSubscription: EventHandler = (em, deps, event) => {
  const s = event.data.object as Stripe.Subscription;
  return syncSubscriptionById(em, deps, s.id, stripeId(s.customer));
};

export const onInvoice: EventHandler = async (em, deps, event) => {
  const invoice = event.data.object as Stripe.Invoice;
  const subscriptionId = stripeId(invoice.parent?.subscription_details?.subscription);
  if (!subscriptionId) return `invoice ${invoice.id} belongs to no subscription`;
  return syncSubscriptionById(em, deps, subscriptionId, stripeId(invoice.customer));
};

export const onSubscriptionCheckout: EventHandler = async (em, deps, event) => {
  const session = event.data.object as Stripe.Checkout.Session;
  const sub = await syncCheckoutSession(em, deps, session.id);
  return sub ? `subscription ${sub.id} synced from checkout ${session.id}: ${sub.status}` : `checkout ${session.id} is not one of ours`;
};

/** A schedule's change (phases set, released, completed, canceled) is a signal to re-fetch its subscription. */
export const onSchedule: EventHandler = async (em, deps, event) => {
  const schedule = event.data.object as Stripe.SubscriptionSchedule;
  const subscriptionId = stripeId(schedule.subscription) ?? schedule.released_subscription;
  if (!subscriptionId) return `schedule ${schedule.id} has no subscription`;
  return syncSubscriptionById(em, deps, subscriptionId, stripeId(schedule.customer));
};
