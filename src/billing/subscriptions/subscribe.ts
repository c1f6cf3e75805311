import type { EntityManager } from '@mikro-orm/postgresql';
import { PlanPricing, Subscription, SubscriptionStatus, User } from '../../entities';
import { badInput, notFound } from '../../errors';
import { parseInput } from '../../input';
import { ensureCustomer } from '../customers';
import type { BillingDeps } from '../deps';
import { lockUser } from '../locks';
import { commitThenThrow } from '../transactions';
import { subscribeWithCard } from './card';
import { openCheckout, settleOpenCheckouts } from './checkout';
import { subscribeInput, type SubscribeInput } from './inputs';
import { replayOrConflict } from './replay';
import { trialDaysFor } from './trials';
import type { SubscribeCall, SubscribeResult } from './subscribeCall';

/**
 * Subscribes the user to a paid pricing option. With a payment method the Stripe subscription is created
 * directly (active, or incomplete with a client secret when the card needs authentication; a declined
 * card leaves nothing usable behind and fails with PAYMENT_FAILED). Without one, a Checkout Session is
 * opened and its URL returned; a user has at most one open Checkout (asking again for the same option
 * returns it, anything else expires it first), so no number of calls can end in two subscriptions.
 * Calls of one user are serialised; a user holding a paid subscription, here or in Stripe, gets
 * CONFLICT; the same idempotency key returns the first answer. An option with a trial starts TRIALING,
 * charged at the trial's end, unless the user already had a trial on that plan (trials.ts).
 */
export async function subscribe(em: EntityManager, deps: BillingDeps, userId: string, raw: SubscribeInput): Promise<SubscribeResult> {
  const input = parseInput(subscribeInput, raw);
  const pricing = await payablePricing(em, input.pricingId);
  // Committed on its own, so a failed subscribe never loses the customer Stripe made.
  const customerId = await ensureCustomer(em.fork(), deps.stripe, userId, deps);

  // A CONFLICT found under the lock is thrown after the commit, so what was learnt from Stripe on the way is kept.
  return commitThenThrow(em, async (tx) => {
    await lockUser(tx, userId);
    const user = await tx.findOneOrFail(User, userId);
    const call: SubscribeCall = { ...input, user, customerId, pricing, trialDays: await trialDaysFor(tx, user, pricing) };
    const replayed = await replayOrConflict(tx, deps, call);
    if (replayed) return replayed;
    const reopened = await settleOpenCheckouts(tx, deps, call);
    if (reopened) return reopened;

    const sub = await newSubscription(tx, call);
    if (call.paymentMethod) return subscribeWithCard(tx, deps, call, sub, call.paymentMethod);
    return openCheckout(tx, deps, call, sub);
  });
}

/** The pricing option named, when it can be bought: the default plan is everyone's without subscribing. */
async function payablePricing(em: EntityManager, pricingId: string): Promise<PlanPricing> {
  const pricing = await em.findOne(PlanPricing, { id: pricingId, active: true }, { populate: ['plan'] });
  if (!pricing) throw notFound('Pricing option');
  if (pricing.plan.isDefault || pricing.amountMinor === 0) {
    throw badInput(`${pricing.plan.name} is the default plan: everyone has it without subscribing`, { field: 'pricingId' });
  }
  if (!pricing.stripePriceId) throw new Error(`Pricing ${pricing.lookupKey} has no Stripe price: the Stripe catalog is not synced`);
  return pricing;
}

/** Our row for the call, written before Stripe is asked, so its id can name the Stripe objects made for it. */
async function newSubscription(tx: EntityManager, call: SubscribeCall): Promise<Subscription> {
  const sub = tx.create(Subscription, {
    user: call.user,
    plan: call.pricing.plan,
    pricing: call.pricing,
    status: SubscriptionStatus.INCOMPLETE,
    cancelAtPeriodEnd: !call.pricing.autoRenew,
    idempotencyKey: call.idempotencyKey,
    successUrl: call.successUrl,
    cancelUrl: call.cancelUrl,
  });
  await tx.flush();
  return sub;
}
