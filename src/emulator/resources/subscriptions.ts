import type Stripe from 'stripe';
import type { EmulatorContext } from '../core/context';
import { invalidRequest, missingParam } from '../core/errors';
import { filterCreated, paginate } from '../core/list';
import type { Params } from '../core/params';
import type { ApiRequest, Router } from '../core/router';
import {
  cancelSubscription,
  createSubscription,
  registerCustomerDeletion,
  registerSubscriptionListeners,
  updateSubscription,
  type PaymentBehavior,
  type SaveDefaultPaymentMethod,
  type SubscriptionItemInput,
} from '../billing/subscriptions';
import { MAX_TRIAL_DAYS, requestedTrialEnd } from '../billing/trials';
import { idOf } from '../billing/util';
import { createPrice, type PriceObject } from './prices';

const PAYMENT_BEHAVIORS = ['allow_incomplete', 'default_incomplete', 'error_if_incomplete', 'pending_if_incomplete'] as const;
const LIST_STATUSES = [
  'active',
  'all',
  'canceled',
  'ended',
  'incomplete',
  'incomplete_expired',
  'past_due',
  'paused',
  'trialing',
  'unpaid',
] as const;
const FEEDBACK = [
  'customer_service',
  'low_quality',
  'missing_features',
  'other',
  'switched_service',
  'too_complex',
  'too_expensive',
  'unused',
] as const;

/** Parameters whose behaviour the emulator does not implement: refused rather than silently ignored. */
const NOT_IMPLEMENTED: Record<string, string> = {
  trial_from_plan: 'trial_from_plan (use trial_period_days or trial_end)',
  trial_settings: 'trial_settings (a trial that ends without a payment method creates an invoice)',
  billing_cycle_anchor: 'billing cycle anchors',
  billing_cycle_anchor_config: 'billing cycle anchors',
  backdate_start_date: 'backdated subscriptions',
  cancel_at: 'cancel_at (use cancel_at_period_end)',
  coupon: 'coupons',
  discounts: 'discounts',
  promotion_code: 'promotion codes',
  add_invoice_items: 'extra invoice items',
};

export function register(router: Router, ctx: EmulatorContext): void {
  ctx.registerType({ object: 'subscription', prefix: 'sub', name: 'subscription' });
  ctx.registerType({ object: 'subscription_item', prefix: 'si', name: 'subscription_item' });
  registerSubscriptionListeners(ctx);
  registerCustomerDeletion(ctx);

  // `customer.subscriptions` is not part of a customer unless expanded (current API versions).
  ctx.registerExpandable('customer', 'subscriptions', (owner) => {
    const id = owner['id'] as string;
    const data = ctx.store
      .newest<Stripe.Subscription>('subscription')
      .filter((s) => s.customer === id && s.status !== 'canceled' && s.status !== 'incomplete_expired');
    return { object: 'list', data, has_more: false, url: `/v1/customers/${id}/subscriptions` };
  });

  router.post('/v1/subscriptions', (req) => create(req));
  router.get('/v1/subscriptions/:id', (req) => ctx.retrieve<Stripe.Subscription>('subscription', req.pathParams['id']));
  router.post('/v1/subscriptions/:id', (req) => update(req));
  router.delete('/v1/subscriptions/:id', (req) => {
    const sub = ctx.retrieve<Stripe.Subscription>('subscription', req.pathParams['id']);
    return cancelSubscription(ctx, sub, cancellationDetails(req.params) ?? {});
  });
  router.get('/v1/subscriptions', (req) => list(req));

  router.get('/v1/subscription_items', (req) => {
    const sub = ctx.retrieve<Stripe.Subscription>('subscription', req.params.reqStr('subscription'), 'subscription');
    return { object: 'list', data: sub.items.data, has_more: false, url: '/v1/subscription_items' };
  });
  router.get('/v1/subscription_items/:id', (req) => {
    const id = req.pathParams['id'] as string;
    for (const sub of ctx.store.all<Stripe.Subscription>('subscription')) {
      const item = sub.items.data.find((i) => i.id === id);
      if (item) return item;
    }
    return ctx.retrieve('subscription_item', id);
  });
}

function refuseNotImplemented(p: Params): void {
  for (const [param, what] of Object.entries(NOT_IMPLEMENTED)) {
    if (p.has(param) && !p.isUnset(param)) throw invalidRequest(`The Stripe emulator does not implement ${what}.`, { param });
  }
}

/** `items[i][price]` (or `plan`), or `items[i][price_data]` creating a recurring price of an existing product. */
export function subscriptionItems(ctx: EmulatorContext, p: Params): SubscriptionItemInput[] {
  const items = p.objList('items');
  if (!items || items.length === 0) throw missingParam('items');
  return items.map((ip, i) => {
    const ref = ip.str('price') ?? ip.str('plan');
    const data = ip.obj('price_data');
    if (ref && data)
      throw invalidRequest('You may only specify one of these parameters: price, price_data.', {
        param: ip.name('price_data'),
        code: 'parameters_exclusive',
      });
    let price: PriceObject;
    if (ref) price = ctx.retrieve<PriceObject>('price', ref, ip.name('price'));
    else if (data) {
      if (!data.obj('recurring')) throw missingParam(data.name('recurring'));
      price = createPrice(ctx, data);
    } else throw missingParam(`items[${i}][price]`);
    return { price, quantity: ip.int('quantity', { min: 1 }) ?? 1, metadata: ip.metadata() };
  });
}

