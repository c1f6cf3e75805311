import type Stripe from 'stripe';
import type { EmulatorContext } from '../core/context';
import { ApiError, invalidRequest, missingParam } from '../core/errors';
import { formatAmount, MINIMUM_CHARGE } from '../core/currency';
import { CARD_FIELDS, escapeHtml, page } from '../core/html';
import { filterCreated, paginate } from '../core/list';
import type { Params } from '../core/params';
import { RawResponse, type ApiRequest, type Router } from '../core/router';
import {
  assertOpen,
  createSession,
  expireSession,
  lineItemsOf,
  registerCheckoutListeners,
  sessionMeta,
  submitCard,
  successUrl,
  type LineItemInput,
  type SessionMeta,
  type SubmitOutcome,
} from '../billing/checkout';
import { checkSubscriptionPrices } from '../billing/subscriptions';
import { MAX_TRIAL_DAYS, requestedTrialEnd } from '../billing/trials';
import { DAY, HOUR, idOf } from '../billing/util';
import { createPrice, type PriceObject } from './prices';
import { email as emailParam } from './shared';

const CAPTURE_METHODS = ['automatic', 'automatic_async', 'manual'] as const;
const SETUP_FUTURE_USAGE = ['off_session', 'on_session'] as const;
const SUBMIT_TYPES = ['auto', 'book', 'donate', 'pay', 'subscribe'] as const;

export function register(router: Router, ctx: EmulatorContext): void {
  ctx.registerType({ object: 'checkout.session', prefix: 'cs_test', name: 'checkout.session' });
  ctx.registerType({ object: 'item', prefix: 'li', name: 'line_item' });
  registerCheckoutListeners(ctx);

  // `line_items` is not part of a session unless expanded.
  ctx.registerExpandable('checkout.session', 'line_items', (owner) => {
    const session = ctx.store.find<Stripe.Checkout.Session>('checkout.session', owner['id'] as string);
    const data = session ? lineItemsOf(ctx, session) : [];
    return { object: 'list', data, has_more: false, url: `/v1/checkout/sessions/${owner['id'] as string}/line_items` };
  });

  router.post('/v1/checkout/sessions', (req) => create(req));
  router.get('/v1/checkout/sessions/:id', (req) =>
    ctx.retrieve<Stripe.Checkout.Session>('checkout.session', req.pathParams['id'], 'session'),
  );
  router.post('/v1/checkout/sessions/:id', (req) => {
    const session = ctx.retrieve<Stripe.Checkout.Session>('checkout.session', req.pathParams['id'], 'session');
    if (req.params.has('metadata')) session.metadata = req.params.metadata(session.metadata ?? {}) ?? {};
    return session;
  });
  router.get('/v1/checkout/sessions', (req) => list(req));
  router.get('/v1/checkout/sessions/:id/line_items', (req) => {
    const session = ctx.retrieve<Stripe.Checkout.Session>('checkout.session', req.pathParams['id'], 'session');
    return inOrder(req, lineItemsOf(ctx, session), `/v1/checkout/sessions/${session.id}/line_items`);
  });
  router.post('/v1/checkout/sessions/:id/expire', (req) =>
    expireSession(ctx, ctx.retrieve<Stripe.Checkout.Session>('checkout.session', req.pathParams['id'], 'session')),
  );

  // Test helper: what the customer does on the hosted page, without a browser.
  router.post('/v1/test_helpers/checkout/sessions/:id/complete', (req) => completeHelper(req), { customerAction: true });

  // The hosted payment page.
  router.get('/c/pay/:id', (req) => showPage(req), { auth: false });
  router.post('/c/pay/:id', (req) => submitPage(req), { auth: false });
  router.get('/c/pay/:id/return', (req) => returnPage(req), { auth: false });
}

// ------------------------------------------------------------------ API

