import type Stripe from 'stripe';
import { clone, diff, type EmulatorContext } from '../core/context';
import { invalidRequest } from '../core/errors';
import { randomToken } from '../core/ids';
import { filterCreated, paginate } from '../core/list';
import type { Params } from '../core/params';
import type { ApiRequest, Router } from '../core/router';
import { attachPaymentMethod, checkAttachable, resolvePaymentMethod } from '../payments/payment_methods';
import { address, email, set, shipping } from './shared';

export const TEST_CLOCK_OBJECT = 'test_helpers.test_clock';

export function register(router: Router, ctx: EmulatorContext): void {
  ctx.registerType({ object: 'customer', prefix: 'cus', name: 'customer' });

  router.post('/v1/customers', (req) => createCustomer(req));
  router.get('/v1/customers/:id', (req) => {
    const id = req.pathParams['id'] as string;
    return ctx.store.deleted(id)?.object === 'customer' ? ctx.store.deleted(id) : ctx.retrieve<Stripe.Customer>('customer', id);
  });
  router.post('/v1/customers/:id', (req) => updateCustomer(req));
  router.delete('/v1/customers/:id', (req) => {
    const customer = ctx.retrieve<Stripe.Customer>('customer', req.pathParams['id']);
    const snapshot = clone(customer);
    const stub = ctx.store.remove(customer.id);
    ctx.emit('customer.deleted', snapshot);
    return stub;
  });
  router.get('/v1/customers', (req) => {
    const p = req.params;
    let items = ctx.store.newest<Stripe.Customer>('customer');
    const mail = p.str('email');
    if (mail !== undefined) items = items.filter((c) => c.email === mail);
    const clock = p.str('test_clock');
    if (clock !== undefined) items = items.filter((c) => c.test_clock === clock);
    return paginate(req, filterCreated(p, items));
  });
  router.get('/v1/customers/:id/payment_methods', (req) => {
    const customer = ctx.retrieve<Stripe.Customer>('customer', req.pathParams['id']);
    const type = req.params.str('type');
    const items = ctx.store
      .newest<Stripe.PaymentMethod>('payment_method')
      .filter((pm) => pm.customer === customer.id && (!type || pm.type === type));
    return paginate(req, items);
  });
  router.get('/v1/customers/:id/payment_methods/:pm', (req) => {
    const customer = ctx.retrieve<Stripe.Customer>('customer', req.pathParams['id']);
    const pm = ctx.retrieve<Stripe.PaymentMethod>('payment_method', req.pathParams['pm']);
    if (pm.customer !== customer.id)
      throw invalidRequest(`No such PaymentMethod: '${pm.id}'`, { status: 404, code: 'resource_missing', param: 'payment_method' });
    return pm;
  });
}

