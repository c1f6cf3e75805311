import type Stripe from 'stripe';
import { clone, diff, type EmulatorContext } from '../core/context';
import { invalidRequest } from '../core/errors';
import type { PriceObject } from '../resources/prices';
import { addIntervals, type Recurrence } from './periods';
import { changeSubscriptionPrice, type ProrationBehavior } from './proration';
import {
  cancelSubscription,
  checkSubscriptionPrices,
  currentPeriod,
  firstItem,
  planOf,
  priceOfItem,
  recurrenceOf,
  subscriptionMeta,
} from './subscriptions';
import { asStripePrice } from '../resources/prices';
import { idOf } from './util';

/**
 * Subscription schedules: a subscription's future as phases, each with its items and dates. Made from an
 * existing subscription (`from_subscription`: one phase, the current period with the current items), then
 * given more phases. When a phase ends, the next one's items are put on the subscription: at a period end
 * the price is swapped and the renewal bills it (an interval change restarts the billing cycle there);
 * within a period, with the phase's `proration_behavior`. After the last phase the schedule is `completed`
 * and lets the subscription go (`end_behavior=release`) or ends it (`cancel`, through `cancel_at`).
 */

export const SCHEDULE_OBJECT = 'subscription_schedule';

export interface PhaseInput {
  items: Array<{ price: PriceObject; quantity: number }>;
  start_date?: number;
  end_date?: number;
  /** how long the phase lasts (else `end_date`; neither: one interval of its price) */
  duration?: Recurrence;
  proration_behavior?: ProrationBehavior;
  metadata?: Record<string, string>;
}

export function scheduleOf(ctx: EmulatorContext, sub: Stripe.Subscription): Stripe.SubscriptionSchedule | undefined {
  const id = idOf(sub.schedule);
  return id ? ctx.store.find<Stripe.SubscriptionSchedule>(SCHEDULE_OBJECT, id) : undefined;
}

function subscriptionOf(ctx: EmulatorContext, schedule: Stripe.SubscriptionSchedule): Stripe.Subscription | undefined {
  const id = idOf(schedule.subscription);
  return id ? ctx.store.find<Stripe.Subscription>('subscription', id) : undefined;
}

function phase(
  currency: string,
  items: Array<{ price: PriceObject; quantity: number }>,
  start: number,
  end: number,
  proration: ProrationBehavior,
  metadata: Record<string, string> = {},
): Stripe.SubscriptionSchedule.Phase {
  return {
    add_invoice_items: [],
    application_fee_percent: null,
    billing_cycle_anchor: null,
    billing_thresholds: null,
    collection_method: null,
    currency,
    default_payment_method: null,
    default_tax_rates: [],
    description: null,
    discounts: [],
    end_date: end,
    invoice_settings: null,
    items: items.map((i) => ({
      billing_thresholds: null,
      discounts: [],
      metadata: {},
      plan: i.price.id,
      price: i.price.id,
      quantity: i.quantity,
      tax_rates: [],
    })),
    metadata,
    on_behalf_of: null,
    proration_behavior: proration,
    start_date: start,
    transfer_data: null,
    trial_end: null,
  };
}

