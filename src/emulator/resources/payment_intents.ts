import type Stripe from 'stripe';
import type { EmulatorContext } from '../core/context';
import { invalidRequest } from '../core/errors';
import { filterCreated, paginate } from '../core/list';
import type { Params } from '../core/params';
import { RawResponse, type ApiRequest, type Router } from '../core/router';
import { escapeHtml, page } from '../core/html';
import { MAXIMUM_AMOUNT, formatAmount } from '../core/currency';
import {
  authenticatePaymentIntent,
  cancelPaymentIntent,
  capturePaymentIntent,
  confirmPaymentIntent,
  createPaymentIntent,
  intentMeta,
  updatePaymentIntent,
  type ConfirmInput,
  type PaymentResult,
} from '../payments/intents';
import { shipping } from './shared';

const CAPTURE_METHODS = ['automatic', 'automatic_async', 'manual'] as const;
const SETUP_FUTURE_USAGE = ['off_session', 'on_session'] as const;
const CANCELLATION_REASONS = ['duplicate', 'fraudulent', 'requested_by_customer', 'abandoned'] as const;

export function register(router: Router, ctx: EmulatorContext): void {
  ctx.registerType({ object: 'payment_intent', prefix: 'pi', name: 'payment_intent' });

  router.post('/v1/payment_intents', (req) => createIntent(req));
  router.get('/v1/payment_intents/:id', (req) => {
    const pi = ctx.retrieve<Stripe.PaymentIntent>('payment_intent', req.pathParams['id']);
    const secret = req.params.str('client_secret');
    if (secret !== undefined && secret !== pi.client_secret)
      throw invalidRequest('The client_secret provided does not match the client_secret associated with the PaymentIntent.', {
        param: 'client_secret',
      });
    return pi;
  });
  router.post('/v1/payment_intents/:id', (req) => updateIntent(req));
  router.post('/v1/payment_intents/:id/confirm', (req) => {
    const pi = ctx.retrieve<Stripe.PaymentIntent>('payment_intent', req.pathParams['id']);
    return outcome(confirmPaymentIntent(ctx, pi, confirmInput(req.params), req.origin));
  });
  router.post('/v1/payment_intents/:id/capture', (req) => {
    const pi = ctx.retrieve<Stripe.PaymentIntent>('payment_intent', req.pathParams['id']);
    const p = req.params;
    const amount = p.int('amount_to_capture', { max: MAXIMUM_AMOUNT });
    if (p.has('metadata')) pi.metadata = p.metadata(pi.metadata) ?? {};
    return capturePaymentIntent(ctx, pi, amount);
  });
  router.post('/v1/payment_intents/:id/cancel', (req) => {
    const pi = ctx.retrieve<Stripe.PaymentIntent>('payment_intent', req.pathParams['id']);
    return cancelPaymentIntent(ctx, pi, req.params.enum('cancellation_reason', CANCELLATION_REASONS));
  });
  router.get('/v1/payment_intents', (req) => {
    const p = req.params;
    let items = ctx.store.newest<Stripe.PaymentIntent>('payment_intent');
    const customer = p.str('customer');
    if (customer !== undefined) items = items.filter((pi) => pi.customer === customer);
    return paginate(req, filterCreated(p, items));
  });

  // Test helper: completes the 3-D Secure step as the customer would on the authentication page.
  router.post(
    '/v1/test_helpers/payment_intents/:id/authenticate',
    (req) => {
      const pi = ctx.retrieve<Stripe.PaymentIntent>('payment_intent', req.pathParams['id']);
      const result = authenticatePaymentIntent(ctx, pi, req.params.enum('outcome', ['succeed', 'fail']) ?? 'succeed');
      return result.paymentIntent;
    },
    { customerAction: true },
  );

  // The page a `redirect_to_url` next action points at: the customer completes or fails 3-D Secure.
  router.get('/authenticate/:id', (req) => authenticatePage(req), { auth: false });
  router.post('/authenticate/:id', (req) => authenticateSubmit(req), { auth: false });
}

