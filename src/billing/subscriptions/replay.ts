import type { EntityManager } from '@mikro-orm/postgresql';
import { Subscription, SubscriptionStatus, type User } from '../../entities';
import { conflict, type DomainError } from '../../errors';
import { callStripe } from '../../stripe/errors';
import { nextActionUrl } from '../authentication';
import type { BillingDeps } from '../deps';
import { firstPaymentIntent } from './card';
import { alreadySubscribed, HOLDING, hasEnded } from './holding';
import { upsertFromStripe } from './stripeState';
import type { SubscribeCall, SubscribeResult } from './subscribeCall';
import { shorten } from '../../input';

/**
 * What earlier calls decide before anything is made: an idempotency key used before gets the first
 * answer again (CONFLICT when it was for another pricing option), and a subscription holding a paid plan,
 * here or in Stripe, makes this a CONFLICT. Null when the call goes on.
 */
export async function replayOrConflict(
  tx: EntityManager,
  deps: BillingDeps,
  call: SubscribeCall,
): Promise<SubscribeResult | DomainError | null> {
  const { user, pricing, idempotencyKey: key } = call;
  const prior = key ? await tx.findOne(Subscription, { user, idempotencyKey: key }, { populate: ['pricing'] }) : null;
  if (prior) {
    if (prior.pricing.id !== pricing.id)
      return conflict(`idempotencyKey "${shorten(key ?? '')}" was already used for another pricing option`, { field: 'idempotencyKey' });
    return answerAgain(deps, prior);
  }
  const holding = await tx.findOne(Subscription, {
    user,
    status: { $in: HOLDING },
    stripeSubscriptionId: { $ne: null },
    $or: [{ currentPeriodEnd: null }, { currentPeriodEnd: { $gt: new Date() } }],
  });
  if (holding) return alreadySubscribed(holding);

  // Stripe is the source of truth: a subscription our rows do not show yet (its webhook is late, or
  // the answer to an earlier call was lost after Stripe made it) holds too.
  const inStripe = await holdingInStripe(tx, deps, user, call.customerId, key);
  if (!inStripe) return null;
  if (key && inStripe.idempotencyKey === key && inStripe.pricing.id === pricing.id) return answerAgain(deps, inStripe);
  return alreadySubscribed(inStripe);
}

/** Stripe statuses in which a subscription we have no row for blocks a new one. */
const PAID_IN_STRIPE = new Set<string>([
  SubscriptionStatus.ACTIVE,
  SubscriptionStatus.TRIALING,
  SubscriptionStatus.PAST_DUE,
  SubscriptionStatus.UNPAID,
]);

/**
 * A subscription of the customer in Stripe that holds a plan though no row of ours says so: it is
 * adopted (see upsertFromStripe) and returned. An incomplete one counts only when it is this very call's
 * earlier attempt (same idempotency key), so its client secret can be answered again.
 */
async function holdingInStripe(
  tx: EntityManager,
  deps: BillingDeps,
  user: User,
  customerId: string,
  key: string | null,
): Promise<Subscription | null> {
  let startingAfter: string | undefined;
  for (;;) {
    const page = await callStripe(
      () => deps.stripe.subscriptions.list({ customer: customerId, limit: 100, starting_after: startingAfter }),
      deps,
    );
    for (const s of page.data) {
      const retried = key !== null && s.metadata?.tollgate_user_id === user.id && s.metadata?.tollgate_idempotency_key === key;
      if (!PAID_IN_STRIPE.has(s.status) && !(retried && s.status === SubscriptionStatus.INCOMPLETE)) continue;
      const { subscription } = await upsertFromStripe(tx, s, deps.logger);
      if (subscription && !hasEnded(subscription)) {
        await tx.flush();
        await tx.populate(subscription, ['pricing']);
        return subscription;
      }
    }
    if (!page.has_more || page.data.length === 0) return null;
    startingAfter = page.data[page.data.length - 1].id;
  }
}

/** The first answer again: its Checkout URL, or the client secret while the first payment still needs the customer. */
async function answerAgain(deps: BillingDeps, sub: Subscription): Promise<SubscribeResult> {
  if (sub.stripeCheckoutSessionId && !sub.stripeSubscriptionId) {
    const session = await callStripe(() => deps.stripe.checkout.sessions.retrieve(sub.stripeCheckoutSessionId!), deps);
    return { subscription: sub, checkoutUrl: session.url };
  }
  if (sub.status === SubscriptionStatus.INCOMPLETE && sub.stripeSubscriptionId) {
    const s = await callStripe(() => deps.stripe.subscriptions.retrieve(sub.stripeSubscriptionId!), deps);
    const intent = await firstPaymentIntent(deps, s);
    return {
      subscription: sub,
      clientSecret: intent?.status === 'requires_action' ? intent.client_secret : null,
      nextActionUrl: nextActionUrl(intent),
    };
  }
  return { subscription: sub };
}
