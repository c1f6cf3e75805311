import type Stripe from 'stripe';
import { syncInvoiceById } from '../billing/invoices/sync';
import { stripeId } from '../ids';
import type { EventHandler } from './handlers';
import { onInvoice } from './subscriptionEvents';

/** The invoice events: each re-fetches the invoice it is about and writes it to our copy. */

export const onInvoiceObject: EventHandler = (em, deps, event) => {
  const invoice = event.data.object as Stripe.Invoice;
  return syncInvoiceById(em, deps, invoice.id, stripeId(invoice.customer));
};

/** invoice.paid and invoice.payment_failed move the invoice's subscription too (renewed, or past due), first. */
export const onInvoicePayment: EventHandler = async (em, deps, event) => {
  const subscription = await onInvoice(em, deps, event);
  const invoice = await onInvoiceObject(em, deps, event);
  return `${subscription}; ${invoice}`;
};
