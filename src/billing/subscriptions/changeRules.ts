import type { EntityManager } from '@mikro-orm/postgresql';
import { PlanPricing, PricingInterval, SubscriptionStatus, type Subscription } from '../../entities';
import { badInput, notFound, type DomainError } from '../../errors';
import { hasEnded } from './holding';

/**
 * What a move from one pricing option to another is. Plans are ordered by rank (Plan.sortOrder: Free 0,
 * Day Pass 1, Premium 2): a higher rank is an upgrade, taking effect at once; a lower one a downgrade, at
 * the period end. Between options of the same rank (the same plan, say) a longer interval is an upgrade
 * and a shorter one a downgrade; the same interval takes effect at once.
 */
export type ChangeKind = 'UPGRADE' | 'DOWNGRADE';

/** Rough length of an interval in days: only used to order intervals. */
const DAYS: Record<PricingInterval, number> = {
  [PricingInterval.DAY]: 1,
  [PricingInterval.MONTH]: 30,
  [PricingInterval.YEAR]: 365,
  [PricingInterval.ONE_TIME]: 0,
};

const length = (p: PlanPricing) => DAYS[p.interval] * p.intervalCount;

export function changeKind(from: PlanPricing, to: PlanPricing): ChangeKind {
  if (to.plan.sortOrder !== from.plan.sortOrder) return to.plan.sortOrder > from.plan.sortOrder ? 'UPGRADE' : 'DOWNGRADE';
  return length(to) < length(from) ? 'DOWNGRADE' : 'UPGRADE';
}

/** Why a change is refused, as `extensions.reason` beside BAD_USER_INPUT. */
export type ChangeRefusal = 'NOT_IN_FORCE' | 'SAME_PRICING' | 'DEFAULT_PLAN' | 'ENDS_AT_PERIOD_END' | 'OTHER_CURRENCY';

const refuse = (reason: ChangeRefusal, message: string, field = 'pricingId'): DomainError => badInput(message, { field, reason });

/** The pricing option to move to: active and in the catalog (NOT_FOUND otherwise). */
export async function targetPricing(em: EntityManager, pricingId: string): Promise<PlanPricing> {
  const pricing = await em.findOne(PlanPricing, { id: pricingId, active: true }, { populate: ['plan'] });
  if (!pricing) throw notFound('Pricing option');
  return pricing;
}

/** The refusal of a change from `sub` to `to`, or null when it may go ahead. */
export function refusal(sub: Subscription, to: PlanPricing): DomainError | null {
  const inForce =
    sub.stripeSubscriptionId && !hasEnded(sub) && [SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING].includes(sub.status);
  if (!inForce)
    return refuse('NOT_IN_FORCE', `Only a subscription in force can change plans; this one is ${sub.status.toLowerCase()}`, 'id');
  if (to.plan.isDefault || to.amountMinor === 0)
    return refuse('DEFAULT_PLAN', `${to.plan.name} is the default plan: to move to it, use cancelSubscription (it ends at the period end)`);
  if (to.id === sub.pricing.id)
    return refuse(
      'SAME_PRICING',
      sub.scheduledPricing
        ? 'This subscription already has this pricing option; to keep it, use cancelScheduledChange'
        : 'This subscription already has this pricing option',
    );
  if (to.currency !== sub.pricing.currency)
    return refuse(
      'OTHER_CURRENCY',
      `A subscription billed in ${sub.pricing.currency.toUpperCase()} cannot move to a price in ${to.currency.toUpperCase()}`,
    );
  if (!to.stripePriceId) throw new Error(`Pricing ${to.lookupKey} has no Stripe price: the Stripe catalog is not synced`);
  return null;
}

/** A downgrade of a subscription that ends at its period end has nothing to change to. */
export function downgradeRefusal(sub: Subscription): DomainError | null {
  if (!sub.cancelAtPeriodEnd) return null;
  return refuse(
    'ENDS_AT_PERIOD_END',
    sub.pricing.autoRenew
      ? 'This subscription ends at its period end; resume it before scheduling a change'
      : `${sub.plan.name} ends at its period end; subscribe to the other plan once it has ended`,
  );
}
