import type Stripe from 'stripe';
import { clone, diff, type EmulatorContext } from '../core/context';
import { ApiError, invalidRequest } from '../core/errors';
import { formatAmount } from '../core/currency';
import { asStripePrice, type PriceObject } from '../resources/prices';
import {
  createSubscriptionInvoice,
  finalizeInvoice,
  intentOfInvoice,
  payInvoice,
  subscriptionIdOf,
  voidInvoice,
  invoiceMeta,
  type InvoiceLineInput,
  type InvoicePaymentResult,
} from './invoices';
import { periodAt, type Interval, type Recurrence } from './periods';
import { HOUR, idOf, wireDecimal } from './util';

/**
 * The subscription lifecycle: creation with its first invoice, renewals, cancellation at period end,
 * immediate cancellation and the expiry of unpaid `incomplete` subscriptions. Time comes from the
 * customer's clock (`ctx.now(customer)`), so a customer on a test clock lives at the clock's time.
 */

/** Hidden state of a subscription (store meta). */
export interface SubscriptionMeta {
  /** set while a creation or renewal runs: changes made by payment listeners are reported in its one event */
  batch?: boolean;
  /** the number of the current period (0 = the first), counted from `billing_cycle_anchor` */
  periodIndex?: number;
  /** the invoice of a change that waits for its payment: its failures leave the subscription's status alone */
  pendingInvoice?: string;
  /** prorations of changes made with `create_prorations`, billed on the next renewal invoice */
  pendingProrations?: InvoiceLineInput[];
}

/** An `incomplete` subscription whose first invoice is not paid within 23 hours expires. */
export const INCOMPLETE_TTL = 23 * HOUR;

export type PaymentBehavior = 'allow_incomplete' | 'default_incomplete' | 'error_if_incomplete';
export type SaveDefaultPaymentMethod = Stripe.Subscription.PaymentSettings.SaveDefaultPaymentMethod;

export interface SubscriptionItemInput {
  price: PriceObject;
  quantity: number;
  metadata?: Record<string, string>;
}

export interface CreateSubscriptionInput {
  customer: string;
  items: SubscriptionItemInput[];
  /** must be attached to the customer */
  default_payment_method?: string | null;
  cancel_at_period_end?: boolean;
  payment_behavior?: PaymentBehavior;
  /** `payment_settings[save_default_payment_method]`: `on_subscription` makes the method that pays the default */
  save_default_payment_method?: SaveDefaultPaymentMethod;
  metadata?: Record<string, string>;
  description?: string | null;
  off_session?: boolean;
  /** base URL for 3-D Secure pages */
  origin?: string;
  /** where the 3-D Secure page of the first payment sends the customer back to */
  return_url?: string;
  /** called with the new subscription before its first invoice is paid (links made by the caller) */
  onCreated?: (sub: Stripe.Subscription) => void;
  /** a PaymentIntent that already paid the first period (Checkout takes the payment before the subscription exists) */
  paidBy?: Stripe.PaymentIntent;
}

export function subscriptionMeta(ctx: EmulatorContext, sub: Stripe.Subscription | string): Partial<SubscriptionMeta> {
  return ctx.store.meta<SubscriptionMeta>(typeof sub === 'string' ? sub : sub.id);
}

export function recurrenceOf(price: PriceObject): Recurrence {
  if (!price.recurring) throw new Error(`price ${price.id} is not recurring`);
  return { interval: price.recurring.interval as Interval, interval_count: price.recurring.interval_count };
}

export function priceOfItem(item: Stripe.SubscriptionItem): PriceObject {
  return item.price as unknown as PriceObject;
}

export function firstItem(sub: Stripe.Subscription): Stripe.SubscriptionItem {
  const item = sub.items.data[0];
  if (!item) throw new Error(`subscription ${sub.id} has no items`);
  return item;
}

/** The current period (from the first item: every item of a subscription shares it). */
export function currentPeriod(sub: Stripe.Subscription): { start: number; end: number } {
  const item = firstItem(sub);
  return { start: item.current_period_start, end: item.current_period_end };
}

export function describeLine(ctx: EmulatorContext, price: PriceObject, quantity: number): string {
  const product = typeof price.product === 'string' ? ctx.store.find<Stripe.Product>('product', price.product) : undefined;
  const name = product?.name ?? price.nickname ?? 'Subscription';
  const r = price.recurring;
  const every = r ? (r.interval_count === 1 ? r.interval : `${r.interval_count} ${r.interval}s`) : '';
  return `${quantity} × ${name} (at ${formatAmount(price.unit_amount ?? 0, price.currency)}${every ? ` / ${every}` : ''})`;
}