export function createCustomer(req: ApiRequest): Stripe.Customer {
  const { ctx, params: p } = req;
  let clock: string | null = null;
  const clockParam = p.str('test_clock');
  if (clockParam) clock = ctx.retrieve(TEST_CLOCK_OBJECT, clockParam, 'test_clock').id;
  const created = clock ? (ctx.clockTime(clock) ?? ctx.now()) : ctx.now();
  const customer: Stripe.Customer = {
    id: ctx.newId('cus'),
    object: 'customer',
    address: address(p) ?? null,
    balance: p.int('balance') ?? 0,
    created,
    currency: null,
    default_source: null,
    delinquent: false,
    description: p.str('description') ?? null,
    discount: null,
    email: email(p) ?? null,
    invoice_prefix: p.str('invoice_prefix') ?? randomToken(8).toUpperCase(),
    invoice_settings: { custom_fields: null, default_payment_method: null, footer: null, rendering_options: null },
    livemode: false,
    metadata: p.metadata() ?? {},
    name: p.str('name', { max: 256 }) ?? null,
    next_invoice_sequence: 1,
    phone: p.str('phone') ?? null,
    preferred_locales: p.strList('preferred_locales') ?? [],
    shipping: shipping(p) ?? null,
    tax_exempt: p.enum('tax_exempt', ['none', 'exempt', 'reverse']) ?? 'none',
    test_clock: clock,
  };
  applyInvoiceSettingsFooter(p, customer);
  // Everything is checked before the customer exists, so a refused request leaves no trace.
  const pmRef = p.str('payment_method');
  const defaultRef = p.obj('invoice_settings')?.str('default_payment_method');
  let pm: Stripe.PaymentMethod | undefined;
  if (pmRef) {
    pm = resolvePaymentMethod(ctx, pmRef, 'payment_method');
    checkAttachable(ctx, pm);
  }
  if (defaultRef) {
    // `payment_method=pm_card_visa&invoice_settings[default_payment_method]=pm_card_visa` names the method attached here
    if (pm && (defaultRef === pmRef || defaultRef === pm.id)) customer.invoice_settings.default_payment_method = pm.id;
    else defaultPaymentMethod(ctx, customer, defaultRef);
  }
  ctx.store.insert(customer);
  ctx.emit('customer.created', customer);
  if (pm) attachPaymentMethod(ctx, pm, customer.id, 'payment_method');
  return customer;
}

function applyInvoiceSettingsFooter(p: Params, customer: Stripe.Customer): void {
  const inv = p.obj('invoice_settings');
  if (!inv) return;
  if (inv.has('footer')) customer.invoice_settings.footer = inv.nullableStr('footer') ?? null;
}

/** The customer's default payment method must be one attached to the customer. */
function defaultPaymentMethod(ctx: EmulatorContext, customer: Stripe.Customer, id: string): string {
  const param = 'invoice_settings[default_payment_method]';
  const pm = ctx.retrieve<Stripe.PaymentMethod>('payment_method', id, param);
  if (pm.customer !== customer.id) {
    throw invalidRequest(
      `The customer does not have a payment method with the ID ${pm.id}. The payment method must be attached to the customer.`,
      { param, code: 'resource_missing' },
    );
  }
  return pm.id;
}

function updateCustomer(req: ApiRequest): Stripe.Customer {
  const { ctx, params: p } = req;
  const customer = ctx.retrieve<Stripe.Customer>('customer', req.pathParams['id']);
  const before = clone(customer);
  const inv = p.obj('invoice_settings');
  const next = clone(customer);
  set(next, 'address', address(p));
  set(next, 'balance', p.int('balance'));
  set(next, 'description', p.nullableStr('description'));
  set(next, 'email', email(p));
  set(next, 'name', p.nullableStr('name', { max: 256 }));
  set(next, 'phone', p.nullableStr('phone'));
  set(next, 'shipping', shipping(p));
  set(next, 'preferred_locales', p.strList('preferred_locales'));
  set(next, 'tax_exempt', p.enum('tax_exempt', ['none', 'exempt', 'reverse']));
  set(next, 'invoice_prefix', p.str('invoice_prefix'));
  next.metadata = p.metadata(customer.metadata) ?? {};
  if (inv === null) {
    next.invoice_settings = { custom_fields: null, default_payment_method: null, footer: null, rendering_options: null };
  } else if (inv) {
    if (inv.isUnset('default_payment_method')) next.invoice_settings.default_payment_method = null;
    else {
      const ref = inv.str('default_payment_method');
      if (ref) next.invoice_settings.default_payment_method = defaultPaymentMethod(ctx, customer, ref);
    }
    if (inv.has('footer')) next.invoice_settings.footer = inv.nullableStr('footer') ?? null;
  }
  if (p.str('test_clock'))
    throw invalidRequest('Received unknown parameter: test_clock. A customer is attached to a test clock only when it is created.', {
      param: 'test_clock',
    });
  Object.assign(customer, next);
  const previous = diff(before, customer);
  if (previous) ctx.emit('customer.updated', customer, previous);
  return customer;
}
