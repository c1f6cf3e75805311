import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import { PlanPricing, type Subscription } from '../../entities';
import { stripeId } from '../../ids';
import { idempotencyKey } from '../../stripe/client';
import { callStripe } from '../../stripe/errors';
import type { BillingDeps } from '../deps';
import { lockUser } from '../locks';
import { ownSubscription } from './queries';

/**
 * Downgrades wait for the period end in a Stripe subscription schedule: made from the subscription
 * (its current period as the first phase), then given a second phase on the new price. The row shows
 * it as scheduledPricing/scheduledChangeAt until the phase begins (then the row's pricing follows the
 * Stripe item, see followStripePrice); releasing the schedule undoes it.
 */

const seconds = (t: number) => new Date(t * 1000);

/** Schedules the move to `to` at the end of the current period; `key` names the Stripe writes of this change. */
export async function scheduleChange(deps: BillingDeps, sub: Subscription, to: PlanPricing, key: (step: string) => string): Promise<void> {
  const schedule = sub.stripeScheduleId
    ? await callStripe(() => deps.stripe.subscriptionSchedules.retrieve(sub.stripeScheduleId!), deps)
    : await callStripe(
        () =>
          deps.stripe.subscriptionSchedules.create({ from_subscription: sub.stripeSubscriptionId! }, { idempotencyKey: key('schedule') }),
        deps,
      );
  const current = schedule.phases.find((p) => p.start_date === schedule.current_phase?.start_date) ?? schedule.phases[0];
  const updated = await callStripe(
    () =>
      deps.stripe.subscriptionSchedules.update(
        schedule.id,
        {
          // a pricing that does not renew (Day Pass) ends after its one period
          end_behavior: to.autoRenew ? 'release' : 'cancel',
          phases: [
            {
              items: current.items.map((i) => ({ price: stripeId(i.price)!, quantity: i.quantity ?? 1 })),
              start_date: current.start_date,
              end_date: current.end_date,
            },
            {
              items: [{ price: to.stripePriceId!, quantity: 1 }],
              duration: { interval: to.interval as 'day' | 'month' | 'year', interval_count: to.intervalCount },
              proration_behavior: 'none',
            },
          ],
        },
        { idempotencyKey: key('phases') },
      ),
    deps,
  );
  sub.stripeScheduleId = updated.id;
  sub.scheduledPricing = to;
  sub.scheduledChangeAt = seconds(current.end_date);
}

/** Lets the subscription go on as it is: the scheduled change is dropped. */
export async function releaseSchedule(deps: BillingDeps, sub: Subscription): Promise<void> {
  if (!sub.stripeScheduleId) return;
  const id = sub.stripeScheduleId;
  const schedule = await callStripe(() => deps.stripe.subscriptionSchedules.retrieve(id), deps);
  if (schedule.status === 'active' || schedule.status === 'not_started')
    await callStripe(
      () => deps.stripe.subscriptionSchedules.release(id, {}, { idempotencyKey: idempotencyKey('subscription', sub.id, 'release', id) }),
      deps,
    );
  clearScheduled(sub);
}

function clearScheduled(sub: Subscription): void {
  sub.stripeScheduleId = null;
  sub.scheduledPricing = null;
  sub.scheduledChangeAt = null;
}

/** cancelScheduledChange: the subscription keeps its pricing option past the period end. */
export async function cancelScheduledChange(em: EntityManager, deps: BillingDeps, userId: string, id: string): Promise<Subscription> {
  return em.transactional(async (tx) => {
    await lockUser(tx, userId);
    const sub = await ownSubscription(tx, userId, id);
    await releaseSchedule(deps, sub);
    return sub;
  });
}

/**
 * Copies the scheduled change Stripe holds onto the row: the phase after the current one, when its price
 * differs from the subscription's. A schedule that is over, or a price outside the catalog, shows none.
 */
export async function applyStripeSchedule(em: EntityManager, deps: BillingDeps, sub: Subscription, s: Stripe.Subscription): Promise<void> {
  const scheduleId = stripeId(s.schedule);
  if (!scheduleId) return clearScheduled(sub);
  const schedule = await callStripe(() => deps.stripe.subscriptionSchedules.retrieve(scheduleId), deps);
  sub.stripeScheduleId = scheduleId;
  const end = schedule.current_phase?.end_date;
  const next = end === undefined ? undefined : schedule.phases.find((p) => p.start_date === end);
  const priceId = next ? stripeId(next.items[0]?.price) : null;
  const pricing = priceId ? await em.findOne(PlanPricing, { stripePriceId: priceId }, { populate: ['plan'] }) : null;
  const changes = pricing && priceId !== stripeId(s.items.data[0]?.price);
  sub.scheduledPricing = changes ? pricing : null;
  sub.scheduledChangeAt = changes && next ? seconds(next.start_date) : null;
}
