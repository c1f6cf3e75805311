import { randomBytes } from 'node:crypto';
import type Stripe from 'stripe';
import type { EmulatorContext } from '../core/context';

/**
 * The links of a finalized invoice: Stripe's hosted invoice page and its PDF, each behind an unguessable
 * token in the URL (anyone with the link may see the invoice, as at Stripe).
 */

/** token -> invoice id, persisted with the rest of the state */
const TOKENS = 'invoice_pages';

/** As Stripe does on finalization: `hosted_invoice_url` and `invoice_pdf` (null on a draft). */
export function publishInvoice(ctx: EmulatorContext, invoice: Stripe.Invoice): void {
  const token = `test_${randomBytes(24).toString('base64url')}`;
  ctx.store.bucket<string>(TOKENS).set(token, invoice.id);
  invoice.hosted_invoice_url = `${ctx.baseUrl}/i/${token}`;
  invoice.invoice_pdf = `${ctx.baseUrl}/i/${token}/pdf`;
}

export function invoiceByToken(ctx: EmulatorContext, token: string): Stripe.Invoice | undefined {
  const id = ctx.store.bucket<string>(TOKENS).get(token);
  return id ? ctx.store.find<Stripe.Invoice>('invoice', id) : undefined;
}
