import type { EntityManager } from '@mikro-orm/postgresql';
import Stripe from 'stripe';
import { Subscription, SubscriptionStatus } from '../../entities';
import { DomainError, badInput } from '../../errors';
import { idempotencyKey } from '../../stripe/client';
import { callStripe } from '../../stripe/errors';
import { stripeId } from '../../ids';
import type { BillingDeps } from '../deps';
import { lockUser } from '../locks';
import { commitThenThrow } from '../transactions';
import { hasEnded } from './holding';
import { ownSubscription } from './queries';
import { releaseSchedule } from './schedule';
import { applyStripeSubscription } from './stripeState';

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

/** Sets cancel at period end in Stripe and here; the plan holds until the period ends (a scheduled change is dropped). */
export async function cancelSubscription(em: EntityManager, deps: BillingDeps, userId: string, id: string): Promise<Subscription> {
  return commitThenThrow(em, async (tx) => {
    await lockUser(tx, userId);
    const sub = await ownSubscription(tx, userId, id);
    if (!sub.stripeSubscriptionId) throw badInput('This subscription has not started: its Checkout was never completed', { field: 'id' });
    if (hasEnded(sub)) throw badInput('This subscription has already ended', { field: 'id' });
    if (sub.cancelAtPeriodEnd) return sub;
    // Stripe refuses a cancellation of a subscription its schedule manages
    await releaseSchedule(deps, sub);
    const key = idempotencyKey('subscription', sub.id, 'cancel', sub.updatedAt.getTime());
    const refusal = await changeInStripe(deps, sub, () =>
      sub.status === SubscriptionStatus.INCOMPLETE
        ? deps.stripe.subscriptions.cancel(sub.stripeSubscriptionId!, {}, { idempotencyKey: key })
        : deps.stripe.subscriptions.update(sub.stripeSubscriptionId!, { cancel_at_period_end: true }, { idempotencyKey: key }),
    );
    return refusal ?? sub;
  });
}

/** Undoes a cancellation before the period ends, so the subscription renews again. */
export async function resumeSubscription(em: EntityManager, deps: BillingDeps, userId: string, id: string): Promise<Subscription> {
  return commitThenThrow(em, async (tx) => {
    await lockUser(tx, userId);
    const sub = await ownSubscription(tx, userId, id);
    if (!sub.pricing.autoRenew) throw badInput(`${sub.plan.name} does not renew, so there is nothing to resume`, { field: 'id' });
    if (!sub.stripeSubscriptionId || hasEnded(sub))
      throw badInput('This subscription has already ended; subscribe again instead', { field: 'id' });
    if (!sub.cancelAtPeriodEnd) return sub;
    const key = idempotencyKey('subscription', sub.id, 'resume', sub.updatedAt.getTime());
    const refusal = await changeInStripe(deps, sub, () =>
      deps.stripe.subscriptions.update(sub.stripeSubscriptionId!, { cancel_at_period_end: false }, { idempotencyKey: key }),
    );
    return refusal ?? sub;
  });
}

/**
 * A pricing that does not renew (Day Pass) ends at its period's end whichever way its Stripe
 * subscription was made: Checkout cannot set cancel_at_period_end, nor does a subscription made in
 * Stripe's dashboard carry it, so it is set here. Returns Stripe's subscription as it now is.
 */
export async function keepFromRenewing(deps: BillingDeps, sub: Subscription, s: Stripe.Subscription): Promise<Stripe.Subscription> {
  // a schedule's last phase ends it through cancel_at, and only the schedule may change that
  if (sub.pricing.autoRenew || s.cancel_at_period_end || s.ended_at || s.cancel_at !== null || s.schedule) return s;
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

/** Metadata naming the price after whose change a non-renewing subscription renews (see changeSubscription). */
export const RENEW_AFTER_CHANGE_KEY = 'tollgate_renew_after_change';

/**
 * A Day Pass moved to Premium renews from then on: once the Stripe item has the price the change marked,
 * cancel_at_period_end is cleared with the mark. Returns Stripe's subscription as it now is.
 */
export async function renewAfterChange(deps: BillingDeps, sub: Subscription, s: Stripe.Subscription): Promise<Stripe.Subscription> {
  const marked = s.metadata?.[RENEW_AFTER_CHANGE_KEY];
  if (!marked || s.pending_update || s.ended_at || marked !== stripeId(s.items.data[0]?.price)) return s;
  return callStripe(
    () =>
      deps.stripe.subscriptions.update(
        s.id,
        { cancel_at_period_end: false, metadata: { [RENEW_AFTER_CHANGE_KEY]: '' } },
        { idempotencyKey: idempotencyKey('subscription', sub.id, 'renew-after-change', marked, s.items.data[0]!.current_period_start) },
      ),
    deps,
  );
}
