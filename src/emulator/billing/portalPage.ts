import type Stripe from 'stripe';
import type { EmulatorContext } from '../core/context';
import { ApiError } from '../core/errors';
import { formatAmount } from '../core/currency';
import { CARD_FIELDS, escapeHtml, page } from '../core/html';
import { RawResponse, type ApiRequest, type Router } from '../core/router';
import type { PriceObject } from '../resources/prices';
import { offeredPrices, openSession, type PortalConfiguration, type PortalSession, type PortalSessionMeta } from './portal';
import {
  currentCard,
  customerSubscription,
  portalCancel,
  portalChangePrice,
  portalInvoices,
  portalReplaceCard,
  portalResume,
  portalSubscriptions,
  scheduledChange,
} from './portalActions';

/**
 * The hosted customer portal at `/p/session/test_<token>`: the customer's subscriptions (cancel at period
 * end, renew, change plan), card and invoices, and a link back to `return_url`. Every action posts a form
 * and answers 303 back to the page, which says what was done.
 */

type Open = Extract<ReturnType<typeof openSession>, { kind: 'open' }>;

const NOTICES: Record<string, string> = {
  canceled: 'Your plan will be canceled at the end of the billing period.',
  ended: 'Your plan has been canceled.',
  renewed: 'Your plan will renew.',
  updated: 'Your plan has been updated.',
  scheduled: 'Your plan will change at the end of the billing period.',
  kept: 'Your plan will stay as it is.',
  card: 'Your payment method has been updated.',
};

export function registerPortalPage(router: Router, ctx: EmulatorContext): void {
  const base = '/p/session/:token';
  router.get(base, (req) => withSession(ctx, req, (open) => render(ctx, open, { notice: NOTICES[req.query.get('done') ?? ''] })), {
    auth: false,
  });
  router.post(`${base}/subscriptions/:id/cancel`, (req) => act(ctx, req, (open, sub) => cancel(ctx, req, open, sub)), { auth: false });
  router.post(`${base}/subscriptions/:id/renew`, (req) => act(ctx, req, (_open, sub) => (portalResume(ctx, sub), 'renewed')), {
    auth: false,
  });
  router.post(
    `${base}/subscriptions/:id/update`,
    (req) => act(ctx, req, (open, sub) => portalChangePrice(ctx, open.config, sub, req.params.str('price') ?? '', req.origin)),
    { auth: false },
  );
  router.post(`${base}/payment_method`, (req) => withSession(ctx, req, (open) => replaceCard(ctx, req, open)), { auth: false });
}

function withSession(ctx: EmulatorContext, req: ApiRequest, fn: (open: Open) => RawResponse): RawResponse {
  const found = openSession(ctx, req.pathParams['token'] ?? '');
  if (found.kind === 'missing')
    return RawResponse.html(page('Billing', '<h1>Something went wrong</h1><p id="message">This link is not valid.</p>'), 404);
  if (found.kind === 'expired') return expiredPage(found.session);
  return fn(found);
}

function expiredPage(session: PortalSession): RawResponse {
  const back = session.return_url ? `<p><a id="return" href="${escapeHtml(session.return_url)}">Return</a></p>` : '';
  return RawResponse.html(
    page('Billing', `<h1 id="result">This session has expired</h1><p id="message">Open the billing page again from the site.</p>${back}`),
    410,
  );
}

/** A subscription action: done, then back to the page with its notice; a refusal shows the page with the reason. */
function act(ctx: EmulatorContext, req: ApiRequest, fn: (open: Open, sub: Stripe.Subscription) => string): RawResponse {
  return withSession(ctx, req, (open) => {
    try {
      const sub = customerSubscription(ctx, open.customer.id, req.pathParams['id'] ?? '');
      return backToPage(req, fn(open, sub));
    } catch (err) {
      if (err instanceof ApiError) return render(ctx, open, { error: err.body.message, status: err.status });
      throw err;
    }
  });
}

function backToPage(req: ApiRequest, done: string): RawResponse {
  return RawResponse.redirect(`/p/session/${encodeURIComponent(req.pathParams['token'] ?? '')}?done=${done}`);
}

function cancel(ctx: EmulatorContext, req: ApiRequest, open: Open, sub: Stripe.Subscription): string {
  const feedback = req.params.str('reason', { max: 40 }) ?? null;
  const comment = req.params.str('comment', { max: 5000 })?.trim() || null;
  const after = portalCancel(ctx, open.config, sub, { feedback, comment });
  return after.status === 'canceled' ? 'ended' : 'canceled';
}