/** A list in the order the items were given (line items), with `limit` and `starting_after`/`ending_before`. */
function inOrder<T extends { id: string }>(req: ApiRequest, items: T[], url: string): Stripe.ApiList<T> {
  const p = req.params;
  const limit = p.int('limit', { min: 1, max: 100 }) ?? 10;
  const after = p.str('starting_after');
  const before = p.str('ending_before');
  let from = 0;
  let to = items.length;
  if (after !== undefined) from = items.findIndex((i) => i.id === after) + 1;
  if (before !== undefined)
    to = Math.max(
      0,
      items.findIndex((i) => i.id === before),
    );
  const slice =
    before !== undefined && after === undefined
      ? items.slice(Math.max(from, to - limit), to)
      : items.slice(from, Math.min(to, from + limit));
  const hasMore = before !== undefined && after === undefined ? to - limit > from : from + limit < to;
  return { object: 'list', data: slice, has_more: hasMore, url };
}

function lineItems(ctx: EmulatorContext, p: Params, mode: 'payment' | 'subscription'): LineItemInput[] {
  const list = p.objList('line_items');
  if (!list || list.length === 0) throw missingParam('line_items');
  const items = list.map((lp, i) => {
    const ref = lp.str('price');
    const data = lp.obj('price_data');
    if (ref && data)
      throw invalidRequest('You may only specify one of these parameters: price, price_data.', {
        param: lp.name('price_data'),
        code: 'parameters_exclusive',
      });
    let price: PriceObject;
    if (ref) price = ctx.retrieve<PriceObject>('price', ref, lp.name('price'));
    else if (data) price = createPrice(ctx, data);
    else
      throw invalidRequest(`You must specify either \`price\` or \`price_data\` in \`line_items[${i}]\`.`, {
        param: `line_items[${i}]`,
        code: 'parameter_missing',
      });
    if (!price.active) throw invalidRequest(`The price \`${price.id}\` is not active.`, { param: lp.name('price') });
    const quantity = lp.reqInt('quantity', { min: 1, max: 999999 });
    return { price, quantity, param: lp.name('price') };
  });
  const currency = items[0]?.price.currency;
  for (const it of items) {
    if (it.price.currency !== currency) throw invalidRequest('All line items must use the same currency.', { param: it.param });
    if (mode === 'payment' && it.price.recurring) {
      throw invalidRequest(
        'You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or use only one-time prices.',
        { param: it.param },
      );
    }
    if (mode === 'subscription' && !it.price.recurring) {
      throw invalidRequest('The Stripe emulator does not implement one-time prices in `subscription` mode; use recurring prices only.', {
        param: it.param,
      });
    }
  }
  if (mode === 'subscription') checkSubscriptionPrices(items);
  if (mode === 'payment' && currency) {
    // Stripe refuses a payment-mode session whose total is under the currency's minimum charge.
    const total = items.reduce((sum, it) => sum + (it.price.unit_amount ?? 0) * it.quantity, 0);
    const min = MINIMUM_CHARGE[currency];
    if (min !== undefined && total > 0 && total < min) {
      throw invalidRequest(`The Checkout Session's total amount due must add up to at least ${formatAmount(min, currency)} ${currency}`, {
        param: 'line_items',
        code: 'amount_too_small',
      });
    }
  }
  return items.map(({ price, quantity }) => ({ price, quantity }));
}

