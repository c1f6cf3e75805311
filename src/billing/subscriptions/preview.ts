import type { EntityManager } from '@mikro-orm/postgresql';
import { PricingInterval, type PlanPricing } from '../../entities';
import { parseInput } from '../../input';
import { callStripe } from '../../stripe/errors';
import type { BillingDeps } from '../deps';
import { changeKind, downgradeRefusal, refusal, targetPricing, type ChangeKind } from './changeRules';
import { previewInput } from './inputs';
import { ownSubscription } from './queries';

export interface PreviewLine {
  description: string;
  amountMinor: number;
  periodStart: Date;
  periodEnd: Date;
}

/** What a change would do, as Stripe's invoice preview says, with nothing changed. */
export interface ChangePreview {
  kind: ChangeKind;
  pricing: PlanPricing;
  currency: string;
  /** charged at once: the upgrade's proration; 0 for a downgrade */
  amountDueMinor: number;
  lines: PreviewLine[];
  /** when the change takes effect: now, or the period end */
  effectiveAt: Date;
  /** the end of the period the change starts or runs into */
  newPeriodEnd: Date | null;
}

const seconds = (t: number) => new Date(t * 1000);

/** The end of one interval of `pricing` from `start` (months keep the day, or the month's last day). */
function oneInterval(start: Date, pricing: PlanPricing): Date {
  const end = new Date(start);
  const n = pricing.intervalCount;
  if (pricing.interval === PricingInterval.DAY) return new Date(start.getTime() + n * 86_400_000);
  const months = pricing.interval === PricingInterval.YEAR ? 12 * n : n;
  end.setUTCDate(1);
  end.setUTCMonth(end.getUTCMonth() + months);
  const lastDay = new Date(Date.UTC(end.getUTCFullYear(), end.getUTCMonth() + 1, 0)).getUTCDate();
  end.setUTCDate(Math.min(start.getUTCDate(), lastDay));
  return end;
}

/**
 * previewSubscriptionChange: refused exactly as changeSubscription would refuse the change. An upgrade is
 * priced by Stripe's invoice preview of the same update (always_invoice), so the amount is what the change
 * then charges; a downgrade is due at the period end and costs nothing now.
 */
export async function previewSubscriptionChange(
  em: EntityManager,
  deps: BillingDeps,
  userId: string,
  raw: { id: string; pricingId: string },
): Promise<ChangePreview> {
  const input = parseInput(previewInput, raw);
  const sub = await ownSubscription(em, userId, input.id);
  await em.populate(sub, ['scheduledPricing']);
  const to = await targetPricing(em, input.pricingId);
  const refused = refusal(sub, to);
  if (refused) throw refused;
  const kind = changeKind(sub.pricing, to);
  if (kind === 'DOWNGRADE') {
    const notNow = downgradeRefusal(sub);
    if (notNow) throw notNow;
    const at = sub.currentPeriodEnd!;
    return { kind, pricing: to, currency: to.currency, amountDueMinor: 0, lines: [], effectiveAt: at, newPeriodEnd: oneInterval(at, to) };
  }
  const s = await callStripe(() => deps.stripe.subscriptions.retrieve(sub.stripeSubscriptionId!), deps);
  const invoice = await callStripe(
    () =>
      deps.stripe.invoices.createPreview({
        customer: typeof s.customer === 'string' ? s.customer : s.customer.id,
        subscription: s.id,
        subscription_details: { items: [{ id: s.items.data[0]!.id, price: to.stripePriceId! }], proration_behavior: 'always_invoice' },
      }),
    deps,
  );
  const lines = invoice.lines.data.map((l) => ({
    description: l.description ?? '',
    amountMinor: l.amount,
    periodStart: seconds(l.period.start),
    periodEnd: seconds(l.period.end),
  }));
  const prorationDate = invoice.parent?.subscription_details?.subscription_proration_date;
  return {
    kind,
    pricing: to,
    currency: invoice.currency,
    amountDueMinor: invoice.amount_due,
    lines,
    effectiveAt: prorationDate ? seconds(prorationDate) : new Date(),
    newPeriodEnd: lines.length ? new Date(Math.max(...lines.map((l) => l.periodEnd.getTime()))) : (sub.currentPeriodEnd ?? null),
  };
}
