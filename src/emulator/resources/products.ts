import type Stripe from 'stripe';
import { clone, diff, type EmulatorContext } from '../core/context';
import { invalidRequest } from '../core/errors';
import { filterCreated, paginate } from '../core/list';
import type { ApiRequest, Router } from '../core/router';
import { createPrice } from './prices';
import { set } from './shared';

export function register(router: Router, ctx: EmulatorContext): void {
  ctx.registerType({ object: 'product', prefix: 'prod', name: 'product' });

  router.post('/v1/products', (req) => createProduct(req));
  router.get('/v1/products/:id', (req) => ctx.retrieve<Stripe.Product>('product', req.pathParams['id']));
  router.post('/v1/products/:id', (req) => updateProduct(req));
  router.delete('/v1/products/:id', (req) => {
    const product = ctx.retrieve<Stripe.Product>('product', req.pathParams['id']);
    if (ctx.store.all<Stripe.Price>('price').some((pr) => pr.product === product.id)) {
      throw invalidRequest('This product cannot be deleted because it has one or more user-created prices.', { param: 'id' });
    }
    const snapshot = clone(product);
    const stub = ctx.store.remove(product.id);
    ctx.emit('product.deleted', snapshot);
    return stub;
  });
  router.get('/v1/products', (req) => {
    const p = req.params;
    let items = ctx.store.newest<Stripe.Product>('product');
    const active = p.bool('active');
    if (active !== undefined) items = items.filter((x) => x.active === active);
    const ids = p.strList('ids');
    if (ids) items = items.filter((x) => ids.includes(x.id));
    const shippable = p.bool('shippable');
    if (shippable !== undefined) items = items.filter((x) => x.shippable === shippable);
    const url = p.str('url');
    if (url !== undefined) items = items.filter((x) => x.url === url);
    return paginate(req, filterCreated(p, items));
  });
}

function createProduct(req: ApiRequest): Stripe.Product {
  const { ctx, params: p } = req;
  const customId = p.str('id');
  if (customId && (ctx.store.has(customId) || ctx.store.deleted(customId))) {
    throw invalidRequest('Product already exists.', { param: 'id', code: 'resource_already_exists' });
  }
  const now = ctx.now();
  const product: Stripe.Product = {
    id: customId ?? ctx.newId('prod'),
    object: 'product',
    active: p.bool('active') ?? true,
    created: now,
    default_price: null,
    description: p.str('description') ?? null,
    images: p.strList('images') ?? [],
    livemode: false,
    marketing_features: (p.objList('marketing_features') ?? []).map((f) => ({ name: f.reqStr('name') })),
    metadata: p.metadata() ?? {},
    name: p.reqStr('name'),
    package_dimensions: null,
    shippable: p.bool('shippable') ?? null,
    statement_descriptor: p.str('statement_descriptor', { max: 22 }) ?? null,
    tax_code: p.str('tax_code') ?? null,
    tax_details: null,
    type: 'service',
    unit_label: p.str('unit_label') ?? null,
    updated: now,
    url: p.str('url') ?? null,
  };
  const dpd = p.obj('default_price_data');
  ctx.store.insert(product);
  ctx.emit('product.created', product);
  if (dpd) {
    const price = createPrice(ctx, dpd, { product: product.id });
    product.default_price = price.id;
    ctx.emit('product.updated', product, { default_price: null });
  }
  return product;
}

function updateProduct(req: ApiRequest): Stripe.Product {
  const { ctx, params: p } = req;
  const product = ctx.retrieve<Stripe.Product>('product', req.pathParams['id']);
  const before = clone(product);
  const name = p.str('name');
  if (p.isUnset('name')) p.reqStr('name');
  set(product, 'name', name);
  set(product, 'active', p.bool('active'));
  set(product, 'description', p.nullableStr('description'));
  set(product, 'images', p.strList('images'));
  set(product, 'url', p.nullableStr('url'));
  set(product, 'shippable', p.bool('shippable'));
  set(product, 'statement_descriptor', p.nullableStr('statement_descriptor', { max: 22 }));
  set(product, 'unit_label', p.nullableStr('unit_label'));
  set(product, 'tax_code', p.nullableStr('tax_code'));
  product.metadata = p.metadata(product.metadata) ?? {};
  if (p.has('default_price')) {
    const ref = p.nullableStr('default_price');
    if (ref) {
      const price = ctx.retrieve<Stripe.Price>('price', ref, 'default_price');
      if (price.product !== product.id)
        throw invalidRequest(`The price ${price.id} does not belong to the product ${product.id}.`, { param: 'default_price' });
      if (!price.active)
        throw invalidRequest(`The price ${price.id} is not active and cannot be a product's default price.`, { param: 'default_price' });
    }
    product.default_price = ref ?? null;
  }
  const previous = diff(before, product);
  if (previous) {
    product.updated = ctx.now();
    ctx.emit('product.updated', product, previous);
  }
  return product;
}