function create(req: ApiRequest): Stripe.Checkout.Session {
  const { ctx, params: p } = req;
  const mode = p.enum('mode', ['payment', 'setup', 'subscription'], { required: true });
  if (mode === 'setup') throw invalidRequest('The Stripe emulator does not implement `setup` mode.', { param: 'mode' });
  const m = mode as 'payment' | 'subscription';
  const customer = p.str('customer') ?? null;
  const customerEmail = emailParam(p, 'customer_email') ?? null;
  if (customer && customerEmail)
    throw invalidRequest('You may only specify one of these parameters: customer, customer_email.', {
      param: 'customer_email',
      code: 'parameters_exclusive',
    });
  if (customer) ctx.retrieve<Stripe.Customer>('customer', customer, 'customer');
  const creation = p.enum('customer_creation', ['always', 'if_required']) ?? null;
  if (creation && m !== 'payment')
    throw invalidRequest('`customer_creation` can only be used in `payment` mode.', { param: 'customer_creation' });
  const ui = p.str('ui_mode');
  if (ui && ui !== 'hosted' && ui !== 'hosted_page')
    throw invalidRequest(`The Stripe emulator only implements the hosted page (ui_mode=hosted_page), not ui_mode=${ui}.`, {
      param: 'ui_mode',
    });

  const pid = p.obj('payment_intent_data');
  if (pid && m !== 'payment')
    throw invalidRequest('You can not pass `payment_intent_data` in `subscription` mode.', { param: 'payment_intent_data' });
  const sd = p.obj('subscription_data');
  if (sd && m !== 'subscription')
    throw invalidRequest('You can not pass `subscription_data` in `payment` mode.', { param: 'subscription_data' });
  if (sd?.has('billing_cycle_anchor'))
    throw invalidRequest('The Stripe emulator does not implement subscription_data[billing_cycle_anchor].', {
      param: sd.name('billing_cycle_anchor'),
    });
  const items = lineItems(ctx, p, m);
  const now = ctx.now(customer);
  const trial = sd ? subscriptionTrial(sd, now) : {};
  const expiresAt = p.int('expires_at') ?? null;
  if (expiresAt !== null) {
    if (expiresAt > now + 24 * HOUR)
      throw invalidRequest('The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.', {
        param: 'expires_at',
      });
    if (expiresAt < now + HOUR / 2)
      throw invalidRequest('The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.', {
        param: 'expires_at',
      });
  }
  return createSession(ctx, {
    mode: m,
    lineItems: items,
    customer,
    customer_email: customerEmail,
    customer_creation: creation,
    client_reference_id: p.str('client_reference_id', { max: 200 }) ?? null,
    metadata: p.metadata() ?? {},
    success_url: p.str('success_url', { max: 5000 }) ?? null,
    cancel_url: p.str('cancel_url', { max: 5000 }) ?? null,
    expires_at: expiresAt,
    capture_method: pid?.enum('capture_method', CAPTURE_METHODS) ?? 'automatic_async',
    payment_intent_metadata: pid?.metadata() ?? {},
    payment_intent_description: pid?.str('description', { max: 1000 }) ?? null,
    setup_future_usage: pid?.enum('setup_future_usage', SETUP_FUTURE_USAGE) ?? null,
    subscription_metadata: sd?.metadata() ?? {},
    subscription_description: sd?.str('description', { max: 500 }) ?? null,
    subscription_trial: trial,
    locale: p.str('locale') ?? null,
    submit_type: p.enum('submit_type', SUBMIT_TYPES) ?? null,
    origin: req.origin,
  });
}

/**
 * `subscription_data[trial_period_days]` (1 to 730) or `subscription_data[trial_end]` (48 hours to two years
 * ahead), as Stripe checks them when the session is created.
 */
function subscriptionTrial(sd: Params, now: number): { trial_end?: number; trial_period_days?: number } {
  const names = { end: sd.name('trial_end'), days: sd.name('trial_period_days') };
  const request = {
    trial_end: sd.int('trial_end', { min: 0 }),
    trial_period_days: sd.int('trial_period_days', { min: 1, max: MAX_TRIAL_DAYS }),
  };
  requestedTrialEnd(now, request, names, 48 * HOUR);
  return Object.fromEntries(Object.entries(request).filter(([, v]) => v !== undefined));
}

function list(req: ApiRequest): Stripe.ApiList<Stripe.Checkout.Session> {
  const { ctx, params: p } = req;
  let items = ctx.store.newest<Stripe.Checkout.Session>('checkout.session');
  const customer = p.str('customer');
  if (customer !== undefined) items = items.filter((s) => idOf(s.customer) === customer);
  const pi = p.str('payment_intent');
  if (pi !== undefined) items = items.filter((s) => idOf(s.payment_intent) === pi);
  const sub = p.str('subscription');
  if (sub !== undefined) items = items.filter((s) => idOf(s.subscription) === sub);
  const status = p.enum('status', ['complete', 'expired', 'open']);
  if (status !== undefined) items = items.filter((s) => s.status === status);
  const details = p.obj('customer_details');
  const mail = details?.str('email');
  if (mail !== undefined) items = items.filter((s) => s.customer_details?.email === mail);
  return paginate(req, filterCreated(p, items));
}

