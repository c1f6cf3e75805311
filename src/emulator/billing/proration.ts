import type Stripe from 'stripe';
import { clone, diff, type EmulatorContext } from '../core/context';
import { ApiError } from '../core/errors';
import { asStripePrice } from '../resources/prices';
import {
  createSubscriptionInvoice,
  finalizeInvoice,
  invoiceMeta,
  invoicePaymentOf,
  payInvoice,
  subscriptionIdOf,
  voidInvoice,
  type InvoicePaymentResult,
} from './invoices';
import {
  PENDING_UPDATE_TTL,
  planPriceChange,
  type PriceChangeInput,
  type PriceChangePlan,
  type UpdatePaymentBehavior,
} from './prorationPlan';
import { batched, firstItem, planOf, subscriptionMeta } from './subscriptions';
import { idOf } from './util';

export * from './prorationPlan';
export { previewPriceChange } from './preview';

/**
 * Applying a price change (see prorationPlan.ts for what it bills): at once, or, with
 * `payment_behavior=pending_if_incomplete`, once its invoice is paid; `pending_update` shows it meanwhile.
 */

/** Hidden state of a subscription with a change waiting for its invoice to be paid. */
interface PendingChangeMeta {
  pendingChange?: { plan: PriceChangePlan; invoice: string; expiresAt: number };
}

const pendingMeta = (ctx: EmulatorContext, sub: Stripe.Subscription): PendingChangeMeta => subscriptionMeta(ctx, sub) as PendingChangeMeta;

/** Puts a planned change on the subscription: the item's price, quantity and (when reset) the anchor and period. */
function applyPlan(ctx: EmulatorContext, sub: Stripe.Subscription, plan: PriceChangePlan): void {
  const item = sub.items.data.find((i) => i.id === plan.item.id) ?? firstItem(sub);
  item.price = asStripePrice(clone(plan.price));
  item.plan = planOf(plan.price);
  item.quantity = plan.quantity;
  if (plan.anchor !== null) {
    sub.billing_cycle_anchor = plan.anchor;
    subscriptionMeta(ctx, sub).periodIndex = 0;
    for (const i of sub.items.data) {
      i.current_period_start = plan.period.start;
      i.current_period_end = plan.period.end;
    }
    if (sub.cancel_at_period_end) sub.cancel_at = plan.period.end;
  }
  if (!plan.invoiceNow && plan.lines.length) {
    const meta = subscriptionMeta(ctx, sub);
    meta.pendingProrations = [...(meta.pendingProrations ?? []), ...plan.lines];
  }
}

/** The item as `pending_update.subscription_items` shows it: as it will be once the change applies. */
function pendingItem(plan: PriceChangePlan): Stripe.SubscriptionItem {
  const item = clone(plan.item);
  item.price = asStripePrice(clone(plan.price));
  item.plan = planOf(plan.price);
  item.quantity = plan.quantity;
  if (plan.anchor !== null) {
    item.current_period_start = plan.period.start;
    item.current_period_end = plan.period.end;
  }
  return item;
}

/**
 * Changes an item's price at once (`POST /v1/subscriptions/:id` with `items[0][id]` and `items[0][price]`),
 * invoicing and charging what is due now when the change calls for it. Emits `customer.subscription.updated`
 * (unless `emit` is false: the caller reports it with its own changes). Throws the card error (402) with
 * `error_if_incomplete` when the payment fails, changing nothing.
 */
export function changeSubscriptionPrice(
  ctx: EmulatorContext,
  sub: Stripe.Subscription,
  input: PriceChangeInput,
  opts: { emit?: boolean } = {},
): Stripe.Subscription {
  const plan = planPriceChange(ctx, sub, input);
  const before = clone(sub);
  const behavior = input.payment_behavior ?? 'allow_incomplete';
  if (!plan.invoiceNow) applyPlan(ctx, sub, plan);
  else invoiceChange(ctx, sub, plan, input, behavior);
  const previous = diff(before, sub);
  if (previous && opts.emit !== false) ctx.emit('customer.subscription.updated', sub, previous);
  return sub;
}

/**
 * Makes, finalizes and pays the invoice of a change. With `allow_incomplete`/`default_incomplete` the change
 * stands whatever the payment does (unpaid: `past_due`); with `error_if_incomplete` and
 * `pending_if_incomplete` it waits for the payment (the invoice.paid listener applies it): refused with the
 * card error, or kept in `pending_update`.
 */
