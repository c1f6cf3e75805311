import type { PlanPricing, Subscription, User } from '../../entities';
import { idempotencyKey } from '../../stripe/client';
import type { CheckedSubscribeInput } from './inputs';
import { SUBSCRIPTION_ID_KEY } from './stripeState';

/** One subscribe call with its input checked, its pricing option found and the user's lock held: what its paths work from. */
export interface SubscribeCall extends CheckedSubscribeInput {
  user: User;
  customerId: string;
  pricing: PlanPricing;
  /** Days of free trial this subscription gets (0: none; see trials.ts). */
  trialDays: number;
}

/** What subscribe answers: the row, and what the client needs next (a Checkout URL, or a client secret for 3-D Secure). */
export interface SubscribeResult {
  subscription: Subscription;
  checkoutUrl?: string | null;
  clientSecret?: string | null;
  /** Stripe's page for the 3-D Secure step, beside clientSecret. */
  nextActionUrl?: string | null;
}

/** What Stripe keeps about the subscribe call: enough to find our row again, or to rebuild it if it was lost. */
export function subscribeMetadata(call: SubscribeCall, sub: Subscription): Record<string, string> {
  return {
    tollgate_user_id: call.user.id,
    [SUBSCRIPTION_ID_KEY]: sub.id,
    tollgate_pricing_id: call.pricing.id,
    tollgate_plan: call.pricing.plan.code,
    ...(sub.idempotencyKey ? { tollgate_idempotency_key: sub.idempotencyKey } : {}),
  };
}

/** The idempotency key of one Stripe write of the call, derived from its new row's id (a retry after a lost answer is recognised by holdingInStripe instead). */
export function subscribeStep(sub: Subscription, step: string): string {
  return idempotencyKey('subscribe', sub.id, step);
}
