import type { EntityManager } from '@mikro-orm/postgresql';
import Stripe from 'stripe';
import { PlanPricing, Subscription, SubscriptionStatus, User } from '../entities';
import { idempotencyKey } from '../stripe/client';
import { callStripe } from '../stripe/errors';
import { ensureCustomer } from './customers';
import type { BillingEnv } from './env';
import { DomainError, badInput, conflict, notFound } from './errors';
import { lockUser } from './locks';
import { applyStripeSubscription, stripeId } from './subscriptionSync';

/** Statuses in which a subscription still holds (or is about to hold) the user's paid plan. */
const HOLDING: SubscriptionStatus[] = [
  SubscriptionStatus.ACTIVE,
  SubscriptionStatus.TRIALING,
  SubscriptionStatus.PAST_DUE,
  SubscriptionStatus.UNPAID,
  SubscriptionStatus.INCOMPLETE,
];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface SubscribeInput {
  pricingId: string;
  paymentMethod?: string | null;
  successUrl?: string | null;
  cancelUrl?: string | null;
  idempotencyKey?: string | null;
}

export interface SubscribeResult {
  subscription: Subscription;
  checkoutUrl?: string | null;
  clientSecret?: string | null;
}

export function clientUrl(value: string | null | undefined, field: string): string | null {
  if (value === undefined || value === null || value === '') return null;
  try {
    const url = new URL(value);
    if (url.protocol === 'http:' || url.protocol === 'https:') return url.toString();
  } catch {
    // fall through
  }
  throw badInput(`${field} must be an absolute http(s) URL`, { field });
}

function metadata(user: User, sub: Subscription, pricing: PlanPricing): Record<string, string> {
  return { tollgate_user_id: user.id, tollgate_subscription_id: sub.id, tollgate_pricing_id: pricing.id, tollgate_plan: pricing.plan.code };
}

/**
 * Subscribes the user to a paid pricing option. With a payment method the Stripe subscription is created
 * directly (active, or incomplete with a client secret when the card needs authentication; a declined
 * card leaves nothing usable behind and fails with PAYMENT_FAILED). Without one, a Checkout Session is
 * opened and its URL returned. Calls of one user are serialised; a user holding a paid subscription gets
 * CONFLICT; the same idempotency key returns the first answer.
 */