/** `POST /v1/subscription_schedules` with `from_subscription`: the current period as the one phase. */
export function scheduleFromSubscription(ctx: EmulatorContext, sub: Stripe.Subscription): Stripe.SubscriptionSchedule {
  if (sub.status === 'canceled' || sub.status === 'incomplete_expired' || sub.status === 'incomplete')
    throw invalidRequest(`You cannot migrate a subscription that is ${sub.status} to a subscription schedule.`, {
      param: 'from_subscription',
    });
  if (sub.schedule)
    throw invalidRequest(`The subscription is already attached to subscription schedule ${idOf(sub.schedule)}.`, {
      param: 'from_subscription',
    });
  const customerId = idOf(sub.customer) as string;
  const now = ctx.now(customerId);
  const period = currentPeriod(sub);
  const items = sub.items.data.map((i) => ({ price: priceOfItem(i), quantity: i.quantity ?? 1 }));
  const schedule: Stripe.SubscriptionSchedule = {
    id: ctx.newId('sub_sched'),
    object: SCHEDULE_OBJECT,
    application: null,
    billing_mode: { flexible: { proration_discounts: 'included' }, type: 'flexible', updated_at: now },
    canceled_at: null,
    completed_at: null,
    created: now,
    current_phase: { start_date: period.start, end_date: period.end },
    customer: customerId,
    customer_account: null,
    default_settings: {
      application_fee_percent: null,
      billing_cycle_anchor: 'automatic',
      billing_thresholds: null,
      collection_method: 'charge_automatically',
      default_payment_method: idOf(sub.default_payment_method),
      description: sub.description,
      invoice_settings: {
        account_tax_ids: null,
        custom_fields: null,
        days_until_due: null,
        description: null,
        footer: null,
        issuer: { type: 'self' },
      },
      on_behalf_of: null,
      transfer_data: null,
    },
    // a subscription set to cancel at its period end keeps doing so
    end_behavior: sub.cancel_at_period_end ? 'cancel' : 'release',
    livemode: false,
    metadata: {},
    pause_schedules: [],
    phases: [phase(sub.currency, items, period.start, period.end, 'create_prorations')],
    released_at: null,
    released_subscription: null,
    status: 'active',
    subscription: sub.id,
    test_clock: sub.test_clock ? idOf(sub.test_clock) : null,
  };
  ctx.store.insert(schedule);
  ctx.emit('subscription_schedule.created', schedule);
  const before = clone(sub);
  sub.schedule = schedule.id;
  ctx.emit('customer.subscription.updated', sub, diff(before, sub));
  return schedule;
}

/**
 * `POST /v1/subscription_schedules/:id` with `phases`: the whole list again, the current phase first and
 * unchanged (its items and start), later phases following one another. An `end_date` or a `duration`
 * (default: one interval of the phase's price) ends each phase.
 */
export function updateSchedulePhases(
  ctx: EmulatorContext,
  schedule: Stripe.SubscriptionSchedule,
  phases: PhaseInput[],
  endBehavior?: 'release' | 'cancel',
): Stripe.SubscriptionSchedule {
  if (schedule.status !== 'active' && schedule.status !== 'not_started')
    throw invalidRequest(`You cannot update a subscription schedule that is currently in the \`${schedule.status}\` status.`);
  const current = schedule.phases.find((p) => p.start_date === schedule.current_phase?.start_date);
  const first = phases[0];
  if (!current || !first) throw invalidRequest('The phases must start with the current phase.', { param: 'phases' });
  if (first.start_date !== undefined && first.start_date !== current.start_date)
    throw invalidRequest('You can not modify the start date of the current phase.', { param: 'phases[0][start_date]' });
  const samePrices =
    first.items.length === current.items.length && first.items.every((it, i) => idOf(current.items[i]?.price) === it.price.id);
  if (!samePrices)
    throw invalidRequest(
      "The Stripe emulator does not implement changing the current phase's items; change the subscription's items instead.",
      { param: 'phases[0][items]' },
    );
  const out: Stripe.SubscriptionSchedule.Phase[] = [];
  let start = current.start_date;
  phases.forEach((p, n) => {
    checkSubscriptionPrices(p.items.map((it, i) => ({ price: it.price, param: `phases[${n}][items][${i}][price]` })));
    if (n > 0 && p.start_date !== undefined && p.start_date !== start)
      throw invalidRequest('Each phase must start when the one before it ends.', { param: `phases[${n}][start_date]` });
    const end = p.end_date ?? addIntervals(start, p.duration ?? recurrenceOf(p.items[0]!.price), 1);
    if (end <= start) throw invalidRequest('A phase must end after it starts.', { param: `phases[${n}][end_date]` });
    out.push(phase(p.items[0]!.price.currency, p.items, start, end, p.proration_behavior ?? 'create_prorations', p.metadata));
    start = end;
  });
  const before = clone(schedule);
  schedule.phases = out;
  schedule.current_phase = { start_date: out[0]!.start_date, end_date: out[0]!.end_date };
  if (endBehavior) schedule.end_behavior = endBehavior;
  ctx.emit('subscription_schedule.updated', schedule, diff(before, schedule));
  return schedule;
}

/** `POST /v1/subscription_schedules/:id/release`: the subscription goes on by itself, as it now is. */
export function releaseSchedule(ctx: EmulatorContext, schedule: Stripe.SubscriptionSchedule): Stripe.SubscriptionSchedule {
  if (schedule.status !== 'active' && schedule.status !== 'not_started')
    throw invalidRequest(`You cannot release a subscription schedule that is currently in the \`${schedule.status}\` status.`);
  const sub = subscriptionOf(ctx, schedule);
  schedule.status = 'released';
  schedule.released_at = ctx.nowFor(schedule);
  schedule.released_subscription = sub?.id ?? null;
  schedule.subscription = null;
  schedule.current_phase = null;
  ctx.emit('subscription_schedule.released', schedule);
  if (sub) detach(ctx, sub);
  return schedule;
}

