import type { EntityManager } from '@mikro-orm/postgresql';
import Stripe from 'stripe';
import { SubscriptionStatus, type Subscription } from '../../entities';
import { DomainError, badInput } from '../../errors';
import { stripeId } from '../../ids';
import { callStripe } from '../../stripe/errors';
import { authenticationReturnUrl, nextActionUrl } from '../authentication';
import type { BillingDeps } from '../deps';
import { applyStripeSubscription } from './stripeState';
import { subscribeMetadata, subscribeStep, type SubscribeCall, type SubscribeResult } from './subscribeCall';
import { shorten } from '../../input';

/**
 * The card path: the Stripe subscription is made with the payment method. It answers active, or
 * incomplete with a client secret when the card needs authentication (3-D Secure); a declined card
 * fails with PAYMENT_FAILED, thrown so our row goes with the rolled-back transaction.
 */
export async function subscribeWithCard(
  tx: EntityManager,
  deps: BillingDeps,
  call: SubscribeCall,
  sub: Subscription,
  paymentMethod: string,
): Promise<SubscribeResult> {
  const attached = await attachPaymentMethod(deps, call, sub, paymentMethod);
  const created = await callStripe(
    () =>
      deps.stripe.subscriptions.create(
        {
          customer: call.customerId,
          items: [{ price: call.pricing.stripePriceId! }],
          default_payment_method: attached.id,
          cancel_at_period_end: !call.pricing.autoRenew,
          payment_behavior: 'allow_incomplete',
          metadata: subscribeMetadata(call, sub),
        },
        { idempotencyKey: subscribeStep(sub, 'create') },
      ),
    deps,
  );
  applyStripeSubscription(sub, created);
  if (created.status !== SubscriptionStatus.INCOMPLETE) {
    await tx.flush();
    return { subscription: sub };
  }
  const intent = await firstPaymentOrCancel(deps, sub, created);
  if (intent?.status === 'requires_action') {
    await tx.flush();
    return {
      subscription: sub,
      clientSecret: intent.client_secret,
      nextActionUrl: await redirectForAuthentication(deps, call, sub, intent),
    };
  }
  await cancelAttempt(deps, sub, created, 'declined');
  throw paymentFailed(intent);
}

/**
 * Stripe confirmed the first payment itself, with no return_url, so its next action is for Stripe.js
 * only; confirming it again with one gives the page to send the person to. Best effort: the client
 * secret is answered either way.
 */
async function redirectForAuthentication(
  deps: BillingDeps,
  call: SubscribeCall,
  sub: Subscription,
  intent: Stripe.PaymentIntent,
): Promise<string | null> {
  const existing = nextActionUrl(intent);
  if (existing) return existing;
  try {
    const confirmed = await callStripe(
      () =>
        deps.stripe.paymentIntents.confirm(
          intent.id,
          { return_url: authenticationReturnUrl(deps, call.successUrl) },
          { idempotencyKey: subscribeStep(sub, 'confirm-redirect') },
        ),
      deps,
    );
    return nextActionUrl(confirmed);
  } catch (err) {
    deps.logger.warn({ err, paymentIntent: intent.id }, 'could not ask Stripe for the 3-D Secure page; the client secret still works');
    return null;
  }
}

/** A payment method Stripe does not know, or cannot attach, is the client's mistake. */
function attachPaymentMethod(
  deps: BillingDeps,
  call: SubscribeCall,
  sub: Subscription,
  paymentMethod: string,
): Promise<Stripe.PaymentMethod> {
  return callStripe(
    () => deps.stripe.paymentMethods.attach(paymentMethod, { customer: call.customerId }, { idempotencyKey: subscribeStep(sub, 'attach') }),
    deps,
  ).catch((err) => {
    if (err instanceof Stripe.errors.StripeInvalidRequestError)
      throw badInput(`Unknown or unusable payment method "${shorten(paymentMethod)}"`, { field: 'paymentMethod' });
    throw err;
  });
}

/**
 * The first payment of the incomplete subscription just made. When it cannot be read the client could
 * not complete it, so the subscription is canceled in Stripe too (best effort) and the error rolls our
 * row back.
 */
async function firstPaymentOrCancel(
  deps: BillingDeps,
  sub: Subscription,
  created: Stripe.Subscription,
): Promise<Stripe.PaymentIntent | null> {
  try {
    return await firstPaymentIntent(deps, created);
  } catch (err) {
    await cancelAttempt(deps, sub, created, 'unread').catch((cancelErr: unknown) =>
      deps.logger.warn(
        { err: cancelErr, stripeSubscription: created.id },
        `could not cancel the incomplete Stripe subscription ${created.id}; Stripe expires it within a day`,
      ),
    );
    throw err;
  }
}

/** Leaves nothing usable behind in Stripe of an attempt whose first payment did not go through (it is incomplete: nothing was charged). */
function cancelAttempt(
  deps: BillingDeps,
  sub: Subscription,
  created: Stripe.Subscription,
  why: 'unread' | 'declined',
): Promise<Stripe.Subscription> {
  return callStripe(() => deps.stripe.subscriptions.cancel(created.id, {}, { idempotencyKey: subscribeStep(sub, `cancel-${why}`) }), deps);
}

/** A declined payment, as Stripe explained it. */
export function paymentFailed(intent: Stripe.PaymentIntent | null): DomainError {
  const error = intent?.last_payment_error;
  return new DomainError('PAYMENT_FAILED', error?.message ?? 'The payment was declined', {
    declineCode: error?.decline_code ?? error?.code ?? 'card_declined',
    stripeCode: error?.code,
  });
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
