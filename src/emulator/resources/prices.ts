import type Stripe from 'stripe';
import { clone, diff, type EmulatorContext } from '../core/context';
import { invalidRequest } from '../core/errors';
import { filterCreated, paginate } from '../core/list';
import type { Params } from '../core/params';
import type { ApiRequest, Router } from '../core/router';
import { MAXIMUM_AMOUNT } from '../core/currency';
import { validateCurrency } from '../payments/intents';

/**
 * A Price as it travels on the wire: `unit_amount_decimal` is a decimal string (the SDK turns it into
 * its Decimal type on the way in). Everything else is the SDK's `Stripe.Price`.
 */
export type PriceObject = Omit<Stripe.Price, 'unit_amount_decimal'> & { unit_amount_decimal: string | null };

export const INTERVALS = ['day', 'week', 'month', 'year'] as const;
/** Stripe's longest billing period: three years. */
const MAX_INTERVAL_COUNT: Record<(typeof INTERVALS)[number], number> = { day: 1095, week: 156, month: 36, year: 3 };

export function register(router: Router, ctx: EmulatorContext): void {
  ctx.registerType({ object: 'price', prefix: 'price', name: 'price' });

  router.post('/v1/prices', (req) => createPrice(ctx, req.params));
  router.get('/v1/prices/:id', (req) => ctx.retrieve<PriceObject>('price', req.pathParams['id']));
  router.post('/v1/prices/:id', (req) => updatePrice(req));
  router.get('/v1/prices', (req) => {
    const p = req.params;
    let items = ctx.store.newest<PriceObject>('price');
    const active = p.bool('active');
    if (active !== undefined) items = items.filter((x) => x.active === active);
    const product = p.str('product');
    if (product !== undefined) items = items.filter((x) => x.product === product);
    const type = p.enum('type', ['one_time', 'recurring']);
    if (type !== undefined) items = items.filter((x) => x.type === type);
    const currency = p.str('currency');
    if (currency !== undefined) items = items.filter((x) => x.currency === currency.toLowerCase());
    const keys = p.strList('lookup_keys');
    if (keys) {
      if (keys.length > 10) throw invalidRequest('You may only specify up to 10 lookup keys.', { param: 'lookup_keys' });
      items = items.filter((x) => x.lookup_key !== null && keys.includes(x.lookup_key));
    }
    const recurring = p.obj('recurring');
    if (recurring) {
      const interval = recurring.enum('interval', INTERVALS);
      if (interval) items = items.filter((x) => x.recurring?.interval === interval);
    }
    return paginate(req, filterCreated(p, items));
  });
}

/**
 * Creates a price from request-shaped params (also used for `product_data`/`default_price_data`
 * and inline `price_data` elsewhere). `defaults.product` fixes the product.
 */
export function createPrice(ctx: EmulatorContext, p: Params, defaults: { product?: string } = {}): PriceObject {
  const currency = validateCurrency(p.reqStr('currency'), p.name('currency'));
  const scheme = p.enum('billing_scheme', ['per_unit', 'tiered']) ?? 'per_unit';
  if (scheme === 'tiered')
    throw invalidRequest('The Stripe emulator does not implement tiered prices (billing_scheme=tiered).', {
      param: p.name('billing_scheme'),
    });
  if (p.obj('custom_unit_amount'))
    throw invalidRequest('The Stripe emulator does not implement customer-chosen amounts (custom_unit_amount).', {
      param: p.name('custom_unit_amount'),
    });

  let unitAmount = p.int('unit_amount', { min: 0, max: MAXIMUM_AMOUNT });
  let unitAmountDecimal: string | null = null;
  const dec = p.str('unit_amount_decimal');
  if (unitAmount !== undefined && dec !== undefined) {
    throw invalidRequest('You may only specify one of these parameters: unit_amount, unit_amount_decimal.', {
      param: p.name('unit_amount_decimal'),
      code: 'parameters_exclusive',
    });
  }
  if (dec !== undefined) {
    if (!/^\d+(\.\d{1,12})?$/.test(dec))
      throw invalidRequest(`Invalid decimal: ${dec}`, { param: p.name('unit_amount_decimal'), code: 'parameter_invalid' });
    unitAmountDecimal = dec.replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
    unitAmount = /^\d+$/.test(unitAmountDecimal) ? Number(unitAmountDecimal) : undefined;
  }
  if (unitAmount === undefined && unitAmountDecimal === null) {
    throw invalidRequest('Missing required param: unit_amount.', { param: p.name('unit_amount'), code: 'parameter_missing' });
  }
  if (unitAmountDecimal === null && unitAmount !== undefined) unitAmountDecimal = String(unitAmount);

  let productId = defaults.product;
  if (!productId) {
    const ref = p.str('product');
    const data = p.obj('product_data');
    if (ref && data)
      throw invalidRequest('You may only specify one of these parameters: product, product_data.', {
        param: p.name('product_data'),
        code: 'parameters_exclusive',
      });
    if (ref) productId = ctx.retrieve<Stripe.Product>('product', ref, p.name('product')).id;
    else if (data) productId = createInlineProduct(ctx, data).id;
    else
      throw invalidRequest('You must specify either `product` or `product_data` when creating a price.', {
        param: p.name('product'),
        code: 'parameter_missing',
      });
  }

  let recurring: Stripe.Price.Recurring | null = null;
  const r = p.obj('recurring');
  if (r) {
    const interval = r.enum('interval', INTERVALS, { required: true }) as (typeof INTERVALS)[number];
    const count = r.int('interval_count', { min: 1 }) ?? 1;
    if (count > MAX_INTERVAL_COUNT[interval]) {
      throw invalidRequest(
        `Invalid ${r.name('interval_count')}: the maximum billing period is 3 years (${MAX_INTERVAL_COUNT[interval]} ${interval}s).`,
        { param: r.name('interval_count') },
      );
    }
    const usage = r.enum('usage_type', ['licensed', 'metered']) ?? 'licensed';
    if (usage === 'metered')
      throw invalidRequest('The Stripe emulator does not implement metered prices (recurring[usage_type]=metered).', {
        param: r.name('usage_type'),
      });
    recurring = {
      interval,
      interval_count: count,
      meter: null,
      trial_period_days: r.int('trial_period_days', { min: 0 }) ?? null,
      usage_type: usage,
    };
  }

  const lookupKey = p.str('lookup_key', { max: 200 }) ?? null;
  const transfer = p.bool('transfer_lookup_key') ?? false;
  const price: PriceObject = {
    id: ctx.newId('price'),
    object: 'price',
    active: p.bool('active') ?? true,
    billing_scheme: 'per_unit',
    created: ctx.now(),
    currency,
    custom_unit_amount: null,
    livemode: false,
    lookup_key: null,
    metadata: p.metadata() ?? {},
    nickname: p.str('nickname') ?? null,
    product: productId,
    recurring,
    tax_behavior: p.enum('tax_behavior', ['exclusive', 'inclusive', 'unspecified']) ?? 'unspecified',
    tiers_mode: null,
    transform_quantity: null,
    type: recurring ? 'recurring' : 'one_time',
    unit_amount: unitAmount ?? null,
    unit_amount_decimal: unitAmountDecimal,
  };
  const holder = lookupKey ? lookupKeyHolder(ctx, lookupKey, null, transfer, p.name('lookup_key')) : undefined;
  ctx.store.insert(price);
  if (holder) releaseLookupKey(ctx, holder);
  price.lookup_key = lookupKey;
  ctx.emit('price.created', asStripePrice(price));
  return price;
}