/**
 * `POST /v1/test_helpers/checkout/sessions/:id/complete`: pays the session as a customer on the hosted page
 * would. `card_number` (default 4242 4242 4242 4242), `email`, `name`, and `three_d_secure=succeed|fail` to
 * settle a 3-D Secure request at once (without it the session stays open, its payment in `requires_action`).
 * A decline answers the 402 card error and leaves the session open.
 */
function completeHelper(req: ApiRequest): Stripe.Checkout.Session {
  const { ctx, params: p } = req;
  const session = ctx.retrieve<Stripe.Checkout.Session>('checkout.session', req.pathParams['id'], 'session');
  assertOpen(session);
  const outcome = submitCard(ctx, session, {
    number: p.str('card_number') ?? '4242424242424242',
    exp_month: p.int('exp_month'),
    exp_year: p.int('exp_year'),
    cvc: p.str('cvc'),
    email:
      emailParam(p, 'email') ??
      (session.customer || session.customer_email ? null : `customer+${session.id.slice(-8).toLowerCase()}@example.com`),
    name: p.str('name') ?? null,
    param: 'card_number',
    origin: req.origin,
    authenticate: p.enum('three_d_secure', ['succeed', 'fail']),
  });
  if (outcome.kind === 'declined') throw outcome.error;
  return session;
}

// ------------------------------------------------------------------ hosted page

function pageSession(req: ApiRequest): Stripe.Checkout.Session | undefined {
  return req.ctx.store.find<Stripe.Checkout.Session>('checkout.session', req.pathParams['id'] as string);
}

function notFound(): RawResponse {
  return RawResponse.html(page('Checkout', '<h1>Something went wrong</h1><p id="message">This Checkout Session does not exist.</p>'), 404);
}

function closedPage(session: Stripe.Checkout.Session): RawResponse {
  if (session.status === 'complete') {
    const url = successUrl(session);
    if (url) return RawResponse.redirect(url);
    return RawResponse.html(
      page(
        'Checkout',
        `<h1 id="result">Thanks for your ${session.mode === 'subscription' ? 'subscription' : 'payment'}</h1><p>This Checkout Session is complete.</p>`,
      ),
    );
  }
  return RawResponse.html(
    page('Checkout', '<h1 id="result">This Checkout Session has expired</h1><p id="message">Start a new checkout to pay.</p>'),
    410,
  );
}

