import type { InvoicePage } from '../billing/invoices/queries';
import type { Limits as LimitsResult } from '../billing/limits';
import type { CreatePaymentResult } from '../billing/payments/create';
import type { PaymentPage } from '../billing/payments/queries';
import type { SubscribeResult as SubscribeOutcome } from '../billing/subscriptions/subscribeCall';
import type { ChangeResult as ChangeOutcome } from '../billing/subscriptions/change';
import type { ChangePreview } from '../billing/subscriptions/preview';
import { PlanChangeKind, type ChangeSubscriptionResult, type SubscriptionChangePreviewType } from './types/planChange';
import { LimitPeriod, type Invoice, type Payment, type PlanLimit, type PlanPricing, type Subscription } from '../entities';
import type { AuthUser, Principal } from '../auth/principal';
import type { BatchSender, UsageEventResult as BatchOutcome } from '../billing/usageBatch';
import { invoiceView, paymentView, subscriptionView, userView } from '../entities/views';
import { Money } from './types/common';
import { LimitSource, type Limits } from './types/limits';
import type { InvoiceConnection, InvoiceType } from './types/invoice';
import type { PaymentConnection, PaymentResult, PaymentType } from './types/payment';
import type { PlanLimitType, PricingOptionType } from './types/plan';
import type { SubscribeResult, SubscriptionType } from './types/subscription';
import type { UsageEventResult } from './types/usageBatch';
import type { UserConnection, UserType } from './types/user';

// What the services answer, as the GraphQL types say it: optional columns become explicit nulls and
// references their ids. Where a service's shape already is the GraphQL one (Plan, PaymentLog, AuthUser,
// usage) the compiler checks that, and no mapper is needed.

export const toPayment = (p: Payment): PaymentType => paymentView(p);

export const toPaymentResult = (r: CreatePaymentResult): PaymentResult => ({
  payment: toPayment(r.payment),
  checkoutUrl: r.checkoutUrl,
  clientSecret: r.clientSecret,
  nextActionUrl: r.nextActionUrl ?? null,
});

export const toPaymentConnection = (page: PaymentPage): PaymentConnection => ({
  edges: page.payments.map((p, i) => ({ cursor: page.cursors[i], node: toPayment(p) })),
  pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.cursors.at(-1) ?? null },
});

export const toInvoice = (i: Invoice): InvoiceType => invoiceView(i);

export const toInvoiceConnection = (page: InvoicePage): InvoiceConnection => ({
  edges: page.invoices.map((i, n) => ({ cursor: page.cursors[n], node: toInvoice(i) })),
  pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.cursors.at(-1) ?? null },
});

export const toSubscription = (s: Subscription): SubscriptionType => ({
  ...subscriptionView(s),
  scheduledPricingId: s.scheduledPricing?.id ?? null,
  scheduledChangeAt: s.scheduledChangeAt ?? null,
});

export const toChangeResult = (r: ChangeOutcome): ChangeSubscriptionResult => ({
  subscription: toSubscription(r.subscription),
  kind: PlanChangeKind[r.kind],
  amountCharged: r.charged ? Money.of(r.charged.amountMinor, r.charged.currency) : null,
  clientSecret: r.clientSecret ?? null,
  nextActionUrl: r.nextActionUrl ?? null,
});

export const toChangePreview = (p: ChangePreview): SubscriptionChangePreviewType => ({
  kind: PlanChangeKind[p.kind],
  pricing: toPricingOption(p.pricing),
  amountDue: Money.of(p.amountDueMinor, p.currency),
  lines: p.lines.map((l) => ({
    description: l.description,
    amount: Money.of(l.amountMinor, p.currency),
    periodStart: l.periodStart,
    periodEnd: l.periodEnd,
  })),
  effectiveAt: p.effectiveAt,
  newPeriodEnd: p.newPeriodEnd,
});

export const toSubscribeResult = (r: SubscribeOutcome): SubscribeResult => ({
  subscription: toSubscription(r.subscription),
  checkoutUrl: r.checkoutUrl,
  clientSecret: r.clientSecret,
  nextActionUrl: r.nextActionUrl ?? null,
});

export const toPricingOption = (p: PlanPricing): PricingOptionType => ({
  id: p.id,
  lookupKey: p.lookupKey,
  active: p.active,
  amount: Money.of(p.amountMinor, p.currency),
  interval: p.interval,
  intervalCount: p.intervalCount,
  autoRenew: p.autoRenew,
});

export const toPlanLimit = (l: PlanLimit): PlanLimitType => ({
  metric: l.metric,
  period: l.period,
  limit: l.allowance,
  perDay: l.period === LimitPeriod.DAY ? l.allowance : null,
});

export const toLimits = (l: LimitsResult): Limits => ({ ...l, source: LimitSource[l.source] });

export const toUser = (u: AuthUser): UserType => userView(u);

export const toUserConnection = (page: { nodes: AuthUser[]; cursors: string[]; hasNextPage: boolean }): UserConnection => ({
  edges: page.nodes.map((u, i) => ({ cursor: page.cursors[i], node: toUser(u) })),
  pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.cursors.at(-1) ?? null },
});

/** A batch is sent by a user for themselves, or by a service key naming each event's user (src/billing/usageBatch.ts). */
export const batchSender = (p: Principal): BatchSender => (p.kind === 'user' ? { kind: 'user', user: p.user } : { kind: 'service' });

export const toUsageEventResult = (r: BatchOutcome): UsageEventResult =>
  r.ok
    ? { ok: true, usage: r.usage, error: null }
    : { ok: false, usage: null, error: { code: r.error.code, message: r.error.message, extensions: r.error.extensions } };