/** `POST /v1/subscription_schedules/:id/cancel`: the schedule and its subscription end now. */
export function cancelSchedule(ctx: EmulatorContext, schedule: Stripe.SubscriptionSchedule): Stripe.SubscriptionSchedule {
  if (schedule.status !== 'active' && schedule.status !== 'not_started')
    throw invalidRequest(`You cannot cancel a subscription schedule that is currently in the \`${schedule.status}\` status.`);
  schedule.status = 'canceled';
  schedule.canceled_at = ctx.nowFor(schedule);
  schedule.current_phase = null;
  ctx.emit('subscription_schedule.canceled', schedule);
  const sub = subscriptionOf(ctx, schedule);
  if (sub && sub.status !== 'canceled' && sub.status !== 'incomplete_expired') cancelSubscription(ctx, sub);
  return schedule;
}

function detach(ctx: EmulatorContext, sub: Stripe.Subscription): void {
  const before = clone(sub);
  sub.schedule = null;
  ctx.emit('customer.subscription.updated', sub, diff(before, sub));
}

/** When the schedule's current phase ends, or null. */
export function scheduleDue(schedule: Stripe.SubscriptionSchedule): number | null {
  return schedule.status === 'active' ? (schedule.current_phase?.end_date ?? null) : null;
}

/** The current phase has ended: the next one begins on the subscription, or the schedule completes. */
export function advanceSchedule(ctx: EmulatorContext, schedule: Stripe.SubscriptionSchedule): void {
  const sub = subscriptionOf(ctx, schedule);
  const at = schedule.current_phase?.end_date ?? ctx.nowFor(schedule);
  const next = schedule.phases.find((p) => p.start_date === at);
  const before = clone(schedule);
  if (!sub || sub.status === 'canceled' || sub.status === 'incomplete_expired' || !next) {
    schedule.status = 'completed';
    schedule.completed_at = at;
    schedule.current_phase = null;
    if (sub && schedule.end_behavior !== 'cancel') schedule.released_subscription = sub.id;
    ctx.emit('subscription_schedule.completed', schedule);
    if (sub && schedule.end_behavior !== 'cancel') detach(ctx, sub);
    return;
  }
  schedule.current_phase = { start_date: next.start_date, end_date: next.end_date };
  const isLast = next === schedule.phases[schedule.phases.length - 1];
  enterPhase(ctx, sub, next, isLast && schedule.end_behavior === 'cancel');
  ctx.emit('subscription_schedule.updated', schedule, diff(before, schedule));
}

/** Puts a phase's first item on the subscription (`customer.subscription.updated`). */
function enterPhase(ctx: EmulatorContext, sub: Stripe.Subscription, next: Stripe.SubscriptionSchedule.Phase, cancelAtEnd: boolean): void {
  const wanted = next.items[0]!;
  const price = ctx.retrieve<PriceObject>('price', idOf(wanted.price as string | { id: string }));
  const quantity = wanted.quantity ?? 1;
  const before = clone(sub);
  const item = firstItem(sub);
  const period = currentPeriod(sub);
  if (next.start_date < period.end) {
    // within a period: a change like any other, prorated as the phase says
    changeSubscriptionPrice(
      ctx,
      sub,
      { item: item.id, price, quantity, proration_behavior: next.proration_behavior as ProrationBehavior, off_session: true },
      { emit: false },
    );
  } else {
    // at the period end: the renewal that follows bills the new price; a new interval restarts the cycle here
    const oldR = recurrenceOf(priceOfItem(item));
    const newR = recurrenceOf(price);
    item.price = asStripePrice(clone(price));
    item.plan = planOf(price);
    item.quantity = quantity;
    if (oldR.interval !== newR.interval || oldR.interval_count !== newR.interval_count) {
      sub.billing_cycle_anchor = next.start_date;
      subscriptionMeta(ctx, sub).periodIndex = -1;
    }
  }
  if (cancelAtEnd) sub.cancel_at = next.end_date;
  const previous = diff(before, sub);
  if (previous) ctx.emit('customer.subscription.updated', sub, previous);
}
