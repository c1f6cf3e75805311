import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import { Invoice, InvoiceStatus, Subscription, User } from '../../entities';
import { stripeId } from '../../ids';
import { callStripe } from '../../stripe/errors';
import type { BillingDeps } from '../deps';
import { lockUser } from '../locks';

/**
 * Stripe -> our invoices. Every signal (an invoice.* webhook, stripe:sync) re-reads the invoice from
 * Stripe under the user's billing lock and writes Stripe's current state, so duplicates and events in
 * any order cannot move a row backwards.
 */

const at = (seconds: number) => new Date(seconds * 1000);

/** Our rows a batch of Stripe invoices may touch: the invoices already kept, and the user's subscriptions by Stripe id. */
interface Rows {
  invoices: Map<string, Invoice>;
  subscriptions: Map<string, Subscription>;
}

async function rowsFor(em: EntityManager, user: User, invoiceIds: string[] | null): Promise<Rows> {
  const [invoices, subscriptions] = await Promise.all([
    em.find(Invoice, invoiceIds ? { stripeInvoiceId: { $in: invoiceIds } } : { user }),
    em.find(Subscription, { user, stripeSubscriptionId: { $ne: null } }),
  ]);
  // stripe:sync reads without flushing: a subscription it adopted a moment ago is only in the unit of work.
  const pending = [...em.getUnitOfWork().getPersistStack()].filter(
    (e): e is Subscription => e instanceof Subscription && e.user.id === user.id && !!e.stripeSubscriptionId,
  );
  return {
    invoices: new Map(invoices.map((i) => [i.stripeInvoiceId, i])),
    subscriptions: new Map([...subscriptions, ...pending].map((s) => [s.stripeSubscriptionId!, s])),
  };
}

/** Copies a freshly read Stripe invoice onto our row (made when new). Does not flush. */
function applyStripeInvoice(em: EntityManager, user: User, s: Stripe.Invoice, rows: Rows): Invoice {
  let row = rows.invoices.get(s.id);
  if (!row) {
    row = new Invoice();
    row.user = user;
    row.stripeInvoiceId = s.id;
    em.persist(row);
    rows.invoices.set(s.id, row);
  }
  const subscriptionId = stripeId(s.parent?.subscription_details?.subscription);
  row.subscription = (subscriptionId ? rows.subscriptions.get(subscriptionId) : null) ?? null;
  row.number = s.number ?? null;
  row.status = (s.status ?? InvoiceStatus.DRAFT) as InvoiceStatus;
  row.currency = s.currency;
  row.totalAmountMinor = s.total;
  row.paidAmountMinor = s.amount_paid;
  row.dueAmountMinor = s.amount_due;
  row.remainingAmountMinor = s.amount_remaining;
  row.periodStart = at(s.period_start);
  row.periodEnd = at(s.period_end);
  row.hostedInvoiceUrl = s.hosted_invoice_url ?? null;
  row.invoicePdfUrl = s.invoice_pdf ?? null;
  row.stripeCreatedAt = at(s.created);
  row.stripeSyncedAt = new Date();
  return row;
}

/**
 * An invoice.* webhook: re-reads the invoice and writes it to our row, under the lock subscribe, cancel
 * and the other handlers take, so a slower reader never writes an older state over a newer one.
 * `customerId` (from the event) finds the user. Returns the inbox outcome.
 */
export async function syncInvoiceById(em: EntityManager, deps: BillingDeps, invoiceId: string, customerId: string | null): Promise<string> {
  const user = customerId ? await em.findOne(User, { stripeCustomerId: customerId }) : null;
  if (!user) return `invoice ${invoiceId} of unknown customer ${customerId ?? '(none)'}: not recorded`;
  await lockUser(em, user.id);
  const invoice = await callStripe(() => deps.stripe.invoices.retrieve(invoiceId), deps);
  const row = applyStripeInvoice(em, user, invoice, await rowsFor(em, user, [invoice.id]));
  return `invoice ${row.id} from ${invoice.id}: ${invoice.status}`;
}

/**
 * stripe:sync for one customer: every invoice of the customer in Stripe, `pageSize` at a time. Runs inside
 * the reconciler's transaction and never flushes, so a dry run can show the pending changes.
 */
export async function reconcileInvoices(em: EntityManager, deps: BillingDeps, user: User, pageSize = 100): Promise<void> {
  if (!user.stripeCustomerId) return;
  await lockUser(em, user.id);
  const rows = await rowsFor(em, user, null);
  for await (const invoice of deps.stripe.invoices.list({ customer: user.stripeCustomerId, limit: pageSize })) {
    applyStripeInvoice(em, user, invoice, rows);
  }
}