function replaceCard(ctx: EmulatorContext, req: ApiRequest, open: Open): RawResponse {
  try {
    const message = saveCard(ctx, req, open);
    return message ? render(ctx, open, { error: message, status: 402 }) : backToPage(req, 'card');
  } catch (err) {
    if (err instanceof ApiError) return render(ctx, open, { error: err.body.message, status: err.status });
    throw err;
  }
}

/** Reads the card form as Stripe's page does and saves the card; answers what is missing, if anything. */
function saveCard(ctx: EmulatorContext, req: ApiRequest, open: Open): string | null {
  const p = req.params;
  const number = (p.str('cardNumber', { max: 40 }) ?? '').replace(/[\s-]/g, '');
  const expiry = /^\s*(\d{1,2})\s*\/?\s*(\d{2}|\d{4})\s*$/.exec(p.str('cardExpiry', { max: 20 }) ?? '');
  const cvc = (p.str('cardCvc', { max: 10 }) ?? '').trim();
  if (!number) return 'Your card number is incomplete.';
  if (!expiry) return "Your card's expiration date is incomplete.";
  if (!/^\d{3,4}$/.test(cvc)) return "Your card's security code is incomplete.";
  const year = Number(expiry[2]);
  portalReplaceCard(ctx, open.config, open.customer, {
    number,
    exp_month: Number(expiry[1]),
    exp_year: year < 100 ? 2000 + year : year,
    cvc,
    name: p.str('billingName', { max: 200 })?.trim() || null,
  });
  return null;
}

// ------------------------------------------------------------------ rendering

function date(t: number): string {
  return new Date(t * 1000).toLocaleDateString('en-US', { year: 'numeric', month: 'long', day: 'numeric', timeZone: 'UTC' });
}

function productName(ctx: EmulatorContext, price: { product: unknown; nickname: string | null }): string {
  const id = typeof price.product === 'string' ? price.product : null;
  return (id ? ctx.store.find<Stripe.Product>('product', id)?.name : undefined) ?? price.nickname ?? 'Plan';
}

export function priceLabel(price: Pick<PriceObject, 'unit_amount' | 'currency' | 'recurring'>): string {
  const r = price.recurring;
  const per = r ? (r.interval_count === 1 ? ` per ${r.interval}` : ` every ${r.interval_count} ${r.interval}s`) : '';
  return `${formatAmount(price.unit_amount ?? 0, price.currency)}${per}`;
}

function render(ctx: EmulatorContext, open: Open, opts: { notice?: string; error?: string; status?: number }): RawResponse {
  const { session, config, customer } = open;
  const token = ctx.store.meta<PortalSessionMeta>(session.id).token ?? '';
  const action = (path: string) => escapeHtml(`/p/session/test_${token}${path}`);
  const subs = portalSubscriptions(ctx, customer.id)
    .map((sub) => subscriptionBlock(ctx, config, sub, action))
    .join('\n');
  const body = `<h1>Manage billing</h1>
${customer.email ? `<p id="customer">${escapeHtml(customer.email)}</p>` : ''}
${opts.notice ? `<p class="notice" id="notice" role="status">${escapeHtml(opts.notice)}</p>` : ''}
${opts.error ? `<p class="error" id="error" role="alert">${escapeHtml(opts.error)}</p>` : ''}
<h2>Current plan</h2>
<div id="subscriptions">${subs || '<p id="no-subscriptions">No active subscriptions.</p>'}</div>
${config.features.payment_method_update.enabled ? cardBlock(ctx, customer, action) : ''}
${config.features.invoice_history.enabled ? invoiceBlock(ctx, customer) : ''}
${session.return_url ? `<p><a id="return" href="${escapeHtml(session.return_url)}">Return to the site</a></p>` : ''}`;
  return RawResponse.html(page('Billing', body), opts.status ?? 200);
}