export function planOf(price: PriceObject): Stripe.Plan {
  const r = price.recurring as Stripe.Price.Recurring;
  return {
    id: price.id,
    object: 'plan',
    active: price.active,
    amount: price.unit_amount,
    amount_decimal: wireDecimal(price.unit_amount_decimal),
    billing_scheme: 'per_unit',
    created: price.created,
    currency: price.currency,
    interval: r.interval,
    interval_count: r.interval_count,
    livemode: false,
    metadata: { ...price.metadata },
    meter: null,
    nickname: price.nickname,
    product: price.product as string,
    tiers_mode: null,
    transform_usage: null,
    trial_period_days: r.trial_period_days,
    usage_type: 'licensed',
  };
}

function cancellation(
  comment: string | null,
  feedback: Stripe.Subscription.CancellationDetails.Feedback | null,
  reason: Stripe.Subscription.CancellationDetails.Reason | null,
): Stripe.Subscription.CancellationDetails {
  return { comment, feedback, feedback_option: null, reason };
}

/** Checks that prices can be billed together: recurring, active, one currency and one interval. */
export function checkSubscriptionPrices(prices: Array<{ price: PriceObject; param: string }>): void {
  for (const { price, param } of prices) {
    if (!price.recurring)
      throw invalidRequest('The price specified is set to `type=one_time` but this field only accepts prices with `type=recurring`.', {
        param,
      });
    if (!price.active) throw invalidRequest('The price specified is inactive. This field only accepts active prices.', { param });
  }
  const first = prices[0]?.price;
  for (const { price, param } of prices.slice(1)) {
    if (price.currency !== first?.currency)
      throw invalidRequest(
        'Currency and interval fields must match across all plans on this subscription. Found mismatch in currency field.',
        { param },
      );
    if (price.recurring?.interval !== first.recurring?.interval || price.recurring?.interval_count !== first.recurring?.interval_count) {
      throw invalidRequest(
        'Currency and interval fields must match across all plans on this subscription. Found mismatch in interval field.',
        { param },
      );
    }
  }
}

/** The payment method a customer's invoices are paid with when the subscription names none. */
function customerDefault(customer: Stripe.Customer): string | null {
  return idOf(customer.invoice_settings?.default_payment_method);
}

/** A payment method that may be a subscription's default: one attached to its customer. */
export function attachedPaymentMethod(ctx: EmulatorContext, customerId: string, id: string, param = 'default_payment_method'): string {
  const pm = ctx.store.find<Stripe.PaymentMethod>('payment_method', id);
  if (!pm || idOf(pm.customer) !== customerId) {
    throw invalidRequest(
      `The customer does not have a payment method with the ID ${id}. The payment method must be attached to the customer.`,
      { param, code: 'resource_missing' },
    );
  }
  return pm.id;
}

/**
 * Runs `fn` with the subscription's state changes gathered: the payment listeners update its status without
 * emitting, and the caller emits one event for everything that changed.
 */
export function batched<T>(ctx: EmulatorContext, sub: Stripe.Subscription, fn: () => T): T {
  const meta = subscriptionMeta(ctx, sub);
  meta.batch = true;
  try {
    return fn();
  } finally {
    delete meta.batch;
  }
}

/**
 * Creates a subscription and its first invoice, and (unless `default_incomplete`) pays it from the default
 * payment method: paid → `active`; declined or waiting for 3-D Secure → `incomplete` (with
 * `error_if_incomplete`, the card error is thrown instead and nothing is kept).
 */
