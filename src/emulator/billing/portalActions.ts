import type Stripe from 'stripe';
import { clone, diff, type EmulatorContext } from '../core/context';
import { invalidRequest } from '../core/errors';
import { attachPaymentMethod, createCardPaymentMethod } from '../payments/payment_methods';
import type { PriceObject } from '../resources/prices';
import { offeredPrices, type PortalConfiguration } from './portal';
import { changeSubscriptionPrice, type ProrationBehavior } from './proration';
import { releaseSchedule, scheduleFromSubscription, scheduleOf, updateSchedulePhases } from './schedules';
import { cancelSubscription, currentPeriod, updateSubscription } from './subscriptions';
import { idOf } from './util';

/**
 * What the customer does on the portal page, with the objects and events Stripe's portal makes. The page
 * routes are customer actions, so the events carry no API request.
 */

type Feedback = Stripe.Subscription.CancellationDetails.Feedback;

/** Subscriptions the portal shows and acts on: the customer's, not ended. */
export function portalSubscriptions(ctx: EmulatorContext, customerId: string): Stripe.Subscription[] {
  return ctx.store
    .newest<Stripe.Subscription>('subscription')
    .filter((s) => idOf(s.customer) === customerId && s.status !== 'canceled' && s.status !== 'incomplete_expired');
}

/** One of the customer's subscriptions, or a refusal (someone else's, or ended). */
export function customerSubscription(ctx: EmulatorContext, customerId: string, id: string): Stripe.Subscription {
  const sub = portalSubscriptions(ctx, customerId).find((s) => s.id === id);
  if (!sub) throw invalidRequest('This subscription cannot be managed here.', { param: 'subscription' });
  return sub;
}

/**
 * Cancels as the configuration says: at period end (`cancel_at_period_end`, `cancellation_details` with the
 * customer's reason and comment, `customer.subscription.updated`) or at once (`customer.subscription.deleted`).
 */
export function portalCancel(
  ctx: EmulatorContext,
  config: PortalConfiguration,
  sub: Stripe.Subscription,
  reason: { feedback: string | null; comment: string | null },
): Stripe.Subscription {
  const cancel = config.features.subscription_cancel;
  if (!cancel.enabled) throw invalidRequest('Canceling is not enabled in this portal.');
  const asked = cancel.cancellation_reason.enabled;
  // only a reason the configuration offers is recorded
  const offered = asked && reason.feedback !== null && cancel.cancellation_reason.options.includes(reason.feedback);
  const details = { feedback: offered ? (reason.feedback as Feedback) : null, comment: asked ? reason.comment : null };
  if (cancel.mode === 'immediately') return cancelSubscription(ctx, sub, details);
  if (sub.cancel_at_period_end) return sub;
  // A plan that ends does not change first: a scheduled change is dropped with its schedule.
  const schedule = scheduleOf(ctx, sub);
  if (schedule) releaseSchedule(ctx, schedule);
  return updateSubscription(ctx, sub, { cancel_at_period_end: true, cancellation_details: details });
}

/** "Renew": takes back a cancellation at period end. */
export function portalResume(ctx: EmulatorContext, sub: Stripe.Subscription): Stripe.Subscription {
  if (!sub.cancel_at_period_end) return sub;
  return updateSubscription(ctx, sub, { cancel_at_period_end: false });
}

export interface PortalCard {
  number: string;
  exp_month: number;
  exp_year: number;
  cvc: string;
  name: string | null;
}

/**
 * Replaces the customer's card: a new card PaymentMethod, attached (`payment_method.attached`; a card that
 * cannot be saved is refused before anything else changes), made the customer's default for invoices
 * (`customer.updated`) and the default of each of its subscriptions (`customer.subscription.updated`).
 */
export function portalReplaceCard(
  ctx: EmulatorContext,
  config: PortalConfiguration,
  customer: Stripe.Customer,
  card: PortalCard,
): Stripe.PaymentMethod {
  if (!config.features.payment_method_update.enabled) throw invalidRequest('Updating the payment method is not enabled in this portal.');
  const pm = createCardPaymentMethod(ctx, {
    number: card.number,
    exp_month: card.exp_month,
    exp_year: card.exp_year,
    cvc: card.cvc,
    billing_details: { email: customer.email, name: card.name },
    param: 'cardNumber',
  });
  attachPaymentMethod(ctx, pm, customer.id);
  const before = clone(customer);
  customer.invoice_settings.default_payment_method = pm.id;
  const previous = diff(before, customer);
  if (previous) ctx.emit('customer.updated', customer, previous);
  for (const sub of portalSubscriptions(ctx, customer.id)) {
    if (sub.default_payment_method !== pm.id) updateSubscription(ctx, sub, { default_payment_method: pm.id });
  }
  return pm;
}