export async function subscribe(em: EntityManager, env: BillingEnv, userId: string, input: SubscribeInput): Promise<SubscribeResult> {
  if (!UUID.test(input.pricingId)) throw badInput(`Invalid pricingId "${input.pricingId}"`, { field: 'pricingId' });
  const pricing = await em.findOne(PlanPricing, { id: input.pricingId, active: true }, { populate: ['plan'] });
  if (!pricing) throw notFound('Pricing option');
  if (pricing.plan.isDefault || pricing.amountMinor === 0) {
    throw badInput(`${pricing.plan.name} is the default plan: everyone has it without subscribing`, { field: 'pricingId' });
  }
  if (!pricing.stripePriceId) throw new Error(`Pricing ${pricing.lookupKey} has no Stripe price: the Stripe catalog is not synced`);
  const successUrl = clientUrl(input.successUrl, 'successUrl');
  const cancelUrl = clientUrl(input.cancelUrl, 'cancelUrl');
  const paymentMethod = input.paymentMethod?.trim() || null;
  const key = input.idempotencyKey?.trim() || null;
  const { stripe } = env;

  // Committed on its own, so a failed subscribe never loses the customer Stripe made.
  const customerId = await ensureCustomer(em.fork(), stripe, userId, env);

  return em.transactional(async (tx) => {
    await lockUser(tx, userId);
    const user = await tx.findOneOrFail(User, userId);
    if (key) {
      const prior = await tx.findOne(Subscription, { user, idempotencyKey: key }, { populate: ['pricing'] });
      if (prior) {
        if (prior.pricing.id !== pricing.id) throw conflict(`idempotencyKey "${key}" was already used for another pricing option`, { field: 'idempotencyKey' });
        return { subscription: prior, ...(await resumeAnswer(env, prior)) };
      }
    }
    const holding = await tx.findOne(Subscription, {
      user,
      status: { $in: HOLDING },
      stripeSubscriptionId: { $ne: null },
      $or: [{ currentPeriodEnd: null }, { currentPeriodEnd: { $gt: new Date() } }],
    });
    if (holding) {
      throw conflict('You already have a paid subscription; cancel it or wait for it to end before buying another', { subscriptionId: holding.id });
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
    // Derived from our ids: the client's key when given (a retry after a crash finds Stripe's first answer), else the new row's id.
    const stripeKey = (step: string) => idempotencyKey('subscribe', key ? `${user.id}:${key}` : sub.id, step);

    if (!paymentMethod) {
      const session = await callStripe(
        () =>
          stripe.checkout.sessions.create(
            {
              mode: 'subscription',
              customer: customerId,
              client_reference_id: user.id,
              line_items: [{ price: pricing.stripePriceId!, quantity: 1 }],
              success_url: `${env.publicUrl}/subscriptions/${sub.id}/success?session_id={CHECKOUT_SESSION_ID}`,
              cancel_url: `${env.publicUrl}/subscriptions/${sub.id}/cancel`,
              metadata: metadata(user, sub, pricing),
              subscription_data: { metadata: metadata(user, sub, pricing) },
            },
            { idempotencyKey: stripeKey('checkout') },
          ),
        env,
      );
      sub.stripeCheckoutSessionId = session.id;
      await tx.flush();
      return { subscription: sub, checkoutUrl: session.url };
    }

    const attached = await callStripe(
      () => stripe.paymentMethods.attach(paymentMethod, { customer: customerId }, { idempotencyKey: stripeKey('attach') }),
      env,
    ).catch((err) => {
      if (err instanceof Stripe.errors.StripeInvalidRequestError) throw badInput(`Unknown or unusable payment method "${paymentMethod}"`, { field: 'paymentMethod' });
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
            metadata: metadata(user, sub, pricing),
          },
          { idempotencyKey: stripeKey('create') },
        ),
      env,
    );
    applyStripeSubscription(sub, created);
    if (created.status !== SubscriptionStatus.INCOMPLETE) {
      await tx.flush();
      return { subscription: sub };
    }

    let intent: Stripe.PaymentIntent | null;
    try {
      intent = await firstPaymentIntent(env, created);
    } catch (err) {
      // Stripe made the subscription, but what its first payment needs cannot be read, so the client
      // could not complete it: leave nothing usable behind in Stripe either (best effort; it is
      // incomplete, so nothing was charged), and our row goes with the rolled-back transaction.
      await callStripe(() => stripe.subscriptions.cancel(created.id, {}, { idempotencyKey: stripeKey('cancel-unread') }), env).catch((cancelErr: unknown) =>
        env.logger.warn({ err: cancelErr, stripeSubscription: created.id }, `could not cancel the incomplete Stripe subscription ${created.id}; Stripe expires it within a day`),
      );
      throw err;
    }
    if (intent?.status === 'requires_action') {
      await tx.flush();
      return { subscription: sub, clientSecret: intent.client_secret };
    }
    // Declined: leave nothing usable behind in Stripe; our row goes with the rolled-back transaction.
    await callStripe(() => stripe.subscriptions.cancel(created.id, {}, { idempotencyKey: stripeKey('cancel-declined') }), env);
    const error = intent?.last_payment_error;
    throw new DomainError('PAYMENT_FAILED', error?.message ?? 'The payment was declined', {
      declineCode: error?.decline_code ?? error?.code ?? 'card_declined',
      stripeCode: error?.code,
    });
  });
}

/** For an idempotent replay: the client secret again while the first payment still needs the customer. */
async function resumeAnswer(env: BillingEnv, sub: Subscription): Promise<Omit<SubscribeResult, 'subscription'>> {
  if (sub.stripeCheckoutSessionId && !sub.stripeSubscriptionId) {
    const session = await callStripe(() => env.stripe.checkout.sessions.retrieve(sub.stripeCheckoutSessionId!), env);
    return { checkoutUrl: session.url };
  }
  if (sub.status === SubscriptionStatus.INCOMPLETE && sub.stripeSubscriptionId) {
    const s = await callStripe(() => env.stripe.subscriptions.retrieve(sub.stripeSubscriptionId!), env);
    const intent = await firstPaymentIntent(env, s);
    return { clientSecret: intent?.status === 'requires_action' ? intent.client_secret : null };
  }
  return {};
}

/** The PaymentIntent of a subscription's latest invoice (current API: invoice.payments[].payment.payment_intent). */
export async function firstPaymentIntent(env: BillingEnv, s: Stripe.Subscription): Promise<Stripe.PaymentIntent | null> {
  const invoiceId = stripeId(s.latest_invoice);
  if (!invoiceId) return null;
  const invoice = await callStripe(() => env.stripe.invoices.retrieve(invoiceId, { expand: ['payments'] }), env);
  const payment = invoice.payments?.data.find((p) => p.payment.type === 'payment_intent');
  const intentId = stripeId(payment?.payment.payment_intent);
  return intentId ? callStripe(() => env.stripe.paymentIntents.retrieve(intentId), env) : null;
}

async function ownSubscription(tx: EntityManager, userId: string, id: string): Promise<Subscription> {
  if (!UUID.test(id)) throw notFound('Subscription');
  const sub = await tx.findOne(Subscription, { id, user: userId }, { populate: ['pricing', 'plan'] });
  if (!sub) throw notFound('Subscription');
  return sub;
}

