import type Stripe from 'stripe';
import type { EmulatorContext } from '../core/context';
import { invalidRequest } from '../core/errors';
import type { PriceObject } from '../resources/prices';
import { subscriptionIdOf, type InvoiceLineInput } from './invoices';
import { periodAt } from './periods';
import { checkSubscriptionPrices, currentPeriod, describeLine, firstItem, priceOfItem, recurrenceOf } from './subscriptions';
import { HOUR, idOf } from './util';

/**
 * Changing the price (or quantity) of a subscription's item, as Stripe does it: the unused time on the old
 * price is credited and the remaining time on the new one charged, each in proportion to the seconds left in
 * the current period (`proration_date`, default now). When the interval changes the billing cycle anchor
 * resets to now: a new period starts at once and is charged in full, less the credit, on an invoice made now.
 * `proration_behavior`: `create_prorations` (default) keeps the prorations for the next renewal invoice,
 * `always_invoice` invoices and charges them now, `none` makes none. With
 * `payment_behavior=pending_if_incomplete` an invoice that is not paid at once leaves the subscription as it
 * was, with the change in `pending_update` until the invoice is paid (then applied) or 23 hours pass.
 */

export type ProrationBehavior = 'create_prorations' | 'always_invoice' | 'none';
export type UpdatePaymentBehavior = 'allow_incomplete' | 'default_incomplete' | 'error_if_incomplete' | 'pending_if_incomplete';

/** A pending update is discarded when its invoice is not paid within 23 hours. */
export const PENDING_UPDATE_TTL = 23 * HOUR;

export interface PriceChangeInput {
  /** the item to change; default the subscription's only item */
  item?: string;
  price: PriceObject;
  quantity?: number;
  proration_behavior?: ProrationBehavior;
  /** unix seconds within the current period; default now */
  proration_date?: number;
  payment_behavior?: UpdatePaymentBehavior;
  off_session?: boolean;
  origin?: string;
  return_url?: string;
}

/** What a price change does, worked out without changing anything. */
export interface PriceChangePlan {
  item: Stripe.SubscriptionItem;
  price: PriceObject;
  quantity: number;
  /** the proration date */
  at: number;
  /** set when the interval changes: the new anchor and first period */
  anchor: number | null;
  period: { start: number; end: number };
  /** invoice lines for the change: prorations, and the new period's charge when the interval changes */
  lines: InvoiceLineInput[];
  /** whether the lines are invoiced now (else they wait for the next renewal) */
  invoiceNow: boolean;
}

function shortDate(t: number): string {
  const d = new Date(t * 1000);
  const month = d.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
  return `${String(d.getUTCDate()).padStart(2, '0')} ${month} ${d.getUTCFullYear()}`;
}

function productName(ctx: EmulatorContext, price: PriceObject): string {
  const product = typeof price.product === 'string' ? ctx.store.find<Stripe.Product>('product', price.product) : undefined;
  return product?.name ?? price.nickname ?? 'Subscription';
}

/** The invoice line that billed an item's current period, which a credit for its unused time refers to. */
function billedLine(ctx: EmulatorContext, sub: Stripe.Subscription, item: Stripe.SubscriptionItem): Stripe.InvoiceLineItem | undefined {
  const { start } = currentPeriod(sub);
  for (const invoice of ctx.store.newest<Stripe.Invoice>('invoice')) {
    if (subscriptionIdOf(invoice) !== sub.id || invoice.status !== 'paid') continue;
    const line = invoice.lines.data.find(
      (l) => l.parent?.subscription_item_details?.subscription_item === item.id && l.period.start === start && l.amount > 0,
    );
    if (line) return line;
  }
  return undefined;
}

function checkChangeable(sub: Stripe.Subscription): void {
  if (sub.status === 'canceled' || sub.status === 'incomplete_expired')
    throw invalidRequest('A canceled subscription can only update its cancellation_details and metadata.');
  if (sub.status === 'incomplete')
    throw invalidRequest(
      'A subscription with status `incomplete` can only update its metadata and default payment method. Pay its first invoice, or cancel it.',
      { param: 'items' },
    );
  if (sub.pending_update)
    throw invalidRequest('This subscription has a pending update. Pay or void its latest invoice before changing it again.', {
      param: 'items',
    });
}

/** Works out the prorations and the new period of a price change (nothing is changed). */
export function planPriceChange(ctx: EmulatorContext, sub: Stripe.Subscription, input: PriceChangeInput): PriceChangePlan {
  checkChangeable(sub);
  const item = input.item ? sub.items.data.find((i) => i.id === input.item) : firstItem(sub);
  if (!item)
    throw invalidRequest(`Subscription item ${input.item} does not belong to subscription ${sub.id}.`, {
      param: 'items[0][id]',
      code: 'resource_missing',
    });
  checkSubscriptionPrices([{ price: input.price, param: 'items[0][price]' }]);
  if (input.price.currency !== sub.currency)
    throw invalidRequest(`The price specified has currency ${input.price.currency} but this subscription's currency is ${sub.currency}.`, {
      param: 'items[0][price]',
    });
  const now = ctx.now(idOf(sub.customer));
  const period = currentPeriod(sub);
  const at = input.proration_date ?? now;
  if (at < period.start || at > period.end)
    throw invalidRequest('proration_date must be within the current billing period of the subscription.', { param: 'proration_date' });
  const oldPrice = priceOfItem(item);
  const oldQuantity = item.quantity ?? 1;
  const quantity = input.quantity ?? oldQuantity;
  const behavior = input.proration_behavior ?? 'create_prorations';
  const oldR = recurrenceOf(oldPrice);
  const newR = recurrenceOf(input.price);
  const intervalChanged = oldR.interval !== newR.interval || oldR.interval_count !== newR.interval_count;
  const fraction = (period.end - at) / (period.end - period.start);
  const lines: InvoiceLineInput[] = [];
  if (behavior !== 'none') {
    const billed = billedLine(ctx, sub, item);
    const credited = billed?.amount ?? (oldPrice.unit_amount ?? 0) * oldQuantity;
    lines.push({
      price: oldPrice,
      quantity: oldQuantity,
      subscriptionItem: item.id,
      description: `Unused time on ${productName(ctx, oldPrice)} after ${shortDate(at)}`,
      amount: -Math.round(credited * fraction),
      period: { start: at, end: period.end },
      proration: true,
      creditedItems: billed ? { invoice: billed.invoice as string, invoice_line_items: [billed.id] } : null,
    });
  }
  if (intervalChanged) {
    // a new billing period starts now and is charged in full
    const next = periodAt(now, newR, 0);
    lines.push({
      price: input.price,
      quantity,
      subscriptionItem: item.id,
      description: describeLine(ctx, input.price, quantity),
      period: next,
    });
    return { item, price: input.price, quantity, at, anchor: now, period: next, lines, invoiceNow: true };
  }
  if (behavior !== 'none') {
    lines.push({
      price: input.price,
      quantity,
      subscriptionItem: item.id,
      description: `Remaining time on ${quantity > 1 ? `${quantity} × ` : ''}${productName(ctx, input.price)} after ${shortDate(at)}`,
      amount: Math.round((input.price.unit_amount ?? 0) * quantity * fraction),
      period: { start: at, end: period.end },
      proration: true,
    });
  }
  return { item, price: input.price, quantity, at, anchor: null, period, lines, invoiceNow: behavior === 'always_invoice' };
}
