import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import type { PlanPricing, Subscription } from '../../entities';
import { conflict } from '../../errors';
import { stripeId } from '../../ids';
import { parseInput, shorten } from '../../input';
import { idempotencyKey } from '../../stripe/client';
import { callStripe } from '../../stripe/errors';
import { authenticationReturnUrl, nextActionUrl } from '../authentication';
import type { BillingDeps } from '../deps';
import { lockUser } from '../locks';
import { commitThenThrow } from '../transactions';
import { firstPaymentIntent, paymentFailed } from './card';
import { changeKind, downgradeRefusal, refusal, targetPricing, type ChangeKind } from './changeRules';
import { changeInput, type ChangeInput } from './inputs';
import { renewAfterChange, RENEW_AFTER_CHANGE_KEY } from './lifecycle';
import { ownSubscription } from './queries';
import { releaseSchedule, scheduleChange } from './schedule';
import { applyStripeSubscription } from './stripeState';

/** What changeSubscription answers. */
export interface ChangeResult {
  subscription: Subscription;
  kind: ChangeKind;
  /** What the upgrade's invoice charged now (Stripe's proration), in minor units; null for a scheduled downgrade or one waiting for 3-D Secure. */
  charged: { amountMinor: number; currency: string } | null;
  /** With 3-D Secure: the client secret of the payment, and Stripe's page for it. */
  clientSecret?: string | null;
  nextActionUrl?: string | null;
}

/**
 * Moves a subscription to another pricing option (see changeRules for upgrade or downgrade). An upgrade
 * changes the Stripe item's price at once with proration, the difference invoiced and charged now; with
 * pending_if_incomplete a declined card leaves everything as it was (PAYMENT_FAILED) and 3-D Secure
 * answers a client secret, the change applying once it is paid. A downgrade is scheduled for the period
 * end. The same idempotencyKey answers the first call again; calls of one user are serialised.
 */
export async function changeSubscription(em: EntityManager, deps: BillingDeps, userId: string, raw: ChangeInput): Promise<ChangeResult> {
  const input = parseInput(changeInput, raw);
  return commitThenThrow(em, async (tx) => {
    await lockUser(tx, userId);
    const sub = await ownSubscription(tx, userId, input.id);
    await tx.populate(sub, ['scheduledPricing', 'changePricing']);
    const to = await targetPricing(tx, input.pricingId);
    if (input.idempotencyKey && input.idempotencyKey === sub.changeIdempotencyKey) {
      if (sub.changePricing?.id !== to.id)
        return conflict(`idempotencyKey "${shorten(input.idempotencyKey)}" was already used for another pricing option`, {
          field: 'idempotencyKey',
        });
      return answerAgain(deps, sub, to);
    }
    const refused = refusal(sub, to);
    if (refused) return refused;
    const kind = changeKind(sub.pricing, to);
    const key = (step: string) =>
      input.idempotencyKey
        ? idempotencyKey('subscription', sub.id, 'change', input.idempotencyKey, step)
        : idempotencyKey('subscription', sub.id, 'change', to.id, sub.updatedAt.getTime(), step);
    if (kind === 'DOWNGRADE') {
      const notNow = downgradeRefusal(sub);
      if (notNow) return notNow;
      await scheduleChange(deps, sub, to, key);
      remember(sub, input.idempotencyKey, to);
      return { subscription: sub, kind, charged: null };
    }
    const outcome = await upgrade(deps, sub, to, key);
    if (!(outcome instanceof Error)) remember(sub, input.idempotencyKey, to);
    return outcome;
  });
}

function remember(sub: Subscription, key: string | null, to: PlanPricing): void {
  sub.changeIdempotencyKey = key;
  sub.changePricing = to;
}

/**
 * The upgrade: the item moves to the new price, the proration invoiced and charged now. A pricing that
 * renews, reached from one that does not (Day Pass to Premium), must renew once the change applies:
 * marked in the subscription's metadata first, since pending updates take no other parameter, and
 * settled by renewAfterChange (here, or by the webhook when 3-D Secure completes it later).
 */