function hasEnded(sub: Subscription): boolean {
  return (
    !HOLDING.includes(sub.status) || Boolean(sub.endedAt) || (sub.currentPeriodEnd !== null && sub.currentPeriodEnd !== undefined && sub.currentPeriodEnd <= new Date())
  );
}

/** Sets cancel at period end in Stripe and here; the plan holds until the period ends. */
export async function cancelSubscription(em: EntityManager, env: BillingEnv, userId: string, id: string): Promise<Subscription> {
  return em.transactional(async (tx) => {
    await lockUser(tx, userId);
    const sub = await ownSubscription(tx, userId, id);
    if (!sub.stripeSubscriptionId) throw badInput('This subscription has not started: its Checkout was never completed', { field: 'id' });
    if (hasEnded(sub)) throw badInput('This subscription has already ended', { field: 'id' });
    if (sub.cancelAtPeriodEnd) return sub;
    const key = idempotencyKey('subscription', sub.id, 'cancel', sub.updatedAt.getTime());
    const updated = await callStripe(
      () =>
        sub.status === SubscriptionStatus.INCOMPLETE
          ? env.stripe.subscriptions.cancel(sub.stripeSubscriptionId!, {}, { idempotencyKey: key })
          : env.stripe.subscriptions.update(sub.stripeSubscriptionId!, { cancel_at_period_end: true }, { idempotencyKey: key }),
      env,
    );
    applyStripeSubscription(sub, updated);
    return sub;
  });
}

/** Undoes a cancellation before the period ends, so the subscription renews again. */
export async function resumeSubscription(em: EntityManager, env: BillingEnv, userId: string, id: string): Promise<Subscription> {
  return em.transactional(async (tx) => {
    await lockUser(tx, userId);
    const sub = await ownSubscription(tx, userId, id);
    if (!sub.pricing.autoRenew) throw badInput(`${sub.plan.name} does not renew, so there is nothing to resume`, { field: 'id' });
    if (!sub.stripeSubscriptionId || hasEnded(sub)) throw badInput('This subscription has already ended; subscribe again instead', { field: 'id' });
    if (!sub.cancelAtPeriodEnd) return sub;
    const updated = await callStripe(
      () =>
        env.stripe.subscriptions.update(
          sub.stripeSubscriptionId!,
          { cancel_at_period_end: false },
          { idempotencyKey: idempotencyKey('subscription', sub.id, 'resume', sub.updatedAt.getTime()) },
        ),
      env,
    );
    applyStripeSubscription(sub, updated);
    return sub;
  });
}

export function listSubscriptions(em: EntityManager, userId: string): Promise<Subscription[]> {
  return em.find(Subscription, { user: userId }, { orderBy: { createdAt: 'desc', id: 'desc' } });
}

/**
 * The person is back from Checkout (or a webhook said the session changed): re-read the session from
 * Stripe and apply the subscription it created. Non-renewing plans get cancel_at_period_end here, since
 * Checkout cannot set it. Returns our row, or null when the session is not ours.
 */
export async function syncCheckoutSession(em: EntityManager, env: BillingEnv, sessionId: string): Promise<Subscription | null> {
  const session = await callStripe(() => env.stripe.checkout.sessions.retrieve(sessionId), env);
  if (session.mode !== 'subscription') return null;
  const ourId = session.metadata?.tollgate_subscription_id;
  const lookup = await em.findOne(Subscription, ourId && UUID.test(ourId) ? { id: ourId } : { stripeCheckoutSessionId: session.id });
  if (!lookup) return null;
  const userId = lookup.user.id;
  return em.transactional(async (tx) => {
    await lockUser(tx, userId);
    const sub = await tx.findOneOrFail(Subscription, lookup.id, { populate: ['pricing'], refresh: true });
    sub.stripeCheckoutSessionId ??= session.id;
    const stripeSubId = stripeId(session.subscription);
    if (session.status === 'complete' && stripeSubId) {
      let s = await callStripe(() => env.stripe.subscriptions.retrieve(stripeSubId), env);
      if (!sub.pricing.autoRenew && !s.cancel_at_period_end && !s.ended_at) {
        s = await callStripe(
          () => env.stripe.subscriptions.update(s.id, { cancel_at_period_end: true }, { idempotencyKey: idempotencyKey('subscription', sub.id, 'no-renew') }),
          env,
        );
      }
      applyStripeSubscription(sub, s);
    } else if (session.status === 'expired' && !sub.stripeSubscriptionId) {
      sub.status = SubscriptionStatus.INCOMPLETE_EXPIRED;
      sub.endedAt ??= new Date();
    }
    return sub;
  });
}