function createInlineProduct(ctx: EmulatorContext, data: Params): Stripe.Product {
  const now = ctx.now();
  const product: Stripe.Product = {
    id: data.str('id') ?? ctx.newId('prod'),
    object: 'product',
    active: data.bool('active') ?? true,
    created: now,
    default_price: null,
    description: null,
    images: [],
    livemode: false,
    marketing_features: [],
    metadata: data.metadata() ?? {},
    name: data.reqStr('name'),
    package_dimensions: null,
    shippable: null,
    statement_descriptor: data.str('statement_descriptor', { max: 22 }) ?? null,
    tax_code: data.str('tax_code') ?? null,
    tax_details: null,
    type: 'service',
    unit_label: data.str('unit_label') ?? null,
    updated: now,
    url: null,
  };
  if (ctx.store.has(product.id))
    throw invalidRequest('Product already exists.', { param: data.name('id'), code: 'resource_already_exists' });
  ctx.store.insert(product);
  ctx.emit('product.created', product);
  return product;
}

/** The price holding a lookup key, refusing unless `transfer_lookup_key` is set. */
function lookupKeyHolder(
  ctx: EmulatorContext,
  key: string,
  self: string | null,
  transfer: boolean,
  param: string,
): PriceObject | undefined {
  const holder = ctx.store.all<PriceObject>('price').find((x) => x.lookup_key === key && x.id !== self);
  if (holder && !transfer) throw invalidRequest(`A price (\`${holder.id}\`) already uses that lookup key.`, { param });
  return holder;
}

function releaseLookupKey(ctx: EmulatorContext, holder: PriceObject): void {
  const previous = { lookup_key: holder.lookup_key };
  holder.lookup_key = null;
  ctx.emit('price.updated', asStripePrice(holder), previous);
}

function updatePrice(req: ApiRequest): PriceObject {
  const { ctx, params: p } = req;
  const price = ctx.retrieve<PriceObject>('price', req.pathParams['id']);
  const before = clone(price);
  const active = p.bool('active');
  if (active !== undefined) price.active = active;
  if (p.has('nickname')) price.nickname = p.nullableStr('nickname') ?? null;
  const tax = p.enum('tax_behavior', ['exclusive', 'inclusive', 'unspecified']);
  if (tax !== undefined) price.tax_behavior = tax;
  price.metadata = p.metadata(price.metadata) ?? {};
  if (p.has('lookup_key')) {
    const key = p.nullableStr('lookup_key', { max: 200 }) ?? null;
    if (key !== null && key !== price.lookup_key) {
      const holder = lookupKeyHolder(ctx, key, price.id, p.bool('transfer_lookup_key') ?? false, 'lookup_key');
      if (holder) releaseLookupKey(ctx, holder);
    }
    price.lookup_key = key;
  }
  const previous = diff(before, price);
  if (previous) ctx.emit('price.updated', asStripePrice(price), previous);
  return price;
}

/** The stored price seen through the SDK's type (only `unit_amount_decimal` differs: a string on the wire). */
export function asStripePrice(price: PriceObject): Stripe.Price {
  return price as unknown as Stripe.Price;
}