function subscriptionBlock(
  ctx: EmulatorContext,
  config: PortalConfiguration,
  sub: Stripe.Subscription,
  action: (path: string) => string,
): string {
  const item = sub.items.data[0];
  if (!item) return '';
  const price = item.price as unknown as PriceObject;
  const end = item.current_period_end;
  const scheduled = scheduledChange(ctx, sub);
  const state = sub.cancel_at_period_end
    ? `<p class="ends" id="ends-${sub.id}">Cancels on ${date(sub.cancel_at ?? end)}</p>`
    : `<p class="renews" id="renews-${sub.id}">Renews on ${date(end)}</p>`;
  const change = scheduled
    ? `<p class="scheduled" id="scheduled-${sub.id}">Changes to ${escapeHtml(productName(ctx, scheduled.price))} (${escapeHtml(priceLabel(scheduled.price))}) on ${date(scheduled.at)}</p>`
    : '';
  const path = (verb: string) => action(`/subscriptions/${encodeURIComponent(sub.id)}/${verb}`);
  const forms = sub.cancel_at_period_end
    ? `<form method="post" action="${path('renew')}"><button type="submit" class="renew">Renew plan</button></form>`
    : `${updateForm(ctx, config, sub, price, scheduled !== null, path('update'))}${cancelForm(config, path('cancel'))}`;
  return `<div class="subscription" id="${escapeHtml(sub.id)}" data-status="${escapeHtml(sub.status)}" data-cancel-at-period-end="${sub.cancel_at_period_end}">
<h3 class="plan">${escapeHtml(productName(ctx, price))}</h3>
<p class="price">${escapeHtml(priceLabel(price))}</p>
<p class="status">Status: <span class="status-value">${escapeHtml(sub.status)}</span></p>
${state}
${change}
${forms}
</div>`;
}

function updateForm(
  ctx: EmulatorContext,
  config: PortalConfiguration,
  sub: Stripe.Subscription,
  current: PriceObject,
  changeScheduled: boolean,
  to: string,
): string {
  const choices = offeredPrices(ctx, config).filter(({ price }) => price.id !== current.id && price.currency === sub.currency);
  if (choices.length === 0) return '';
  const keep = changeScheduled
    ? `<button type="submit" name="price" value="${escapeHtml(current.id)}" class="secondary keep-plan">Keep ${escapeHtml(productName(ctx, current))}</button>`
    : '';
  const buttons = choices
    .map(
      ({ price, product }) =>
        `<button type="submit" name="price" value="${escapeHtml(price.id)}" class="secondary change-plan">${escapeHtml(product.name)} · ${escapeHtml(priceLabel(price))}</button>`,
    )
    .join('\n');
  return `<form method="post" action="${to}" class="update-plan"><p>Change plan</p>${buttons}${keep}</form>`;
}

function cancelForm(config: PortalConfiguration, to: string): string {
  const cancel = config.features.subscription_cancel;
  if (!cancel.enabled) return '';
  const reasons = cancel.cancellation_reason.enabled
    ? `<label for="reason">Why are you canceling?</label><select id="reason" name="reason"><option value="">—</option>${cancel.cancellation_reason.options
        .map((o) => `<option value="${escapeHtml(o)}">${escapeHtml(o.replace(/_/g, ' '))}</option>`)
        .join('')}</select><label for="comment">Anything else?</label><input id="comment" name="comment" maxlength="5000">`
    : '';
  return `<form method="post" action="${to}" class="cancel-plan">${reasons}<button type="submit" class="cancel">Cancel plan</button></form>`;
}

function cardBlock(ctx: EmulatorContext, customer: Stripe.Customer, action: (path: string) => string): string {
  const pm = currentCard(ctx, customer);
  const shown = pm?.card
    ? `<p id="card">${escapeHtml(pm.card.brand)} •••• ${escapeHtml(pm.card.last4)} · expires ${pm.card.exp_month}/${pm.card.exp_year}</p>`
    : '<p id="card">No payment method.</p>';
  return `<h2>Payment method</h2>
${shown}
<form method="post" action="${action('/payment_method')}" id="payment-method-form">
${CARD_FIELDS}
  <button type="submit" id="save-card">Update payment method</button>
</form>`;
}

function invoiceBlock(ctx: EmulatorContext, customer: Stripe.Customer): string {
  const rows = portalInvoices(ctx, customer.id)
    .map((inv) => {
      const links = [
        inv.hosted_invoice_url ? `<a class="view" href="${escapeHtml(inv.hosted_invoice_url)}">View</a>` : '',
        inv.invoice_pdf ? `<a class="pdf" href="${escapeHtml(inv.invoice_pdf)}">PDF</a>` : '',
      ]
        .filter(Boolean)
        .join(' ');
      return `<tr class="invoice" id="${escapeHtml(inv.id)}"><td>${date(inv.created)}</td><td class="amount">${escapeHtml(formatAmount(inv.total, inv.currency))}</td><td class="invoice-status">${escapeHtml(inv.status ?? '')}</td><td>${links}</td></tr>`;
    })
    .join('\n');
  return `<h2>Invoice history</h2>
<table id="invoices">${rows || '<tr><td id="no-invoices">No invoices yet.</td></tr>'}</table>`;
}
