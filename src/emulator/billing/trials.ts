import type Stripe from 'stripe';
import type { EmulatorContext } from '../core/context';
import { invalidRequest } from '../core/errors';
import { DAY, idOf } from './util';

/**
 * Free trials (`trial_period_days`, `trial_end`), as Stripe runs them: during the trial the subscription is
 * `trialing`, its current period is the trial and its `billing_cycle_anchor` the trial's end; its first
 * invoice is a paid $0 one. At `trial_end` the first paid period starts and its invoice is charged as a
 * renewal's is (subscriptions.ts). `customer.subscription.trial_will_end` comes three days before the end, or
 * at once when fewer than three days are left, and when `trial_end=now` ends the trial.
 */

/** How long before its end a trial is announced (`customer.subscription.trial_will_end`). */
export const TRIAL_NOTICE = 3 * DAY;
/** Stripe's longest trial: two years. */
export const MAX_TRIAL_DAYS = 730;

/** What a request asks for: `trial_end` (a time, or 'now') or `trial_period_days`. */
export interface TrialRequest {
  trial_end?: number | 'now';
  trial_period_days?: number;
}

/** Parameter names, as the client wrote them (`subscription_data[trial_end]` on Checkout). */
export interface TrialParamNames {
  end: string;
  days: string;
}

/** Hidden state of a trialing subscription (store meta, beside SubscriptionMeta). */
interface TrialMeta {
  /** the `trial_end` whose `trial_will_end` was sent */
  trialNoticeFor?: number;
}

function trialMeta(ctx: EmulatorContext, sub: Stripe.Subscription): Partial<TrialMeta> {
  return ctx.store.meta<TrialMeta>(sub.id);
}

/**
 * The end of the trial a request asks for at `now`, or null for none (`trial_end=now` on a new subscription
 * is no trial). Refuses both parameters at once, a past `trial_end`, and a trial longer than two years.
 */
export function requestedTrialEnd(now: number, req: TrialRequest, names: TrialParamNames, minimum = 1): number | null {
  if (req.trial_end !== undefined && req.trial_period_days !== undefined) {
    throw invalidRequest(`You may only specify one of these parameters: ${names.end}, ${names.days}.`, {
      param: names.days,
      code: 'parameters_exclusive',
    });
  }
  if (req.trial_period_days !== undefined) return req.trial_period_days === 0 ? null : now + req.trial_period_days * DAY;
  if (req.trial_end === undefined || req.trial_end === 'now') return null;
  if (req.trial_end < now + minimum) {
    throw invalidRequest(
      minimum > 1
        ? `${names.end} has to be at least ${Math.round(minimum / 3600)} hours in the future.`
        : 'Invalid timestamp: must be an integer Unix timestamp in the future.',
      { param: names.end, code: 'parameter_invalid_integer' },
    );
  }
  if (req.trial_end > now + MAX_TRIAL_DAYS * DAY) {
    throw invalidRequest(`${names.end} can be at most ${MAX_TRIAL_DAYS} days (two years) from now.`, {
      param: names.end,
      code: 'parameter_invalid_integer',
    });
  }
  return req.trial_end;
}

/** When `trial_will_end` is due for a trialing subscription not yet told about its current `trial_end`; null otherwise. */
export function trialNoticeDue(ctx: EmulatorContext, sub: Stripe.Subscription): number | null {
  if (sub.status !== 'trialing' || sub.trial_end === null) return null;
  if (trialMeta(ctx, sub).trialNoticeFor === sub.trial_end) return null;
  return sub.trial_end - TRIAL_NOTICE;
}

/** Sends `customer.subscription.trial_will_end` (once per `trial_end`). */
export function sendTrialNotice(ctx: EmulatorContext, sub: Stripe.Subscription): void {
  trialMeta(ctx, sub).trialNoticeFor = sub.trial_end ?? undefined;
  ctx.emit('customer.subscription.trial_will_end', sub);
}

/** Sends the notice now when it is already due (a trial of fewer than three days). */
export function noticeIfDue(ctx: EmulatorContext, sub: Stripe.Subscription): void {
  const due = trialNoticeDue(ctx, sub);
  if (due !== null && due <= ctx.now(idOf(sub.customer))) sendTrialNotice(ctx, sub);
}

/**
 * `trial_end` on `POST /v1/subscriptions/:id`, for a trialing subscription: a new time moves the end of the
 * trial (and the anchor and period end with it); `now` ends it, announcing it and starting the first paid
 * period at once with `startPaidPeriod`. A subscription that is not trialing is refused: adding a trial to
 * one that is paid for is not implemented. The caller emits `customer.subscription.updated`.
 */
export function changeTrialEnd(
  ctx: EmulatorContext,
  sub: Stripe.Subscription,
  trialEnd: number | 'now',
  startPaidPeriod: (sub: Stripe.Subscription) => void,
): void {
  if (sub.status !== 'trialing') {
    throw invalidRequest(
      `The Stripe emulator does not implement trial_end on a subscription that is ${sub.status}, only on a trialing one.`,
      {
        param: 'trial_end',
      },
    );
  }
  const now = ctx.now(idOf(sub.customer));
  if (trialEnd === 'now') {
    // Stripe sets trial_end to the time of the request (API 2018-07-27 and later)
    sub.trial_end = now;
    sub.billing_cycle_anchor = now;
    if (trialNoticeDue(ctx, sub) !== null) sendTrialNotice(ctx, sub);
    startPaidPeriod(sub);
    return;
  }
  const end = requestedTrialEnd(now, { trial_end: trialEnd }, { end: 'trial_end', days: 'trial_period_days' }) as number;
  sub.trial_end = end;
  sub.billing_cycle_anchor = end;
  for (const item of sub.items.data) item.current_period_end = end;
  if (sub.cancel_at_period_end) sub.cancel_at = end;
  noticeIfDue(ctx, sub);
}