/** A failed payment answers Stripe's 402 card error; the intent itself is saved with `last_payment_error`. */
function outcome(result: PaymentResult): Stripe.PaymentIntent {
  if (result.error) throw result.error;
  return result.paymentIntent;
}

function confirmInput(p: Params): ConfirmInput {
  const offSession = p.raw['off_session'];
  return {
    payment_method: p.str('payment_method'),
    return_url: p.has('return_url') ? p.nullableStr('return_url') : undefined,
    // off_session takes a boolean, or (legacy) one_off / recurring
    off_session: offSession === 'one_off' || offSession === 'recurring' ? true : p.bool('off_session'),
    setup_future_usage: p.has('setup_future_usage')
      ? p.isUnset('setup_future_usage')
        ? null
        : p.enum('setup_future_usage', SETUP_FUTURE_USAGE)
      : undefined,
    capture_method: p.enum('capture_method', CAPTURE_METHODS),
    receipt_email: p.has('receipt_email') ? p.nullableStr('receipt_email') : undefined,
    error_on_requires_action: p.bool('error_on_requires_action'),
  };
}

function createIntent(req: ApiRequest): Stripe.PaymentIntent {
  const { ctx, params: p } = req;
  const amount = p.reqInt('amount');
  const currency = p.reqStr('currency');
  const apm = p.obj('automatic_payment_methods');
  // `allowed_payment_method_types` in current API versions, `payment_method_types` before
  const typesParam = p.has('allowed_payment_method_types') ? 'allowed_payment_method_types' : 'payment_method_types';
  const types = p.strList(typesParam);
  if (apm && types && types.length) {
    throw invalidRequest(`You may only specify one of these parameters: automatic_payment_methods, ${typesParam}.`, {
      param: 'automatic_payment_methods',
      code: 'parameters_exclusive',
    });
  }
  const confirm = p.bool('confirm') ?? false;
  const ci = confirmInput(p);
  if (!confirm && ci.off_session !== undefined)
    throw invalidRequest('You can only use `off_session` when `confirm=true`.', { param: 'off_session' });
  if (!confirm && p.has('return_url')) throw invalidRequest('You can only use `return_url` when `confirm=true`.', { param: 'return_url' });
  const pi = createPaymentIntent(ctx, {
    amount,
    currency,
    customer: p.str('customer') ?? null,
    payment_method: p.str('payment_method') ?? null,
    capture_method: p.enum('capture_method', CAPTURE_METHODS),
    confirmation_method: p.enum('confirmation_method', ['automatic', 'manual']),
    description: p.str('description', { max: 1000 }) ?? null,
    metadata: p.metadata(),
    receipt_email: p.str('receipt_email') ?? null,
    setup_future_usage: p.enum('setup_future_usage', SETUP_FUTURE_USAGE) ?? null,
    statement_descriptor: p.str('statement_descriptor', { max: 22 }) ?? null,
    statement_descriptor_suffix: p.str('statement_descriptor_suffix', { max: 22 }) ?? null,
    allowed_payment_method_types: types,
    automatic_payment_methods: apm
      ? { enabled: apm.bool('enabled') ?? true, allow_redirects: apm.enum('allow_redirects', ['always', 'never']) }
      : undefined,
    shipping: shipping(p) ?? null,
    return_url: ci.return_url ?? null,
  });
  if (!confirm) return pi;
  return outcome(confirmPaymentIntent(ctx, pi, { ...ci, payment_method: undefined }, req.origin));
}

