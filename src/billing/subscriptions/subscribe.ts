import type { EntityManager } from '@mikro-orm/postgresql';
import Stripe from 'stripe';
import { PlanPricing, Subscription, SubscriptionStatus, User } from '../../entities';
import { DomainError, badInput, conflict, notFound } from '../../errors';
import { parseInput } from '../../input';
import { idempotencyKey } from '../../stripe/client';
import { callStripe } from '../../stripe/errors';
import { ensureCustomer } from '../customers';
import type { BillingDeps } from '../deps';
import { lockUser } from '../locks';
import { commitThenThrow } from '../transactions';
import { firstPaymentIntent } from './card';
import { settleOpenCheckouts } from './checkout';
import { alreadySubscribed, HOLDING, hasEnded } from './holding';
import { subscribeInput, type SubscribeInput } from './inputs';
import { applyStripeSubscription, SUBSCRIPTION_ID_KEY, upsertFromStripe } from './stripeState';

export interface SubscribeResult {
  subscription: Subscription;
  checkoutUrl?: string | null;
  clientSecret?: string | null;
}

/** What Stripe keeps about the subscribe call: enough to find our row again, or to rebuild it if it was lost. */
function metadata(user: User, sub: Subscription, pricing: PlanPricing): Record<string, string> {
  return {
    tollgate_user_id: user.id,
    [SUBSCRIPTION_ID_KEY]: sub.id,
    tollgate_pricing_id: pricing.id,
    tollgate_plan: pricing.plan.code,
    ...(sub.idempotencyKey ? { tollgate_idempotency_key: sub.idempotencyKey } : {}),
  };
}

/**
 * Subscribes the user to a paid pricing option. With a payment method the Stripe subscription is created
 * directly (active, or incomplete with a client secret when the card needs authentication; a declined
 * card leaves nothing usable behind and fails with PAYMENT_FAILED). Without one, a Checkout Session is
 * opened and its URL returned; a user has at most one open Checkout (asking again for the same option
 * returns it, anything else expires it first), so no number of calls can end in two subscriptions.
 * Calls of one user are serialised; a user holding a paid subscription, here or in Stripe, gets
 * CONFLICT; the same idempotency key returns the first answer.
 */