export function createSubscription(ctx: EmulatorContext, input: CreateSubscriptionInput): Stripe.Subscription {
  const customer = ctx.retrieve<Stripe.Customer>('customer', input.customer, 'customer');
  if (!input.items.length) throw invalidRequest('Missing required param: items.', { param: 'items', code: 'parameter_missing' });
  checkSubscriptionPrices(input.items.map((it, i) => ({ price: it.price, param: `items[${i}][price]` })));
  const behavior = input.payment_behavior ?? 'allow_incomplete';
  const defaultPm = input.default_payment_method ? attachedPaymentMethod(ctx, customer.id, input.default_payment_method) : null;
  if (behavior !== 'default_incomplete' && !defaultPm && !customerDefault(customer)) {
    throw invalidRequest(
      'This customer has no attached payment source or default payment method. Please consider adding a default payment method. For more information, visit https://stripe.com/docs/billing/subscriptions/payment-methods-setting#payment-method-priority.',
      { code: 'resource_missing' },
    );
  }

  const now = ctx.now(customer.id);
  const first = input.items[0]?.price as PriceObject;
  const r = recurrenceOf(first);
  const period = periodAt(now, r, 0);
  const id = ctx.newId('sub');
  const items: Stripe.SubscriptionItem[] = input.items.map((it) => ({
    id: ctx.newId('si'),
    object: 'subscription_item',
    billing_thresholds: null,
    created: now,
    current_period_end: period.end,
    current_period_start: period.start,
    current_trial: null,
    discounts: [],
    metadata: it.metadata ?? {},
    plan: planOf(it.price),
    price: asStripePrice(clone(it.price)),
    quantity: it.quantity,
    subscription: id,
    tax_rates: [],
  }));
  const cancelAtPeriodEnd = input.cancel_at_period_end ?? false;
  const sub: Stripe.Subscription = {
    id,
    object: 'subscription',
    application: null,
    application_fee_percent: null,
    automatic_tax: { disabled_reason: null, enabled: false, liability: null },
    billing_cycle_anchor: now,
    billing_cycle_anchor_config: null,
    billing_mode: { flexible: { proration_discounts: 'included' }, type: 'flexible', updated_at: now },
    billing_schedules: [],
    billing_thresholds: null,
    cancel_at: cancelAtPeriodEnd ? period.end : null,
    cancel_at_period_end: cancelAtPeriodEnd,
    canceled_at: cancelAtPeriodEnd ? now : null,
    cancellation_details: cancellation(null, null, cancelAtPeriodEnd ? 'cancellation_requested' : null),
    collection_method: 'charge_automatically',
    created: now,
    currency: first.currency,
    customer: customer.id,
    customer_account: null,
    days_until_due: null,
    default_payment_method: defaultPm,
    default_source: null,
    default_tax_rates: [],
    description: input.description ?? null,
    discounts: [],
    ended_at: null,
    invoice_settings: { account_tax_ids: null, custom_fields: null, description: null, footer: null, issuer: { type: 'self' } },
    items: { object: 'list', data: items, has_more: false, url: `/v1/subscription_items?subscription=${id}` },
    latest_invoice: null,
    livemode: false,
    managed_payments: null,
    metadata: input.metadata ?? {},
    next_pending_invoice_item_invoice: null,
    on_behalf_of: null,
    pause_collection: null,
    payment_settings: {
      payment_method_options: null,
      payment_method_types: null,
      save_default_payment_method: input.save_default_payment_method ?? 'off',
    },
    pending_invoice_item_interval: null,
    pending_setup_intent: null,
    pending_update: null,
    schedule: null,
    start_date: now,
    status: 'incomplete',
    test_clock: customer.test_clock ? idOf(customer.test_clock) : null,
    transfer_data: null,
    trial_end: null,
    trial_settings: { end_behavior: { billing_cycle_anchor: null, missing_payment_method: 'create_invoice' } },
    trial_start: null,
  };
  ctx.store.insert(sub);
  subscriptionMeta(ctx, sub).periodIndex = 0;
  input.onCreated?.(sub);

  let result: InvoicePaymentResult | null = null;
  const invoice = batched(ctx, sub, () => {
    const inv = createSubscriptionInvoice(ctx, {
      subscription: sub,
      reason: 'subscription_create',
      lines: invoiceLines(ctx, sub),
      period,
      invoicePeriod: { start: now, end: now },
    });
    sub.latest_invoice = inv.id;
    finalizeInvoice(ctx, inv, { paidBy: input.paidBy });
    if (inv.status === 'open' && behavior !== 'default_incomplete') {
      result = payInvoice(ctx, inv, {
        off_session: input.off_session,
        error_on_requires_action: behavior === 'error_if_incomplete',
        origin: input.origin,
        return_url: input.return_url,
      });
    }
    return inv;
  });
  if (invoice.status === 'paid') sub.status = 'active';

  if (behavior === 'error_if_incomplete' && sub.status !== 'active') {
    // Stripe answers the payment error (402) and keeps no subscription
    const payment = invoiceMeta(ctx, invoice).invoicePayment;
    if (payment) ctx.store.remove(payment);
    ctx.store.remove(invoice.id);
    ctx.store.remove(sub.id);
    const error = (result as InvoicePaymentResult | null)?.error;
    throw (
      error ??
      new ApiError(402, { type: 'card_error', code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.' })
    );
  }
  ctx.emit('customer.subscription.created', sub);
  return sub;
}

/** The lines of a subscription's invoice for its current items. */
export function invoiceLines(ctx: EmulatorContext, sub: Stripe.Subscription): InvoiceLineInput[] {
  return sub.items.data.map((item) => {
    const price = priceOfItem(item);
    const quantity = item.quantity ?? 1;
    return { price, quantity, subscriptionItem: item.id, description: describeLine(ctx, price, quantity) };
  });
}

/**
 * Starts the next period at the end of the current one: new period on the items, a `subscription_cycle`
 * invoice finalized and paid off-session from the default payment method at once (Stripe waits about an hour
 * before finalizing). Paid → stays `active`; failed → `past_due`. One `customer.subscription.updated`.
 */
export function renewSubscription(ctx: EmulatorContext, sub: Stripe.Subscription): void {
  const meta = subscriptionMeta(ctx, sub);
  const before = clone(sub);
  const r = recurrenceOf(priceOfItem(firstItem(sub)));
  const previous = currentPeriod(sub);
  const index = (meta.periodIndex ?? 0) + 1;
  const next = periodAt(sub.billing_cycle_anchor, r, index);
  meta.periodIndex = index;
  for (const item of sub.items.data) {
    item.current_period_start = next.start;
    item.current_period_end = next.end;
  }
  if (sub.cancel_at_period_end) sub.cancel_at = next.end;
  batched(ctx, sub, () => {
    const prorations = meta.pendingProrations ?? [];
    delete meta.pendingProrations;
    const invoice = createSubscriptionInvoice(ctx, {
      subscription: sub,
      reason: 'subscription_cycle',
      lines: [...prorations, ...invoiceLines(ctx, sub)],
      period: next,
      invoicePeriod: previous,
    });
    sub.latest_invoice = invoice.id;
    finalizeInvoice(ctx, invoice);
    if (invoice.status !== 'open') return;
    try {
      payInvoice(ctx, invoice, { off_session: true });
    } catch (err) {
      // e.g. a default payment method that no longer exists: a failed attempt
      ctx.log('renewal payment attempt failed', { subscription: sub.id, error: (err as Error).message });
      if (invoice.status === 'open') ctx.emit('invoice.payment_failed', invoice);
    }
  });
  const previousAttributes = diff(before, sub);
  if (previousAttributes) ctx.emit('customer.subscription.updated', sub, previousAttributes);
}

/** Ends a subscription that was set to cancel (`canceled`, `ended_at`, `customer.subscription.deleted`). */
export function endSubscription(ctx: EmulatorContext, sub: Stripe.Subscription, at: number): void {
  sub.status = 'canceled';
  sub.ended_at = at;
  sub.canceled_at ??= at;
  if (sub.cancellation_details && !sub.cancellation_details.reason) sub.cancellation_details.reason = 'cancellation_requested';
  ctx.emit('customer.subscription.deleted', sub);
}

/** `DELETE /v1/subscriptions/:id`: ends it now. An unpaid first invoice is voided. */
export function cancelSubscription(
  ctx: EmulatorContext,
  sub: Stripe.Subscription,
  details: { comment?: string | null; feedback?: Stripe.Subscription.CancellationDetails.Feedback | null } = {},
  at?: number,
): Stripe.Subscription {
  if (sub.status === 'canceled' || sub.status === 'incomplete_expired') {
    throw new ApiError(404, {
      type: 'invalid_request_error',
      code: 'resource_missing',
      message: `No such subscription: '${sub.id}'`,
      param: 'id',
    });
  }
  const now = at ?? ctx.now(idOf(sub.customer));
  if (sub.status === 'incomplete') {
    const invoice = latestInvoice(ctx, sub);
    if (invoice?.status === 'open') voidInvoice(ctx, invoice);
  }
  sub.status = 'canceled';
  sub.canceled_at = now;
  sub.ended_at = now;
  sub.cancellation_details = cancellation(
    details.comment !== undefined ? details.comment : (sub.cancellation_details?.comment ?? null),
    details.feedback !== undefined ? details.feedback : (sub.cancellation_details?.feedback ?? null),
    'cancellation_requested',
  );
  ctx.emit('customer.subscription.deleted', sub);
  return sub;
}

/** An `incomplete` subscription not paid within 23 hours: `incomplete_expired`, its invoice voided. */
export function expireIncomplete(ctx: EmulatorContext, sub: Stripe.Subscription, at: number): void {
  const before = clone(sub);
  const invoice = latestInvoice(ctx, sub);
  if (invoice?.status === 'open') voidInvoice(ctx, invoice);
  sub.status = 'incomplete_expired';
  sub.ended_at = at;
  sub.canceled_at = at;
  const previous = diff(before, sub);
  ctx.emit('customer.subscription.updated', sub, previous);
}

export function latestInvoice(ctx: EmulatorContext, sub: Stripe.Subscription): Stripe.Invoice | undefined {
  const id = idOf(sub.latest_invoice);
  return id ? ctx.store.find<Stripe.Invoice>('invoice', id) : undefined;
}

export type DueKind = 'renew' | 'end' | 'expire';

/** What happens next to a subscription without anyone asking, and when; null when nothing will. */
export function subscriptionDue(sub: Stripe.Subscription): { at: number; kind: DueKind } | null {
  if (sub.status === 'incomplete') return { at: sub.created + INCOMPLETE_TTL, kind: 'expire' };
  if (sub.status !== 'active' && sub.status !== 'past_due' && sub.status !== 'unpaid') return null;
  const { end } = currentPeriod(sub);
  if (sub.cancel_at !== null && sub.cancel_at <= end) return { at: sub.cancel_at, kind: 'end' };
  return { at: end, kind: 'renew' };
}

/** Runs what is due for a subscription at `at`. */
export function runSubscriptionDue(ctx: EmulatorContext, sub: Stripe.Subscription, kind: DueKind, at: number): void {
  if (kind === 'expire') expireIncomplete(ctx, sub, at);
  else if (kind === 'end') endSubscription(ctx, sub, at);
  else renewSubscription(ctx, sub);
}

export interface UpdateSubscriptionInput {
  metadata?: Record<string, string>;
  cancel_at_period_end?: boolean;
  default_payment_method?: string | null;
  description?: string | null;
  save_default_payment_method?: SaveDefaultPaymentMethod;
  cancellation_details?: { comment?: string | null; feedback?: Stripe.Subscription.CancellationDetails.Feedback | null };
}

/**
 * Updates what can be updated for the subscription's status (`customer.subscription.updated`). `before`: the
 * subscription before the request's other changes (an item change), so one event reports them all.
 */
export function updateSubscription(
  ctx: EmulatorContext,
  sub: Stripe.Subscription,
  input: UpdateSubscriptionInput,
  before: Stripe.Subscription = clone(sub),
): Stripe.Subscription {
  const ended = sub.status === 'canceled' || sub.status === 'incomplete_expired';
  if (
    ended &&
    (input.cancel_at_period_end !== undefined || input.default_payment_method !== undefined || input.description !== undefined)
  ) {
    throw invalidRequest('A canceled subscription can only update its cancellation_details and metadata.');
  }
  if (sub.schedule && input.cancel_at_period_end !== undefined && input.cancel_at_period_end !== sub.cancel_at_period_end) {
    throw invalidRequest(
      `The subscription is managed by the subscription schedule \`${idOf(sub.schedule)}\`, and updating any cancelation behavior directly is not allowed. Please update the schedule instead.`,
      { param: 'cancel_at_period_end' },
    );
  }
  if (sub.status === 'incomplete' && input.cancel_at_period_end !== undefined) {
    throw invalidRequest(
      'A subscription with status `incomplete` can only update its metadata and default payment method. Pay its first invoice, or cancel it.',
      { param: 'cancel_at_period_end' },
    );
  }
  const customerId = idOf(sub.customer) as string;
  if (input.metadata !== undefined) sub.metadata = input.metadata;
  if (input.description !== undefined) sub.description = input.description;
  if (input.save_default_payment_method !== undefined && sub.payment_settings)
    sub.payment_settings.save_default_payment_method = input.save_default_payment_method;
  if (input.default_payment_method !== undefined) {
    sub.default_payment_method = input.default_payment_method ? attachedPaymentMethod(ctx, customerId, input.default_payment_method) : null;
  }
  if (input.cancellation_details) {
    sub.cancellation_details = cancellation(
      input.cancellation_details.comment !== undefined ? input.cancellation_details.comment : (sub.cancellation_details?.comment ?? null),
      input.cancellation_details.feedback !== undefined
        ? input.cancellation_details.feedback
        : (sub.cancellation_details?.feedback ?? null),
      sub.cancellation_details?.reason ?? null,
    );
  }
  if (input.cancel_at_period_end !== undefined && input.cancel_at_period_end !== sub.cancel_at_period_end) {
    sub.cancel_at_period_end = input.cancel_at_period_end;
    if (input.cancel_at_period_end) {
      // As at Stripe: `canceled_at` is the time of the request, `cancel_at` the end of the period
      sub.cancel_at = currentPeriod(sub).end;
      sub.canceled_at = ctx.now(customerId);
      sub.cancellation_details = cancellation(
        sub.cancellation_details?.comment ?? null,
        sub.cancellation_details?.feedback ?? null,
        'cancellation_requested',
      );
    } else {
      sub.cancel_at = null;
      sub.canceled_at = null;
      sub.cancellation_details = cancellation(null, null, null);
    }
  }
  const previous = diff(before, sub);
  if (previous) ctx.emit('customer.subscription.updated', sub, previous);
  return sub;
}

/**
 * Follows invoice outcomes: a paid invoice activates an `incomplete` or `past_due` subscription (when no other
 * invoice of it is still open); a failed renewal makes an `active` one `past_due`.
 */
export function registerSubscriptionListeners(ctx: EmulatorContext): void {
  ctx.on('invoice.paid', (event) => {
    const invoice = ctx.store.find<Stripe.Invoice>('invoice', (event.data.object as Stripe.Invoice).id);
    const subId = invoice ? (subscriptionIdOf(invoice) ?? invoiceMeta(ctx, invoice).subscription) : undefined;
    const sub = subId ? ctx.store.find<Stripe.Subscription>('subscription', subId) : undefined;
    if (!sub || !invoice) return;
    const before = clone(sub);
    // payment_settings.save_default_payment_method=on_subscription: the method that paid becomes the subscription's default
    const paidWith = idOf(intentOfInvoice(ctx, invoice)?.payment_method);
    if (sub.payment_settings?.save_default_payment_method === 'on_subscription' && paidWith && sub.default_payment_method !== paidWith) {
      sub.default_payment_method = paidWith;
    }
    const stillOpen = ctx.store.all<Stripe.Invoice>('invoice').some((i) => i.status === 'open' && subscriptionIdOf(i) === sub.id);
    if (['incomplete', 'past_due', 'unpaid'].includes(sub.status) && !stillOpen) sub.status = 'active';
    const previous = diff(before, sub);
    if (previous && !subscriptionMeta(ctx, sub).batch) ctx.emit('customer.subscription.updated', sub, previous);
  });
  ctx.on('invoice.payment_failed', (event) => {
    const invoice = ctx.store.find<Stripe.Invoice>('invoice', (event.data.object as Stripe.Invoice).id);
    const subId = invoice ? subscriptionIdOf(invoice) : null;
    const sub = subId ? ctx.store.find<Stripe.Subscription>('subscription', subId) : undefined;
    if (!sub || !invoice || invoice.billing_reason === 'subscription_create') return;
    if (subscriptionMeta(ctx, sub).pendingInvoice === invoice.id) return;
    if (sub.status === 'active') setStatus(ctx, sub, 'past_due');
  });
}

/** Deleting a customer cancels its subscriptions at once, as at Stripe. */
export function registerCustomerDeletion(ctx: EmulatorContext): void {
  ctx.on('customer.deleted', (event) => {
    const customer = event.data.object as Stripe.Customer;
    const customerId = customer.id;
    // the customer is gone: its clock's time, if it had one
    const clock = idOf(customer.test_clock);
    const at = (clock ? ctx.clockTime(clock) : undefined) ?? Math.floor(Date.now() / 1000);
    for (const sub of ctx.store.all<Stripe.Subscription>('subscription')) {
      if (idOf(sub.customer) === customerId && sub.status !== 'canceled' && sub.status !== 'incomplete_expired')
        cancelSubscription(ctx, sub, {}, at);
    }
  });
}

function setStatus(ctx: EmulatorContext, sub: Stripe.Subscription, status: Stripe.Subscription.Status): void {
  const previous = sub.status;
  sub.status = status;
  if (!subscriptionMeta(ctx, sub).batch) ctx.emit('customer.subscription.updated', sub, { status: previous });
}
