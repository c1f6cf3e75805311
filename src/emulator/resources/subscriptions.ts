import type Stripe from 'stripe';
import { clone, type EmulatorContext } from '../core/context';
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
import { idOf } from '../billing/util';
import { changeSubscriptionPrice, registerPendingUpdateListeners, type PriceChangeInput } from '../billing/proration';
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
  trial_period_days: 'trials',
  trial_end: 'trials',
  trial_from_plan: 'trials',
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
  registerPendingUpdateListeners(ctx);
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
  });
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

/** What may accompany `payment_behavior=pending_if_incomplete` (Stripe's pending updates take only these). */
const PENDING_UPDATE_PARAMS = new Set(['expand', 'payment_behavior', 'proration_behavior', 'proration_date', 'items', 'off_session']);

/**
 * The price change an update asks for: `items[0][id]` (the item to change) with `items[0][price]` and/or
 * `items[0][quantity]`, and `proration_behavior`, `proration_date`, `payment_behavior`. Adding or deleting
 * items is not implemented.
 */
export function priceChange(req: ApiRequest, sub: Stripe.Subscription): PriceChangeInput | null {
  const { ctx, params: p } = req;
  const items = p.objList('items');
  if (!items || items.length === 0) return null;
  if (items.length > 1 || !items[0]?.has('id') || items[0].has('deleted'))
    throw invalidRequest(
      'The Stripe emulator implements changing the price or quantity of one existing item (items[0][id]); it does not add or delete items.',
      { param: 'items' },
    );
  const ip = items[0];
  const itemId = ip.reqStr('id');
  const item = sub.items.data.find((i) => i.id === itemId);
  if (!item)
    throw invalidRequest(`Subscription item ${itemId} does not belong to subscription ${sub.id}.`, {
      param: ip.name('id'),
      code: 'resource_missing',
    });
  const ref = ip.str('price') ?? ip.str('plan');
  const price = ref ? ctx.retrieve<PriceObject>('price', ref, ip.name('price')) : (item.price as unknown as PriceObject);
  const behavior = p.enum('payment_behavior', PAYMENT_BEHAVIORS);
  if (behavior === 'pending_if_incomplete') {
    const extra = p.keys().find((k) => !PENDING_UPDATE_PARAMS.has(k));
    if (extra)
      throw invalidRequest(
        `When using payment_behavior=pending_if_incomplete you can only pass the parameters supported by pending updates; \`${extra}\` is not one of them.`,
        { param: extra },
      );
  }
  return {
    item: itemId,
    price,
    quantity: ip.int('quantity', { min: 1 }),
    proration_behavior: p.enum('proration_behavior', ['create_prorations', 'always_invoice', 'none']),
    proration_date: p.int('proration_date', { min: 0 }),
    payment_behavior: behavior,
    off_session: p.bool('off_session'),
    origin: req.origin,
  };
}

function update(req: ApiRequest): Stripe.Subscription {
  const { ctx, params: p } = req;
  const sub = ctx.retrieve<Stripe.Subscription>('subscription', req.pathParams['id']);
  refuseNotImplemented(p);
  const change = priceChange(req, sub);
  if (change && sub.schedule)
    throw invalidRequest(
      `The Stripe emulator does not implement changing the items of a subscription managed by a schedule (${idOf(sub.schedule)}); release it or update its phases.`,
      { param: 'items' },
    );
  const before = clone(sub);
  if (change) changeSubscriptionPrice(ctx, sub, change, { emit: false });
  return updateSubscription(
    ctx,
    sub,
    {
      metadata: p.has('metadata') ? p.metadata(sub.metadata) : undefined,
      cancel_at_period_end: p.bool('cancel_at_period_end'),
      default_payment_method: p.has('default_payment_method') ? (p.nullableStr('default_payment_method') ?? null) : undefined,
      description: p.has('description') ? (p.nullableStr('description', { max: 500 }) ?? null) : undefined,
      save_default_payment_method: saveDefault(p),
      cancellation_details: cancellationDetails(p),
    },
    before,
  );
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
