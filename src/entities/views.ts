import type { Invoice } from './invoice';
import type { Payment } from './payment';
import type { Subscription } from './subscription';
import type { User } from './user';

/**
 * What clients see of a row: the GraphQL API answers these shapes and the events to the product carry
 * them, so both read them from here. Optional columns are explicit nulls, references their ids.
 */

export function subscriptionView(s: Subscription) {
  return {
    id: s.id,
    stripeSubscriptionId: s.stripeSubscriptionId ?? null,
    status: s.status,
    currentPeriodStart: s.currentPeriodStart ?? null,
    currentPeriodEnd: s.currentPeriodEnd ?? null,
    cancelAtPeriodEnd: s.cancelAtPeriodEnd,
    canceledAt: s.canceledAt ?? null,
    endedAt: s.endedAt ?? null,
    planId: s.plan.id,
    pricingId: s.pricing.id,
  };
}

export function paymentView(p: Payment) {
  return {
    id: p.id,
    status: p.status,
    captureMethod: p.captureMethod,
    description: p.description ?? null,
    orderId: p.orderId ?? null,
    metadata: p.metadata ?? null,
    failureCode: p.failureCode ?? null,
    failureMessage: p.failureMessage ?? null,
    stripePaymentIntentId: p.stripePaymentIntentId ?? null,
    createdAt: p.createdAt,
    updatedAt: p.updatedAt,
    amountMinor: p.amountMinor,
    capturedAmountMinor: p.capturedAmountMinor,
    refundedAmountMinor: p.refundedAmountMinor,
    currency: p.currency,
  };
}

export function userView(u: Pick<User, 'id' | 'email' | 'name' | 'timezone' | 'role'> & { externalId?: string | null }) {
  return { id: u.id, externalId: u.externalId ?? null, email: u.email, name: u.name ?? null, timezone: u.timezone, role: u.role };
}

export function invoiceView(i: Invoice) {
  return {
    id: i.id,
    stripeInvoiceId: i.stripeInvoiceId,
    number: i.number ?? null,
    status: i.status,
    periodStart: i.periodStart,
    periodEnd: i.periodEnd,
    hostedInvoiceUrl: i.hostedInvoiceUrl ?? null,
    invoicePdfUrl: i.invoicePdfUrl ?? null,
    created: i.stripeCreatedAt,
    subscriptionId: i.subscription?.id ?? null,
    currency: i.currency,
    totalAmountMinor: i.totalAmountMinor,
    paidAmountMinor: i.paidAmountMinor,
    dueAmountMinor: i.dueAmountMinor,
    remainingAmountMinor: i.remainingAmountMinor,
  };
}