function showPage(req: ApiRequest, error?: string, status = 200): RawResponse {
  const session = pageSession(req);
  if (!session) return notFound();
  if (session.status !== 'open') return closedPage(session);
  const { ctx } = req;
  const meta = sessionMeta(ctx, session);
  const customer = session.customer ? ctx.store.find<Stripe.Customer>('customer', idOf(session.customer) ?? '') : undefined;
  const email = meta.email ?? session.customer_email ?? customer?.email ?? '';
  const currency = session.currency ?? 'usd';
  const rows = lineItemsOf(ctx, session)
    .map((li) => {
      const r = li.price?.recurring;
      const per = r ? ` <span class="per">per ${r.interval_count === 1 ? r.interval : `${r.interval_count} ${r.interval}s`}</span>` : '';
      return `<tr><td>${escapeHtml(li.description ?? 'Item')}${(li.quantity ?? 1) > 1 ? ` × ${li.quantity}` : ''}</td><td class="amount">${escapeHtml(formatAmount(li.amount_total, li.currency))}${per}</td></tr>`;
    })
    .join('\n');
  const action = `/c/pay/${encodeURIComponent(session.id)}`;
  const cancel = session.cancel_url ? `<p><a id="cancel" href="${escapeHtml(session.cancel_url)}">Cancel</a></p>` : '';
  const body = `<h1>${session.mode === 'subscription' ? 'Subscribe' : 'Pay'}</h1>
<table id="summary">
${rows}
${trialRow(meta, session)}
<tr><th>Total</th><th class="amount" id="total">${escapeHtml(formatAmount(session.amount_total ?? 0, currency))}</th></tr>
</table>
${error ? `<p class="error" id="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="${escapeHtml(action)}" id="payment-form">
  <label for="email">Email</label>
  <input id="email" name="email" type="email" autocomplete="email" value="${escapeHtml(email)}"${customer?.email ? ' readonly' : ''}>
${CARD_FIELDS}
  <button type="submit" id="submit" class="SubmitButton">Pay</button>
</form>
${cancel}
<p class="hint">Test cards: 4242 4242 4242 4242 (succeeds), 4000 0000 0000 0002 (declined), 4000 0000 0000 9995 (insufficient funds), 4000 0025 0000 3155 (3-D Secure). Any future expiry, any CVC.</p>`;
  return RawResponse.html(page(session.mode === 'subscription' ? 'Subscribe' : 'Pay', body), status);
}

/** The trial a subscription-mode session starts, on its page: nothing is charged today. */
function trialRow(meta: Partial<SessionMeta>, session: Stripe.Checkout.Session): string {
  const days = meta.trialPeriodDays ?? (meta.trialEnd ? Math.ceil((meta.trialEnd - session.created) / DAY) : undefined);
  return days ? `<tr><td id="trial">Free trial: ${days} days, then the price above</td><td class="amount">nothing today</td></tr>` : '';
}

export function parseExpiry(value: string | undefined): { month: number; year: number } | null {
  const m = /^\s*(\d{1,2})\s*\/?\s*(\d{2}|\d{4})\s*$/.exec(value ?? '');
  if (!m) return null;
  const month = Number(m[1]);
  const y = Number(m[2]);
  return { month, year: y < 100 ? 2000 + y : y };
}

function submitPage(req: ApiRequest): RawResponse {
  const session = pageSession(req);
  if (!session) return notFound();
  if (session.status !== 'open') return closedPage(session);
  const { ctx, params: p } = req;
  const number = (p.str('cardNumber') ?? '').replace(/[\s-]/g, '');
  if (!number) return showPage(req, 'Your card number is incomplete.', 402);
  const expiry = parseExpiry(p.str('cardExpiry'));
  if (!expiry) return showPage(req, "Your card's expiration date is incomplete.", 402);
  const cvc = (p.str('cardCvc') ?? '').trim();
  if (!/^\d{3,4}$/.test(cvc)) return showPage(req, "Your card's security code is incomplete.", 402);
  const email = (p.str('email') ?? '').trim();
  if (email && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) return showPage(req, 'Your email address is invalid.', 402);
  let outcome: SubmitOutcome;
  try {
    outcome = submitCard(ctx, session, {
      number,
      exp_month: expiry.month,
      exp_year: expiry.year,
      cvc,
      email: email || null,
      name: p.str('billingName') ?? null,
      origin: req.origin,
    });
  } catch (err) {
    if (err instanceof ApiError) return showPage(req, err.body.message, err.status);
    throw err;
  }
  return afterOutcome(req, session, outcome);
}

function afterOutcome(req: ApiRequest, session: Stripe.Checkout.Session, outcome: SubmitOutcome): RawResponse {
  if (outcome.kind === 'requires_action') return RawResponse.redirect(outcome.redirectUrl);
  if (outcome.kind === 'declined') return showPage(req, outcome.error.body.message, 402);
  return closedPage(session);
}

/** Back from the 3-D Secure page: on to `success_url`, or the form again with the reason. */
function returnPage(req: ApiRequest): RawResponse {
  const session = pageSession(req);
  if (!session) return notFound();
  if (session.status !== 'open') return closedPage(session);
  const piId = req.params.str('payment_intent');
  const pi = piId ? req.ctx.store.find<Stripe.PaymentIntent>('payment_intent', piId) : undefined;
  const error = pi?.last_payment_error;
  // the customer-facing wording of Stripe's page for a failed authentication
  const message =
    !error || error.code === 'payment_intent_authentication_failure'
      ? 'We are unable to authenticate your payment method. Please choose a different payment method and try again.'
      : (error.message ?? 'Your card was declined.');
  return showPage(req, message, 402);
}