export async function subscribe(em: EntityManager, deps: BillingDeps, userId: string, raw: SubscribeInput): Promise<SubscribeResult> {
  const { pricingId, successUrl, cancelUrl, paymentMethod, idempotencyKey: key } = parseInput(subscribeInput, raw);
  const pricing = await em.findOne(PlanPricing, { id: pricingId, active: true }, { populate: ['plan'] });
  if (!pricing) throw notFound('Pricing option');
  if (pricing.plan.isDefault || pricing.amountMinor === 0) {
    throw badInput(`${pricing.plan.name} is the default plan: everyone has it without subscribing`, { field: 'pricingId' });
  }
  if (!pricing.stripePriceId) throw new Error(`Pricing ${pricing.lookupKey} has no Stripe price: the Stripe catalog is not synced`);
  const { stripe } = deps;

  // Committed on its own, so a failed subscribe never loses the customer Stripe made.
  const customerId = await ensureCustomer(em.fork(), stripe, userId, deps);

  // A refusal found under the lock (CONFLICT) is thrown after the commit, so what was learnt from Stripe on the way is kept.
  return commitThenThrow(em, async (tx) => {
    await lockUser(tx, userId);
    const user = await tx.findOneOrFail(User, userId);
    if (key) {
      const prior = await tx.findOne(Subscription, { user, idempotencyKey: key }, { populate: ['pricing'] });
      if (prior) {
        if (prior.pricing.id !== pricing.id)
          return conflict(`idempotencyKey "${key}" was already used for another pricing option`, { field: 'idempotencyKey' });
        return { subscription: prior, ...(await resumeAnswer(deps, prior)) };
      }
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
    const inStripe = await holdingInStripe(tx, deps, user, customerId, key);
    if (inStripe) {
      if (key && inStripe.idempotencyKey === key && inStripe.pricing.id === pricing.id)
        return { subscription: inStripe, ...(await resumeAnswer(deps, inStripe)) };
      return alreadySubscribed(inStripe);
    }

    const open = await settleOpenCheckouts(tx, deps, user, paymentMethod ? null : pricing);
    if (open instanceof DomainError) return open;
    if (open) {
      open.subscription.successUrl = successUrl;
      open.subscription.cancelUrl = cancelUrl;
      if (key) open.subscription.idempotencyKey ??= key;
      return { subscription: open.subscription, checkoutUrl: open.checkoutUrl };
    }

    const sub = tx.create(Subscription, {
      user,
      plan: pricing.plan,
      pricing,
      status: SubscriptionStatus.INCOMPLETE,
      cancelAtPeriodEnd: !pricing.autoRenew,
      idempotencyKey: key,
      successUrl,
      cancelUrl,
    });
    await tx.flush();
    // Derived from the new row's id; a retry after a lost answer is recognised by holdingInStripe above.
    const stripeKey = (step: string) => idempotencyKey('subscribe', sub.id, step);
    const meta = metadata(user, sub, pricing);

    if (!paymentMethod) {
      const session = await callStripe(
        () =>
          stripe.checkout.sessions.create(
            {
              mode: 'subscription',
              customer: customerId,
              client_reference_id: user.id,
              line_items: [{ price: pricing.stripePriceId!, quantity: 1 }],
              success_url: `${deps.publicUrl}/subscriptions/${sub.id}/success?session_id={CHECKOUT_SESSION_ID}`,
              cancel_url: `${deps.publicUrl}/subscriptions/${sub.id}/cancel`,
              metadata: meta,
              subscription_data: { metadata: meta },
            },
            { idempotencyKey: stripeKey('checkout') },
          ),
        deps,
      );
      sub.stripeCheckoutSessionId = session.id;
      await tx.flush();
      return { subscription: sub, checkoutUrl: session.url };
    }

    const attached = await callStripe(
      () => stripe.paymentMethods.attach(paymentMethod, { customer: customerId }, { idempotencyKey: stripeKey('attach') }),
      deps,
    ).catch((err) => {
      if (err instanceof Stripe.errors.StripeInvalidRequestError)
        throw badInput(`Unknown or unusable payment method "${paymentMethod}"`, { field: 'paymentMethod' });
      throw err;
    });
    const created = await callStripe(
      () =>
        stripe.subscriptions.create(
          {
            customer: customerId,
            items: [{ price: pricing.stripePriceId! }],
            default_payment_method: attached.id,
            cancel_at_period_end: !pricing.autoRenew,
            payment_behavior: 'allow_incomplete',
            metadata: meta,
          },
          { idempotencyKey: stripeKey('create') },
        ),
      deps,
    );
    applyStripeSubscription(sub, created);
    if (created.status !== SubscriptionStatus.INCOMPLETE) {
      await tx.flush();
      return { subscription: sub };
    }

    let intent: Stripe.PaymentIntent | null;
    try {
      intent = await firstPaymentIntent(deps, created);
    } catch (err) {
      // Stripe made the subscription, but what its first payment needs cannot be read, so the client
      // could not complete it: leave nothing usable behind in Stripe either (best effort; it is
      // incomplete, so nothing was charged), and our row goes with the rolled-back transaction.
      await callStripe(() => stripe.subscriptions.cancel(created.id, {}, { idempotencyKey: stripeKey('cancel-unread') }), deps).catch(
        (cancelErr: unknown) =>
          deps.logger.warn(
            { err: cancelErr, stripeSubscription: created.id },
            `could not cancel the incomplete Stripe subscription ${created.id}; Stripe expires it within a day`,
          ),
      );
      throw err;
    }
    if (intent?.status === 'requires_action') {
      await tx.flush();
      return { subscription: sub, clientSecret: intent.client_secret };
    }
    // Declined: leave nothing usable behind in Stripe; our row goes with the rolled-back transaction.
    await callStripe(() => stripe.subscriptions.cancel(created.id, {}, { idempotencyKey: stripeKey('cancel-declined') }), deps);
    const error = intent?.last_payment_error;
    throw new DomainError('PAYMENT_FAILED', error?.message ?? 'The payment was declined', {
      declineCode: error?.decline_code ?? error?.code ?? 'card_declined',
      stripeCode: error?.code,
    });
  });
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

/** For an idempotent replay: the client secret again while the first payment still needs the customer. */
async function resumeAnswer(deps: BillingDeps, sub: Subscription): Promise<Omit<SubscribeResult, 'subscription'>> {
  if (sub.stripeCheckoutSessionId && !sub.stripeSubscriptionId) {
    const session = await callStripe(() => deps.stripe.checkout.sessions.retrieve(sub.stripeCheckoutSessionId!), deps);
    return { checkoutUrl: session.url };
  }
  if (sub.status === SubscriptionStatus.INCOMPLETE && sub.stripeSubscriptionId) {
    const s = await callStripe(() => deps.stripe.subscriptions.retrieve(sub.stripeSubscriptionId!), deps);
    const intent = await firstPaymentIntent(deps, s);
    return { clientSecret: intent?.status === 'requires_action' ? intent.client_secret : null };
  }
  return {};
}