function invoiceChange(
  ctx: EmulatorContext,
  sub: Stripe.Subscription,
  plan: PriceChangePlan,
  input: PriceChangeInput,
  behavior: UpdatePaymentBehavior,
): void {
  const meta = pendingMeta(ctx, sub);
  const waits = behavior === 'pending_if_incomplete' || behavior === 'error_if_incomplete';
  let result: InvoicePaymentResult | null = null;
  const invoice = batched(ctx, sub, () => {
    const inv = createSubscriptionInvoice(ctx, {
      subscription: sub,
      reason: 'subscription_update',
      lines: plan.lines,
      period: plan.period,
      invoicePeriod: { start: plan.at, end: plan.at },
    });
    if (waits) {
      meta.pendingChange = { plan, invoice: inv.id, expiresAt: ctx.now(idOf(sub.customer)) + PENDING_UPDATE_TTL };
      subscriptionMeta(ctx, sub).pendingInvoice = inv.id;
    } else applyPlan(ctx, sub, plan);
    sub.latest_invoice = inv.id;
    finalizeInvoice(ctx, inv);
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
  if (invoice.status === 'paid') return;
  if (behavior === 'pending_if_incomplete') {
    sub.pending_update = {
      billing_cycle_anchor: plan.anchor,
      cancel_at_period_end: null,
      discount: null,
      discounts: null,
      expires_at: meta.pendingChange!.expiresAt,
      metadata: null,
      subscription_items: [pendingItem(plan)],
      trial_end: null,
      trial_from_plan: null,
    };
    return;
  }
  if (behavior === 'error_if_incomplete') {
    discardPending(ctx, sub);
    throw undoChange(ctx, sub, invoice, (result as InvoicePaymentResult | null)?.error ?? null);
  }
  if (sub.status === 'active') sub.status = 'past_due';
}

/** `error_if_incomplete`: Stripe answers the payment error and keeps nothing of the change. */
function undoChange(ctx: EmulatorContext, sub: Stripe.Subscription, invoice: Stripe.Invoice, error: ApiError | null): ApiError {
  const payment = invoicePaymentOf(ctx, invoice);
  if (payment) ctx.store.remove(payment.id);
  ctx.store.remove(invoice.id);
  const previous = ctx.store.newest<Stripe.Invoice>('invoice').find((i) => subscriptionIdOf(i) === sub.id);
  sub.latest_invoice = previous?.id ?? null;
  return (
    error ??
    new ApiError(402, { type: 'card_error', code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.' })
  );
}

/** When a subscription's pending update expires, or null. */
export function pendingUpdateDue(ctx: EmulatorContext, sub: Stripe.Subscription): number | null {
  return pendingMeta(ctx, sub).pendingChange?.expiresAt ?? null;
}

/** A pending update not paid for in time is discarded and its invoice voided (`customer.subscription.pending_update_expired`). */
export function expirePendingUpdate(ctx: EmulatorContext, sub: Stripe.Subscription): void {
  const pending = pendingMeta(ctx, sub).pendingChange;
  if (!pending) return;
  const invoice = ctx.store.find<Stripe.Invoice>('invoice', pending.invoice);
  discardPending(ctx, sub);
  ctx.emit('customer.subscription.pending_update_expired', sub);
  if (invoice?.status === 'open') voidInvoice(ctx, invoice);
}

function discardPending(ctx: EmulatorContext, sub: Stripe.Subscription): void {
  delete pendingMeta(ctx, sub).pendingChange;
  delete subscriptionMeta(ctx, sub).pendingInvoice;
  sub.pending_update = null;
}

/**
 * The invoice of a pending update paid (later: 3-D Secure, another card): the change applies
 * (`customer.subscription.pending_update_applied`, `customer.subscription.updated`). Voided: it is discarded.
 */
export function registerPendingUpdateListeners(ctx: EmulatorContext): void {
  const subOf = (invoice: Stripe.Invoice) => {
    const subId = subscriptionIdOf(invoice) ?? invoiceMeta(ctx, invoice).subscription;
    return subId ? ctx.store.find<Stripe.Subscription>('subscription', subId) : undefined;
  };
  ctx.on('invoice.paid', (event) => {
    const invoice = event.data.object as Stripe.Invoice;
    const sub = subOf(invoice);
    const pending = sub ? pendingMeta(ctx, sub).pendingChange : undefined;
    if (!sub || !pending || pending.invoice !== invoice.id) return;
    const before = clone(sub);
    const wasVisible = sub.pending_update !== null;
    discardPending(ctx, sub);
    applyPlan(ctx, sub, pending.plan);
    if (subscriptionMeta(ctx, sub).batch || !wasVisible) return;
    ctx.emit('customer.subscription.pending_update_applied', sub);
    const previous = diff(before, sub);
    if (previous) ctx.emit('customer.subscription.updated', sub, previous);
  });
  ctx.on('invoice.voided', (event) => {
    const invoice = event.data.object as Stripe.Invoice;
    const sub = subOf(invoice);
    const pending = sub ? pendingMeta(ctx, sub).pendingChange : undefined;
    if (!sub || !pending || pending.invoice !== invoice.id) return;
    const before = clone(sub);
    discardPending(ctx, sub);
    const previous = diff(before, sub);
    if (previous) ctx.emit('customer.subscription.updated', sub, previous);
  });
}
