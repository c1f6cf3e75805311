import type Stripe from 'stripe';
import type { EmulatorContext } from '../core/context';
import type { ApiError } from '../core/errors';
import { formatAmount } from '../core/currency';
import { authenticationUrl } from '../payments/intents';
import { createCardPaymentMethod } from '../payments/payment_methods';
import { intentOfInvoice, isPayable, payInvoice } from './invoices';

/**
 * The customer's view of a finalized invoice (the hosted invoice page and its PDF, see invoiceLinks.ts):
 * what both show is made once here (`invoiceDocument`), and paying on the page.
 */

export interface InvoiceDocumentLine {
  description: string;
  quantity: number;
  /** e.g. "Dec 6, 2026 – Jan 6, 2027" */
  period: string;
  amount: string;
}

/** Everything the page and the PDF show, formatted for people. */
export interface InvoiceDocument {
  number: string;
  /** Draft, Open, Paid, Uncollectible or Void */
  status: string;
  account: string;
  customerName: string | null;
  customerEmail: string | null;
  issued: string | null;
  paid: string | null;
  lines: InvoiceDocumentLine[];
  subtotal: string;
  total: string;
  amountPaid: string;
  amountDue: string;
  amountRemaining: string;
  /** open (or uncollectible) with something left to pay */
  payable: boolean;
}

const day = (seconds: number | null | undefined) =>
  seconds
    ? new Intl.DateTimeFormat('en-US', { timeZone: 'UTC', month: 'short', day: 'numeric', year: 'numeric' }).format(
        new Date(seconds * 1000),
      )
    : null;

const capitalized = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

export function invoiceDocument(invoice: Stripe.Invoice): InvoiceDocument {
  const money = (amount: number) => formatAmount(amount, invoice.currency);
  return {
    number: invoice.number ?? invoice.id,
    status: capitalized(invoice.status ?? 'draft'),
    account: invoice.account_name ?? 'Stripe emulator',
    customerName: invoice.customer_name ?? null,
    customerEmail: invoice.customer_email ?? null,
    issued: day(invoice.effective_at ?? invoice.status_transitions.finalized_at),
    paid: day(invoice.status_transitions.paid_at),
    lines: invoice.lines.data.map((l) => ({
      description: l.description ?? 'Item',
      quantity: l.quantity ?? 1,
      period: `${day(l.period.start)} – ${day(l.period.end)}`,
      amount: money(l.amount),
    })),
    subtotal: money(invoice.subtotal),
    total: money(invoice.total),
    amountPaid: money(invoice.amount_paid),
    amountDue: money(invoice.amount_due),
    amountRemaining: money(invoice.amount_remaining),
    payable: isPayable(invoice) && invoice.amount_remaining > 0,
  };
}

export interface PageCard {
  number: string;
  exp_month: number;
  exp_year: number;
  cvc: string;
  name: string | null;
  /** the emulator's base URL as the customer reached it */
  origin: string;
  /** where the 3-D Secure page sends the customer back to */
  returnUrl: string;
}

export type PagePayment = { kind: 'paid' } | { kind: 'requires_action'; redirectUrl: string } | { kind: 'declined'; error: ApiError };

/**
 * The customer pays the invoice on its hosted page with a card: one attempt through the invoice's
 * PaymentIntent, as an automatic one would make. An invalid card number or expiry throws Stripe's card error.
 */
export function payOnPage(ctx: EmulatorContext, invoice: Stripe.Invoice, card: PageCard): PagePayment {
  const pm = createCardPaymentMethod(ctx, {
    number: card.number,
    exp_month: card.exp_month,
    exp_year: card.exp_year,
    cvc: card.cvc,
    billing_details: { email: invoice.customer_email ?? null, name: card.name },
    param: 'cardNumber',
  });
  const result = payInvoice(ctx, invoice, { payment_method: pm.id, off_session: false, return_url: card.returnUrl, origin: card.origin });
  if (result.error) return { kind: 'declined', error: result.error };
  const redirectUrl = result.paymentIntent ? authenticationUrl(result.paymentIntent) : null;
  if (redirectUrl) return { kind: 'requires_action', redirectUrl };
  return { kind: 'paid' };
}

/** Why the invoice's last attempt failed, in the words of Stripe's pages (back from 3-D Secure). */
export function lastFailure(ctx: EmulatorContext, invoice: Stripe.Invoice): string {
  const error = intentOfInvoice(ctx, invoice)?.last_payment_error;
  if (!error || error.code === 'payment_intent_authentication_failure')
    return 'We are unable to authenticate your payment method. Please choose a different payment method and try again.';
  return error.message ?? 'Your card was declined.';
}