async function upgrade(
  deps: BillingDeps,
  sub: Subscription,
  to: PlanPricing,
  key: (step: string) => string,
): Promise<ChangeResult | ReturnType<typeof paymentFailed>> {
  await releaseSchedule(deps, sub);
  const id = sub.stripeSubscriptionId!;
  const before = await callStripe(() => deps.stripe.subscriptions.retrieve(id), deps);
  const mark = (value: string) =>
    callStripe(
      () =>
        deps.stripe.subscriptions.update(
          id,
          { metadata: { [RENEW_AFTER_CHANGE_KEY]: value } },
          { idempotencyKey: key(`mark-${value || 'none'}`) },
        ),
      deps,
    );
  const renews = to.autoRenew && before.cancel_at_period_end;
  if (renews) await mark(to.stripePriceId!);
  const s = await callStripe(
    () =>
      deps.stripe.subscriptions.update(
        id,
        {
          items: [{ id: before.items.data[0]!.id, price: to.stripePriceId! }],
          proration_behavior: 'always_invoice',
          payment_behavior: 'pending_if_incomplete',
          expand: ['latest_invoice'],
        },
        { idempotencyKey: key('update') },
      ),
    deps,
  );
  if (!s.pending_update) {
    applyStripeSubscription(sub, await renewAfterChange(deps, sub, s));
    sub.pricing = to;
    sub.plan = to.plan;
    return { subscription: sub, kind: 'UPGRADE', charged: charged(s) };
  }
  const intent = await firstPaymentIntent(deps, s);
  if (intent?.status === 'requires_action') {
    return {
      subscription: sub,
      kind: 'UPGRADE',
      charged: null,
      clientSecret: intent.client_secret,
      nextActionUrl: await pageFor(deps, intent, key),
    };
  }
  // declined: voiding the invoice drops the pending update, so nothing of the change is left in Stripe
  const invoiceId = stripeId(s.latest_invoice)!;
  await callStripe(() => deps.stripe.invoices.voidInvoice(invoiceId, {}, { idempotencyKey: key('void') }), deps);
  if (renews) await mark('');
  return paymentFailed(intent);
}

/** The amount the change's invoice charged. */
function charged(s: Stripe.Subscription): ChangeResult['charged'] {
  const invoice = s.latest_invoice as Stripe.Invoice | null;
  if (!invoice || typeof invoice === 'string' || invoice.billing_reason !== 'subscription_update') return null;
  return { amountMinor: invoice.amount_paid, currency: invoice.currency };
}

/** Stripe's 3-D Secure page: the intent is confirmed again with a return_url (best effort; the client secret works either way). */
async function pageFor(deps: BillingDeps, intent: Stripe.PaymentIntent, key: (step: string) => string): Promise<string | null> {
  const existing = nextActionUrl(intent);
  if (existing) return existing;
  try {
    const confirmed = await callStripe(
      () =>
        deps.stripe.paymentIntents.confirm(
          intent.id,
          { return_url: authenticationReturnUrl(deps) },
          { idempotencyKey: key('confirm-redirect') },
        ),
      deps,
    );
    return nextActionUrl(confirmed);
  } catch (err) {
    deps.logger.warn({ err, paymentIntent: intent.id }, 'could not ask Stripe for the 3-D Secure page; the client secret still works');
    return null;
  }
}

/** The first answer again: the change as it stands, or the payment still waiting for 3-D Secure. */
async function answerAgain(deps: BillingDeps, sub: Subscription, to: PlanPricing): Promise<ChangeResult> {
  if (sub.scheduledPricing?.id === to.id) return { subscription: sub, kind: 'DOWNGRADE', charged: null };
  const s = await callStripe(() => deps.stripe.subscriptions.retrieve(sub.stripeSubscriptionId!, { expand: ['latest_invoice'] }), deps);
  if (s.pending_update) {
    const intent = await firstPaymentIntent(deps, s);
    return {
      subscription: sub,
      kind: 'UPGRADE',
      charged: null,
      clientSecret: intent?.client_secret ?? null,
      nextActionUrl: nextActionUrl(intent),
    };
  }
  return { subscription: sub, kind: sub.pricing.id === to.id ? 'UPGRADE' : changeKind(sub.pricing, to), charged: charged(s) };
}
