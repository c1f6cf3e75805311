import type Stripe from 'stripe';
import { ApiError } from '../core/errors';
import { CARD_FIELDS, escapeHtml, page } from '../core/html';
import { RawResponse, type ApiRequest, type Router } from '../core/router';
import { invoiceByToken } from '../billing/invoiceLinks';
import { invoiceDocument, lastFailure, payOnPage, type InvoiceDocument } from '../billing/invoicePages';
import { invoicePdf } from '../billing/invoicePdf';
import { parseExpiry } from './checkout_sessions';

/**
 * Stripe's hosted invoice page (`hosted_invoice_url`) and the invoice PDF (`invoice_pdf`), for browsers:
 * no API key, the token in the URL is the credential. An open invoice can be paid there with a test card.
 */
export function register(router: Router): void {
  router.get('/i/:token', (req) => showPage(req), { auth: false });
  router.post('/i/:token', (req) => submitPage(req), { auth: false });
  router.get('/i/:token/return', (req) => returnPage(req), { auth: false });
  router.get('/i/:token/pdf', (req) => pdf(req), { auth: false });
}

function pageInvoice(req: ApiRequest): Stripe.Invoice | undefined {
  return invoiceByToken(req.ctx, req.pathParams['token'] as string);
}

function notFound(): RawResponse {
  return RawResponse.html(page('Invoice', '<h1>Invoice not found</h1><p id="message">This link is not valid.</p>'), 404);
}

const row = (label: string, id: string, value: string, strong = false) =>
  `<tr><td>${label}</td><td class="amount" id="${id}">${strong ? `<strong>${escapeHtml(value)}</strong>` : escapeHtml(value)}</td></tr>`;

function summary(doc: InvoiceDocument, token: string): string {
  const lines = doc.lines
    .map(
      (l) =>
        `<tr class="line"><td>${escapeHtml(l.description)}<br><small class="period">${escapeHtml(l.period)}</small></td><td>${l.quantity}</td><td class="amount">${escapeHtml(l.amount)}</td></tr>`,
    )
    .join('\n');
  const billed = [doc.customerName, doc.customerEmail].filter(Boolean).map((v) => escapeHtml(v as string));
  return `<style>
  table { width: 100%; border-collapse: collapse; margin-top: 1rem; }
  th, td { text-align: left; padding: .25rem 0; vertical-align: top; }
  .amount { text-align: right; }
  .period { color: #697386; }
</style>
<h1>Invoice <span id="number">${escapeHtml(doc.number)}</span></h1>
<p>Status: <strong id="status">${escapeHtml(doc.status)}</strong>${doc.paid ? ` · paid on ${escapeHtml(doc.paid)}` : ''}</p>
<p>From <strong id="account">${escapeHtml(doc.account)}</strong>${doc.issued ? ` · issued ${escapeHtml(doc.issued)}` : ''}</p>
<p>Billed to <span id="customer">${billed.join(' · ') || '—'}</span></p>
<table id="lines">
<tr><th>Description</th><th>Qty</th><th class="amount">Amount</th></tr>
${lines}
</table>
<table id="totals">
${row('Subtotal', 'subtotal', doc.subtotal)}
${row('Total', 'total', doc.total, true)}
${row('Amount due', 'amount-due', doc.amountDue)}
${row('Amount paid', 'amount-paid', doc.amountPaid)}
${row('Amount remaining', 'amount-remaining', doc.amountRemaining, true)}
</table>
<p><a id="download-pdf" href="/i/${encodeURIComponent(token)}/pdf">Download invoice (PDF)</a></p>`;
}

function payForm(doc: InvoiceDocument, token: string, error?: string): string {
  if (!doc.payable) return '';
  return `${error ? `<p class="error" id="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/i/${encodeURIComponent(token)}" id="payment-form">
${CARD_FIELDS}
  <button type="submit" id="submit">Pay ${escapeHtml(doc.amountRemaining)}</button>
</form>
<p class="hint">Test cards: 4242 4242 4242 4242 (succeeds), 4000 0000 0000 0002 (declined), 4000 0025 0000 3155 (3-D Secure). Any future expiry, any CVC.</p>`;
}

function showPage(req: ApiRequest, error?: string, status = 200): RawResponse {
  const invoice = pageInvoice(req);
  if (!invoice) return notFound();
  const token = req.pathParams['token'] as string;
  const doc = invoiceDocument(invoice);
  return RawResponse.html(page(`Invoice ${doc.number}`, summary(doc, token) + payForm(doc, token, error)), status);
}

function submitPage(req: ApiRequest): RawResponse {
  const invoice = pageInvoice(req);
  if (!invoice) return notFound();
  if (!invoiceDocument(invoice).payable) return showPage(req, undefined, 409);
  const { ctx, params: p } = req;
  const token = req.pathParams['token'] as string;
  const number = (p.str('cardNumber') ?? '').replace(/[\s-]/g, '');
  if (!number) return showPage(req, 'Your card number is incomplete.', 402);
  const expiry = parseExpiry(p.str('cardExpiry'));
  if (!expiry) return showPage(req, "Your card's expiration date is incomplete.", 402);
  const cvc = (p.str('cardCvc') ?? '').trim();
  if (!/^\d{3,4}$/.test(cvc)) return showPage(req, "Your card's security code is incomplete.", 402);
  try {
    const outcome = payOnPage(ctx, invoice, {
      number,
      exp_month: expiry.month,
      exp_year: expiry.year,
      cvc,
      name: p.str('billingName') ?? null,
      origin: req.origin,
      returnUrl: `${req.origin}/i/${token}/return`,
    });
    if (outcome.kind === 'requires_action') return RawResponse.redirect(outcome.redirectUrl);
    if (outcome.kind === 'declined') return showPage(req, outcome.error.body.message, 402);
    return RawResponse.redirect(`/i/${encodeURIComponent(token)}`);
  } catch (err) {
    if (err instanceof ApiError) return showPage(req, err.body.message, err.status);
    throw err;
  }
}

/** Back from the 3-D Secure page: the paid invoice, or the form again with the reason. */
function returnPage(req: ApiRequest): RawResponse {
  const invoice = pageInvoice(req);
  if (!invoice) return notFound();
  if (!invoiceDocument(invoice).payable) return RawResponse.redirect(`/i/${encodeURIComponent(req.pathParams['token'] as string)}`);
  return showPage(req, lastFailure(req.ctx, invoice), 402);
}

async function pdf(req: ApiRequest): Promise<RawResponse> {
  const invoice = pageInvoice(req);
  if (!invoice) return notFound();
  const doc = invoiceDocument(invoice);
  const body = await invoicePdf(doc);
  const file = `Invoice-${doc.number.replace(/[^A-Za-z0-9-]/g, '')}.pdf`;
  return new RawResponse(200, body, { 'Content-Type': 'application/pdf', 'Content-Disposition': `inline; filename="${file}"` });
}