/** The customer's card shown on the page: the invoice default, else the newest attached card. */
export function currentCard(ctx: EmulatorContext, customer: Stripe.Customer): Stripe.PaymentMethod | undefined {
  const id = idOf(customer.invoice_settings.default_payment_method);
  const byDefault = id ? ctx.store.find<Stripe.PaymentMethod>('payment_method', id) : undefined;
  if (byDefault) return byDefault;
  return ctx.store.newest<Stripe.PaymentMethod>('payment_method').find((pm) => idOf(pm.customer) === customer.id);
}

/** Invoices the portal lists: the customer's finalized ones, newest first. */
export function portalInvoices(ctx: EmulatorContext, customerId: string): Stripe.Invoice[] {
  return ctx.store.newest<Stripe.Invoice>('invoice').filter((i) => idOf(i.customer) === customerId && i.status !== 'draft');
}

/** The change a subscription schedule makes at the end of the current phase, if any. */
export function scheduledChange(ctx: EmulatorContext, sub: Stripe.Subscription): { price: PriceObject; at: number } | null {
  const schedule = scheduleOf(ctx, sub);
  if (!schedule || (schedule.status !== 'active' && schedule.status !== 'not_started')) return null;
  const now = ctx.now(idOf(sub.customer));
  const next = schedule.phases.find((phase) => phase.start_date > now);
  const priceId = next ? idOf(next.items[0]?.price as string | { id: string } | undefined) : null;
  const price = priceId ? ctx.store.find<PriceObject>('price', priceId) : undefined;
  return next && price ? { price, at: next.start_date } : null;
}

/** How long a price's interval is, in days (for comparing intervals: a month counts 30 days, a year 365). */
function intervalDays(price: PriceObject): number {
  const days: Record<string, number> = { day: 1, week: 7, month: 30, year: 365 };
  return (days[price.recurring?.interval ?? 'month'] ?? 30) * (price.recurring?.interval_count ?? 1);
}

/**
 * Whether the configuration's `schedule_at_period_end` conditions put a change off to the period's end:
 * `decreasing_item_amount` (the new item costs less) or `shortening_interval` (a shorter billing interval).
 */
export function changesAtPeriodEnd(config: PortalConfiguration, from: PriceObject, quantity: number, to: PriceObject): boolean {
  return config.features.subscription_update.schedule_at_period_end.conditions.some((c) =>
    c.type === 'decreasing_item_amount'
      ? (to.unit_amount ?? 0) * quantity < (from.unit_amount ?? 0) * quantity
      : c.type === 'shortening_interval' && intervalDays(to) < intervalDays(from),
  );
}

/**
 * Switches a subscription to another of the configured prices: at once, with the configuration's proration
 * behaviour (a payment the card refuses changes nothing and says why), or, when a `schedule_at_period_end`
 * condition holds, at the end of the period through a subscription schedule whose next phase has the new
 * price. Choosing the current price again drops a scheduled change. Answers the page's notice.
 */
export function portalChangePrice(
  ctx: EmulatorContext,
  config: PortalConfiguration,
  sub: Stripe.Subscription,
  priceId: string,
  origin: string,
): 'updated' | 'scheduled' | 'kept' {
  const item = sub.items.data[0];
  if (!item || sub.cancel_at_period_end) throw invalidRequest('Renew this plan before changing it.', { param: 'price' });
  const from = item.price as unknown as PriceObject;
  const quantity = item.quantity ?? 1;
  const schedule = scheduleOf(ctx, sub);
  if (priceId === from.id) {
    if (!schedule) throw invalidRequest('This is already your plan.', { param: 'price' });
    releaseSchedule(ctx, schedule);
    return 'kept';
  }
  const offer = offeredPrices(ctx, config).find(({ price }) => price.id === priceId);
  if (!offer || offer.price.currency !== sub.currency) throw invalidRequest('This plan is not offered here.', { param: 'price' });
  const update = config.features.subscription_update;
  if (changesAtPeriodEnd(config, from, quantity, offer.price)) {
    const current = { items: [{ price: from, quantity }], start_date: currentPeriod(sub).start, end_date: currentPeriod(sub).end };
    const next = { items: [{ price: offer.price, quantity }], proration_behavior: update.proration_behavior as ProrationBehavior };
    updateSchedulePhases(ctx, schedule ?? scheduleFromSubscription(ctx, sub), [current, next], 'release');
    return 'scheduled';
  }
  // An upgrade replaces a downgrade that was waiting for the period end.
  if (schedule) releaseSchedule(ctx, schedule);
  changeSubscriptionPrice(ctx, sub, {
    item: item.id,
    price: offer.price,
    quantity,
    proration_behavior: update.proration_behavior as ProrationBehavior,
    payment_behavior: 'error_if_incomplete',
    origin,
  });
  return 'updated';
}
