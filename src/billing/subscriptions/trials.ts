import type { EntityManager } from '@mikro-orm/postgresql';
import { Subscription, type PlanPricing, type User } from '../../entities';

/**
 * Free trials. Stripe gives a trial to whichever subscription asks for one, so the rule is ours: one trial
 * per user and plan. Any earlier subscription of the user to the plan that had a trial (ended, canceled
 * during its trial, or made in Stripe and adopted) uses it up, whichever pricing option it was bought with.
 */
export async function trialDaysFor(tx: EntityManager, user: User, pricing: PlanPricing): Promise<number> {
  if (pricing.trialDays === 0) return 0;
  const earlier = await tx.count(Subscription, { user, plan: pricing.plan, trialEnd: { $ne: null } });
  return earlier > 0 ? 0 : pricing.trialDays;
}
