import { SubscriptionStatus, type Subscription } from '../../entities';
import { conflict, type DomainError } from '../../errors';

/** Statuses in which a subscription still holds (or is about to hold) the user's paid plan. */
export const HOLDING: SubscriptionStatus[] = [
  SubscriptionStatus.ACTIVE,
  SubscriptionStatus.TRIALING,
  SubscriptionStatus.PAST_DUE,
  SubscriptionStatus.UNPAID,
  SubscriptionStatus.INCOMPLETE,
];

/**
 * Whether the subscription no longer holds the plan, though no webhook may have said so yet: one set to
 * cancel whose period is over. One that renews still holds past its period end: Stripe renews it (or
 * makes it past due) and the plan in force keeps it meanwhile (renewal grace).
 */
export function hasEnded(sub: Subscription): boolean {
  if (!HOLDING.includes(sub.status) || sub.endedAt) return true;
  const periodOver = sub.currentPeriodEnd !== null && sub.currentPeriodEnd !== undefined && sub.currentPeriodEnd <= new Date();
  return periodOver && sub.cancelAtPeriodEnd;
}

/** The CONFLICT a user gets who asks for a second paid subscription while `holding` still holds. */
export function alreadySubscribed(holding: Subscription): DomainError {
  if (holding.status === SubscriptionStatus.INCOMPLETE) {
    return conflict(
      'You have a subscription waiting for its first payment (e.g. 3-D Secure); complete it, or cancel it before buying another',
      {
        subscriptionId: holding.id,
        status: 'INCOMPLETE',
      },
    );
  }
  return conflict('You already have a paid subscription; cancel it or wait for it to end before buying another', {
    subscriptionId: holding.id,
  });
}
