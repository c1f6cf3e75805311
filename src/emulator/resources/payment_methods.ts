import type Stripe from 'stripe';
import { clone, diff, type EmulatorContext } from '../core/context';
import { invalidRequest } from '../core/errors';
import { filterCreated, paginate } from '../core/list';
import type { Params } from '../core/params';
import type { ApiRequest, Router } from '../core/router';
import { magicCardNumber } from '../payments/cards';
import { attachPaymentMethod, createCardPaymentMethod, detachPaymentMethod, resolvePaymentMethod } from '../payments/payment_methods';
import { address } from './shared';

export function register(router: Router, ctx: EmulatorContext): void {
  ctx.registerType({ object: 'payment_method', prefix: 'pm', name: 'PaymentMethod' });

  router.post('/v1/payment_methods', (req) => createPaymentMethod(req));
  router.get('/v1/payment_methods/:id', (req) => resolvePaymentMethod(ctx, req.pathParams['id'] as string, 'id'));
  router.post('/v1/payment_methods/:id', (req) => updatePaymentMethod(req));
  router.post('/v1/payment_methods/:id/attach', (req) => {
    const pm = resolvePaymentMethod(ctx, req.pathParams['id'] as string, 'payment_method');
    return attachPaymentMethod(ctx, pm, req.params.reqStr('customer'));
  });
  router.post('/v1/payment_methods/:id/detach', (req) =>
    detachPaymentMethod(ctx, ctx.retrieve<Stripe.PaymentMethod>('payment_method', req.pathParams['id'])),
  );
  router.get('/v1/payment_methods', (req) => {
    const p = req.params;
    let items = ctx.store.newest<Stripe.PaymentMethod>('payment_method');
    const customer = p.str('customer');
    if (customer !== undefined) {
      ctx.retrieve('customer', customer, 'customer');
      items = items.filter((pm) => pm.customer === customer);
    }
    const type = p.str('type');
    if (type !== undefined) items = items.filter((pm) => pm.type === type);
    return paginate(req, filterCreated(p, items));
  });
}

function billingDetails(p: Params): Partial<Stripe.PaymentMethod.BillingDetails> | undefined {
  const b = p.obj('billing_details');
  if (!b) return undefined;
  return {
    ...(b.has('address') ? { address: address(b) ?? null } : {}),
    ...(b.has('email') ? { email: b.nullableStr('email') ?? null } : {}),
    ...(b.has('name') ? { name: b.nullableStr('name') ?? null } : {}),
    ...(b.has('phone') ? { phone: b.nullableStr('phone') ?? null } : {}),
  };
}

function createPaymentMethod(req: ApiRequest): Stripe.PaymentMethod {
  const { ctx, params: p } = req;
  const type = p.reqStr('type');
  if (type !== 'card')
    throw invalidRequest(`The Stripe emulator only implements card payment methods (type=${type} is not available).`, {
      param: 'type',
      code: 'payment_method_unsupported_type',
    });
  const card = p.obj('card');
  if (!card) throw invalidRequest('Missing required param: card.', { param: 'card', code: 'parameter_missing' });
  const token = card.str('token');
  let number: string;
  if (token) {
    const n = magicCardNumber(token);
    if (!n) throw invalidRequest(`No such token: '${token}'`, { status: 404, code: 'resource_missing', param: 'card[token]' });
    number = n;
  } else {
    number = card.reqStr('number');
  }
  return createCardPaymentMethod(ctx, {
    number,
    exp_month: token ? undefined : card.reqInt('exp_month'),
    exp_year: token ? undefined : card.reqInt('exp_year'),
    cvc: card.str('cvc'),
    billing_details: billingDetails(p),
    metadata: p.metadata(),
  });
}

function updatePaymentMethod(req: ApiRequest): Stripe.PaymentMethod {
  const { ctx, params: p } = req;
  const pm = ctx.retrieve<Stripe.PaymentMethod>('payment_method', req.pathParams['id']);
  if (!pm.customer)
    throw invalidRequest('You must save this PaymentMethod to a customer before you can update it.', {
      code: 'payment_method_unexpected_state',
    });
  const before = clone(pm);
  const bd = billingDetails(p);
  if (bd) pm.billing_details = { ...pm.billing_details, ...bd };
  pm.metadata = p.metadata(pm.metadata ?? {}) ?? {};
  const card = p.obj('card');
  if (card && pm.card) {
    const m = card.int('exp_month', { min: 1, max: 12 });
    const y = card.int('exp_year');
    if (m !== undefined) pm.card.exp_month = m;
    if (y !== undefined) pm.card.exp_year = y;
  }
  const previous = diff(before, pm);
  if (previous) ctx.emit('payment_method.updated', pm, previous);
  return pm;
}
