import type Stripe from 'stripe';
import { clone, type EmulatorContext } from '../core/context';
import { asStripePrice } from '../resources/prices';
import { buildSubscriptionInvoice } from './invoices';
import { periodAt } from './periods';
import { planPriceChange, type PriceChangeInput } from './prorationPlan';
import { currentPeriod, firstItem, invoiceLines, recurrenceOf, subscriptionMeta } from './subscriptions';

/**
 * What `POST /v1/invoices/create_preview` answers for a price change: the invoice the change makes now
 * (`always_invoice`, or an interval change), else the next renewal invoice with the prorations on it.
 * Nothing is stored or emitted.
 */
export function previewPriceChange(ctx: EmulatorContext, sub: Stripe.Subscription, input: PriceChangeInput): Stripe.Invoice {
  const plan = planPriceChange(ctx, sub, input);
  const id = `upcoming_${ctx.newId('in')}`;
  if (plan.invoiceNow) {
    const invoice = buildSubscriptionInvoice(
      ctx,
      {
        subscription: sub,
        reason: 'subscription_update',
        lines: plan.lines,
        period: plan.period,
        invoicePeriod: { start: plan.at, end: plan.at },
      },
      id,
    );
    invoice.parent!.subscription_details!.subscription_proration_date = plan.at;
    return invoice;
  }
  // the next renewal: pending prorations, these, then the next period on the new price
  const changed = clone(sub);
  const item = changed.items.data.find((i) => i.id === plan.item.id) ?? firstItem(changed);
  item.price = asStripePrice(clone(plan.price));
  item.quantity = plan.quantity;
  const next = periodAt(changed.billing_cycle_anchor, recurrenceOf(plan.price), (subscriptionMeta(ctx, sub).periodIndex ?? 0) + 1);
  const lines = [...(subscriptionMeta(ctx, sub).pendingProrations ?? []), ...plan.lines, ...invoiceLines(ctx, changed)];
  const invoice = buildSubscriptionInvoice(
    ctx,
    { subscription: sub, reason: 'subscription_cycle', lines, period: next, invoicePeriod: currentPeriod(sub) },
    id,
  );
  invoice.parent!.subscription_details!.subscription_proration_date = plan.at;
  return invoice;
}
