import type { EntityManager } from '@mikro-orm/postgresql';
import Stripe from 'stripe';
import { PlanPricing, Subscription, SubscriptionStatus, User } from '../entities';
import { idempotencyKey } from '../stripe/client';
import { callStripe } from '../stripe/errors';
import { ensureCustomer } from './customers';
import type { BillingDeps } from './deps';
import { DomainError, badInput, conflict, notFound } from '../errors';
import { lockUser } from './locks';
import { stripeId, UUID } from '../ids';
import { applyExpiredCheckout, applyStripeSubscription, SUBSCRIPTION_ID_KEY, upsertFromStripe } from './subscriptionSync';

/** Statuses in which a subscription still holds (or is about to hold) the user's paid plan. */
const HOLDING: SubscriptionStatus[] = [
  SubscriptionStatus.ACTIVE,
  SubscriptionStatus.TRIALING,
  SubscriptionStatus.PAST_DUE,
  SubscriptionStatus.UNPAID,
  SubscriptionStatus.INCOMPLETE,
];

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

/** The longest idempotency key a client may send (it is stored and put in Stripe metadata). */
const MAX_KEY_LENGTH = 200;

function clientKey(value: string | null | undefined): string | null {
  if (value === undefined || value === null) return null;
  const key = value.trim();
  if (!key) throw badInput('idempotencyKey must not be empty', { field: 'idempotencyKey' });
  if (key.length > MAX_KEY_LENGTH)
    throw badInput(`idempotencyKey is longer than ${MAX_KEY_LENGTH} characters`, { field: 'idempotencyKey' });
  return key;
}