function create(req: ApiRequest): Stripe.Subscription {
  const { ctx, params: p } = req;
  refuseNotImplemented(p);
  const customer = p.reqStr('customer');
  const collection = p.enum('collection_method', ['charge_automatically', 'send_invoice']);
  if (collection === 'send_invoice')
    throw invalidRequest('The Stripe emulator does not implement collection_method=send_invoice.', { param: 'collection_method' });
  const behavior = p.enum('payment_behavior', PAYMENT_BEHAVIORS);
  if (behavior === 'pending_if_incomplete')
    throw invalidRequest('The Stripe emulator does not implement payment_behavior=pending_if_incomplete.', { param: 'payment_behavior' });
  ctx.retrieve<Stripe.Customer>('customer', customer, 'customer');
  const trial = { trial_end: trialEndParam(p), trial_period_days: p.int('trial_period_days', { min: 0, max: MAX_TRIAL_DAYS }) };
  return createSubscription(ctx, {
    customer,
    items: subscriptionItems(ctx, p),
    default_payment_method: p.str('default_payment_method') ?? null,
    cancel_at_period_end: p.bool('cancel_at_period_end'),
    payment_behavior: behavior as PaymentBehavior | undefined,
    save_default_payment_method: saveDefault(p),
    metadata: p.metadata(),
    description: p.str('description', { max: 500 }) ?? null,
    off_session: p.bool('off_session'),
    origin: req.origin,
    trial_end: requestedTrialEnd(ctx.now(customer), trial, { end: 'trial_end', days: 'trial_period_days' }),
  });
}

/** `trial_end`: a unix time, or `now`. */
function trialEndParam(p: Params): number | 'now' | undefined {
  return p.str('trial_end') === 'now' ? 'now' : p.int('trial_end', { min: 0 });
}

/** `payment_settings[save_default_payment_method]`; the other payment settings are accepted and ignored. */
function saveDefault(p: Params): SaveDefaultPaymentMethod | undefined {
  return p.obj('payment_settings')?.enum('save_default_payment_method', ['off', 'on_subscription']);
}

function cancellationDetails(
  p: Params,
): { comment?: string | null; feedback?: Stripe.Subscription.CancellationDetails.Feedback | null } | undefined {
  const d = p.obj('cancellation_details');
  if (!d) return undefined;
  return {
    comment: d.has('comment') ? (d.nullableStr('comment', { max: 5000 }) ?? null) : undefined,
    feedback: d.has('feedback') ? (d.isUnset('feedback') ? null : (d.enum('feedback', FEEDBACK) ?? null)) : undefined,
  };
}

function update(req: ApiRequest): Stripe.Subscription {
  const { ctx, params: p } = req;
  const sub = ctx.retrieve<Stripe.Subscription>('subscription', req.pathParams['id']);
  refuseNotImplemented(p);
  if (p.has('items'))
    throw invalidRequest('The Stripe emulator does not implement changing the items of a subscription; cancel it and create another.', {
      param: 'items',
    });
  return updateSubscription(ctx, sub, {
    metadata: p.has('metadata') ? p.metadata(sub.metadata) : undefined,
    cancel_at_period_end: p.bool('cancel_at_period_end'),
    default_payment_method: p.has('default_payment_method') ? (p.nullableStr('default_payment_method') ?? null) : undefined,
    description: p.has('description') ? (p.nullableStr('description', { max: 500 }) ?? null) : undefined,
    save_default_payment_method: saveDefault(p),
    cancellation_details: cancellationDetails(p),
    trial_end: trialEndParam(p),
  });
}

function list(req: ApiRequest): Stripe.ApiList<Stripe.Subscription> {
  const { ctx, params: p } = req;
  let items = ctx.store.newest<Stripe.Subscription>('subscription');
  const customer = p.str('customer');
  if (customer !== undefined) items = items.filter((s) => idOf(s.customer) === customer);
  const price = p.str('price') ?? p.str('plan');
  if (price !== undefined) items = items.filter((s) => s.items.data.some((i) => i.price.id === price));
  const clock = p.str('test_clock');
  if (clock !== undefined) items = items.filter((s) => idOf(s.test_clock) === clock);
  const status = p.enum('status', LIST_STATUSES);
  if (status === undefined) items = items.filter((s) => s.status !== 'canceled');
  else if (status === 'ended') items = items.filter((s) => s.status === 'canceled' || s.status === 'incomplete_expired');
  else if (status !== 'all') items = items.filter((s) => s.status === status);
  const collection = p.enum('collection_method', ['charge_automatically', 'send_invoice']);
  if (collection !== undefined) items = items.filter((s) => s.collection_method === collection);
  return paginate(req, filterCreated(p, items));
}