function updateIntent(req: ApiRequest): Stripe.PaymentIntent {
  const { ctx, params: p } = req;
  const pi = ctx.retrieve<Stripe.PaymentIntent>('payment_intent', req.pathParams['id']);
  return updatePaymentIntent(ctx, pi, {
    amount: p.int('amount'),
    currency: p.str('currency'),
    customer: p.has('customer') ? p.nullableStr('customer') : undefined,
    payment_method: p.has('payment_method') ? p.nullableStr('payment_method') : undefined,
    description: p.has('description') ? p.nullableStr('description', { max: 1000 }) : undefined,
    metadata: p.has('metadata') ? p.metadata(pi.metadata) : undefined,
    receipt_email: p.has('receipt_email') ? p.nullableStr('receipt_email') : undefined,
    setup_future_usage: p.has('setup_future_usage')
      ? p.isUnset('setup_future_usage')
        ? null
        : p.enum('setup_future_usage', SETUP_FUTURE_USAGE)
      : undefined,
    capture_method: p.enum('capture_method', CAPTURE_METHODS),
    statement_descriptor: p.has('statement_descriptor') ? p.nullableStr('statement_descriptor', { max: 22 }) : undefined,
    statement_descriptor_suffix: p.has('statement_descriptor_suffix')
      ? p.nullableStr('statement_descriptor_suffix', { max: 22 })
      : undefined,
    shipping: p.has('shipping') ? (shipping(p) ?? null) : undefined,
  });
}

function pageIntent(req: ApiRequest): Stripe.PaymentIntent {
  const pi = req.ctx.store.find<Stripe.PaymentIntent>('payment_intent', req.pathParams['id'] as string);
  const secret = req.params.str('client_secret');
  if (!pi || (secret !== undefined && secret !== pi.client_secret))
    throw invalidRequest('No such payment_intent.', { status: 404, code: 'resource_missing' });
  return pi;
}

function authenticatePage(req: ApiRequest): RawResponse {
  const pi = pageIntent(req);
  const secret = req.params.str('client_secret') ?? '';
  if (pi.status !== 'requires_action') {
    return RawResponse.html(
      page('3D Secure', `<h1>Nothing to authenticate</h1><p>This payment has status <code>${escapeHtml(pi.status)}</code>.</p>`),
    );
  }
  const amount = formatAmount(pi.amount, pi.currency);
  const action = `/authenticate/${encodeURIComponent(pi.id)}?client_secret=${encodeURIComponent(secret)}`;
  return RawResponse.html(
    page(
      '3D Secure authentication',
      `<h1>3D Secure test payment</h1>
<p>This is a test 3D Secure authentication for a payment of <strong>${escapeHtml(amount)}</strong>.</p>
<form method="post" action="${escapeHtml(action)}">
  <button type="submit" name="outcome" value="succeed" id="complete">Complete</button>
  <button type="submit" name="outcome" value="fail" id="fail" class="secondary">Fail</button>
</form>`,
    ),
  );
}

function authenticateSubmit(req: ApiRequest): RawResponse {
  const { ctx } = req;
  const pi = pageIntent(req);
  const result =
    pi.status === 'requires_action'
      ? authenticatePaymentIntent(ctx, pi, req.params.enum('outcome', ['succeed', 'fail']) ?? 'succeed')
      : { paymentIntent: pi };
  const done = result.paymentIntent;
  const returnUrl = intentMeta(ctx, done).return_url;
  const redirectStatus =
    done.status === 'succeeded' || done.status === 'requires_capture' || done.status === 'processing' ? 'succeeded' : 'failed';
  if (returnUrl) {
    const url = new URL(returnUrl);
    url.searchParams.set('payment_intent', done.id);
    url.searchParams.set('payment_intent_client_secret', done.client_secret ?? '');
    url.searchParams.set('redirect_status', redirectStatus);
    return RawResponse.redirect(url.toString());
  }
  return RawResponse.html(
    page(
      '3D Secure',
      `<h1 id="result">Authentication ${redirectStatus === 'succeeded' ? 'completed' : 'failed'}</h1><p>The payment now has status <code id="status">${escapeHtml(done.status)}</code>. You can close this page.</p>`,
    ),
  );
}