function alreadySubscribed(holding: Subscription): DomainError {
  if (holding.status === SubscriptionStatus.INCOMPLETE) {
    return conflict(
      'You have a subscription waiting for its first payment (e.g. 3-D Secure); complete it, or cancel it before buying another',
      {
        subscriptionId: holding.id,
        status: 'INCOMPLETE',
      },
    );
  }
  return conflict('You already have a paid subscription; cancel it or wait for it to end before buying another', {
    subscriptionId: holding.id,
  });
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
export async function subscribe(em: EntityManager, deps: BillingDeps, userId: string, input: SubscribeInput): Promise<SubscribeResult> {
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
  const key = clientKey(input.idempotencyKey);
  const { stripe } = deps;

  // Committed on its own, so a failed subscribe never loses the customer Stripe made.
  const customerId = await ensureCustomer(em.fork(), stripe, userId, deps);

  // A refusal found under the lock (CONFLICT) is thrown after the commit, so what was learnt from Stripe on the way is kept.
  const outcome = await em.transactional(async (tx): Promise<SubscribeResult | DomainError> => {
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
  if (outcome instanceof DomainError) throw outcome;
  return outcome;
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

/**
 * The user's Checkouts that are still open in our rows, brought up to date from Stripe. One that was paid
 * meanwhile is applied and makes this a CONFLICT; one open for `reusable` is returned to be answered
 * again; every other open one is expired in Stripe, so it can no longer be paid.
 */
async function settleOpenCheckouts(
  tx: EntityManager,
  deps: BillingDeps,
  user: User,
  reusable: PlanPricing | null,
): Promise<{ subscription: Subscription; checkoutUrl: string | null } | DomainError | null> {
  const rows = await tx.find(
    Subscription,
    { user, stripeSubscriptionId: null, stripeCheckoutSessionId: { $ne: null }, status: SubscriptionStatus.INCOMPLETE },
    { populate: ['pricing'], orderBy: { createdAt: 'desc', id: 'desc' } },
  );
  const sessions = await Promise.all(
    rows.map((row) => callStripe(() => deps.stripe.checkout.sessions.retrieve(row.stripeCheckoutSessionId!), deps)),
  );
  const paid = rows.some((_, i) => sessions[i].status === 'complete');
  let reuse: { subscription: Subscription; checkoutUrl: string | null } | null = null;
  let conflicting: Subscription | null = null;
  for (const [i, row] of rows.entries()) {
    let session = sessions[i];
    if (session.status === 'open' && !paid && !reuse && reusable && row.pricing.id === reusable.id) {
      reuse = { subscription: row, checkoutUrl: session.url };
      continue;
    }
    if (session.status === 'open') {
      try {
        session = await callStripe(
          () => deps.stripe.checkout.sessions.expire(session.id, {}, { idempotencyKey: idempotencyKey('subscription', row.id, 'expire') }),
          deps,
        );
      } catch (err) {
        // Stripe refuses to expire a session that was completed a moment ago: take it as it is now.
        if (!(err instanceof Stripe.errors.StripeInvalidRequestError)) throw err;
        session = await callStripe(() => deps.stripe.checkout.sessions.retrieve(session.id), deps);
      }
    }
    await applyCheckoutSession(deps, row, session);
    if (!hasEnded(row)) conflicting ??= row;
  }
  await tx.flush();
  if (conflicting) return alreadySubscribed(conflicting);
  return reuse;
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

/** The PaymentIntent of a subscription's latest invoice (current API: invoice.payments[].payment.payment_intent). */
export async function firstPaymentIntent(deps: BillingDeps, s: Stripe.Subscription): Promise<Stripe.PaymentIntent | null> {
  const invoiceId = stripeId(s.latest_invoice);
  if (!invoiceId) return null;
  const invoice = await callStripe(() => deps.stripe.invoices.retrieve(invoiceId, { expand: ['payments'] }), deps);
  const payment = invoice.payments?.data.find((p) => p.payment.type === 'payment_intent');
  const intentId = stripeId(payment?.payment.payment_intent);
  return intentId ? callStripe(() => deps.stripe.paymentIntents.retrieve(intentId), deps) : null;
}

async function ownSubscription(tx: EntityManager, userId: string, id: string): Promise<Subscription> {
  if (!UUID.test(id)) throw notFound('Subscription');
  const sub = await tx.findOne(Subscription, { id, user: userId }, { populate: ['pricing', 'plan'] });
  if (!sub) throw notFound('Subscription');
  return sub;
}

function hasEnded(sub: Subscription): boolean {
  return (
    !HOLDING.includes(sub.status) ||
    Boolean(sub.endedAt) ||
    (sub.currentPeriodEnd !== null && sub.currentPeriodEnd !== undefined && sub.currentPeriodEnd <= new Date())
  );
}

/**
 * Runs a change of the subscription in Stripe and applies the answer. When Stripe refuses it because the
 * subscription ended there (canceled in the dashboard, say, with its webhook not here yet), the row is
 * brought up to date and the refusal returned as BAD_USER_INPUT, to be thrown once that is committed.
 */
async function changeInStripe(deps: BillingDeps, sub: Subscription, call: () => Promise<Stripe.Subscription>): Promise<DomainError | null> {
  try {
    applyStripeSubscription(sub, await callStripe(call, deps));
    return null;
  } catch (err) {
    if (!(err instanceof Stripe.errors.StripeInvalidRequestError)) throw err;
    applyStripeSubscription(sub, await callStripe(() => deps.stripe.subscriptions.retrieve(sub.stripeSubscriptionId!), deps));
    if (!hasEnded(sub)) throw err;
    return badInput('This subscription has already ended', { field: 'id' });
  }
}

/** Sets cancel at period end in Stripe and here; the plan holds until the period ends. */
export async function cancelSubscription(em: EntityManager, deps: BillingDeps, userId: string, id: string): Promise<Subscription> {
  const [sub, refused] = await em.transactional(async (tx): Promise<[Subscription, DomainError | null]> => {
    await lockUser(tx, userId);
    const sub = await ownSubscription(tx, userId, id);
    if (!sub.stripeSubscriptionId) throw badInput('This subscription has not started: its Checkout was never completed', { field: 'id' });
    if (hasEnded(sub)) throw badInput('This subscription has already ended', { field: 'id' });
    if (sub.cancelAtPeriodEnd) return [sub, null];
    const key = idempotencyKey('subscription', sub.id, 'cancel', sub.updatedAt.getTime());
    const refusal = await changeInStripe(deps, sub, () =>
      sub.status === SubscriptionStatus.INCOMPLETE
        ? deps.stripe.subscriptions.cancel(sub.stripeSubscriptionId!, {}, { idempotencyKey: key })
        : deps.stripe.subscriptions.update(sub.stripeSubscriptionId!, { cancel_at_period_end: true }, { idempotencyKey: key }),
    );
    return [sub, refusal];
  });
  if (refused) throw refused;
  return sub;
}

/** Undoes a cancellation before the period ends, so the subscription renews again. */
export async function resumeSubscription(em: EntityManager, deps: BillingDeps, userId: string, id: string): Promise<Subscription> {
  const [sub, refused] = await em.transactional(async (tx): Promise<[Subscription, DomainError | null]> => {
    await lockUser(tx, userId);
    const sub = await ownSubscription(tx, userId, id);
    if (!sub.pricing.autoRenew) throw badInput(`${sub.plan.name} does not renew, so there is nothing to resume`, { field: 'id' });
    if (!sub.stripeSubscriptionId || hasEnded(sub))
      throw badInput('This subscription has already ended; subscribe again instead', { field: 'id' });
    if (!sub.cancelAtPeriodEnd) return [sub, null];
    const key = idempotencyKey('subscription', sub.id, 'resume', sub.updatedAt.getTime());
    const refusal = await changeInStripe(deps, sub, () =>
      deps.stripe.subscriptions.update(sub.stripeSubscriptionId!, { cancel_at_period_end: false }, { idempotencyKey: key }),
    );
    return [sub, refusal];
  });
  if (refused) throw refused;
  return sub;
}

export function listSubscriptions(em: EntityManager, userId: string): Promise<Subscription[]> {
  return em.find(Subscription, { user: userId }, { orderBy: { createdAt: 'desc', id: 'desc' } });
}

/**
 * Whether a Checkout Session is the one we opened for this row: ours carry the user as
 * client_reference_id and the user's customer, and a row keeps the first session linked to it. Metadata
 * alone can be copied onto any session.
 */
function openedFor(session: Stripe.Checkout.Session, sub: Subscription): boolean {
  if (session.client_reference_id !== sub.user.id) return false;
  const customer = stripeId(session.customer);
  if (customer && customer !== sub.user.stripeCustomerId) return false;
  return !sub.stripeCheckoutSessionId || sub.stripeCheckoutSessionId === session.id;
}

/**
 * The person is back from Checkout (or a webhook said the session changed): re-read the session from
 * Stripe and apply the subscription it created. Returns our row, or null when the session is not ours.
 */
export async function syncCheckoutSession(em: EntityManager, deps: BillingDeps, sessionId: string): Promise<Subscription | null> {
  const session = await callStripe(() => deps.stripe.checkout.sessions.retrieve(sessionId), deps);
  if (session.mode !== 'subscription') return null;
  const ourId = session.metadata?.[SUBSCRIPTION_ID_KEY];
  const lookup = await em.findOne(Subscription, ourId && UUID.test(ourId) ? { id: ourId } : { stripeCheckoutSessionId: session.id }, {
    populate: ['user'],
  });
  if (!lookup) return null;
  if (!openedFor(session, lookup)) {
    deps.logger.warn(
      { checkoutSession: session.id, subscription: lookup.id, customer: stripeId(session.customer) },
      'a Checkout Session names a Tollgate subscription it was not opened for; not applied',
    );
    return null;
  }
  const userId = lookup.user.id;
  return em.transactional(async (tx) => {
    await lockUser(tx, userId);
    const sub = await tx.findOneOrFail(Subscription, lookup.id, { populate: ['pricing'], refresh: true });
    await applyCheckoutSession(deps, sub, session);
    return sub;
  });
}

/**
 * A pricing that does not renew (Day Pass) ends at its period's end whichever way its Stripe
 * subscription was made: Checkout cannot set cancel_at_period_end, nor does a subscription made in
 * Stripe's dashboard carry it, so it is set here. Returns Stripe's subscription as it now is.
 */
export async function keepFromRenewing(deps: BillingDeps, sub: Subscription, s: Stripe.Subscription): Promise<Stripe.Subscription> {
  if (sub.pricing.autoRenew || s.cancel_at_period_end || s.ended_at) return s;
  return callStripe(
    () =>
      deps.stripe.subscriptions.update(
        s.id,
        { cancel_at_period_end: true },
        { idempotencyKey: idempotencyKey('subscription', sub.id, 'no-renew') },
      ),
    deps,
  );
}

/** Applies a Checkout Session's state to its row: the subscription it created, or the end of an unpaid session. */
async function applyCheckoutSession(deps: BillingDeps, sub: Subscription, session: Stripe.Checkout.Session): Promise<void> {
  sub.stripeCheckoutSessionId ??= session.id;
  const stripeSubId = stripeId(session.subscription);
  if (session.status === 'complete' && stripeSubId) {
    const s = await callStripe(() => deps.stripe.subscriptions.retrieve(stripeSubId), deps);
    applyStripeSubscription(sub, await keepFromRenewing(deps, sub, s));
  } else {
    applyExpiredCheckout(sub, session);
  }
}
