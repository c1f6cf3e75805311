import type Stripe from 'stripe';
import { clone, type EmulatorContext } from '../core/context';
import { invalidRequest, missingParam } from '../core/errors';
import { paginate } from '../core/list';
import type { Params } from '../core/params';
import type { ApiRequest, Router } from '../core/router';
import {
  blankConfiguration,
  CANCELLATION_OPTIONS,
  createPortalSession,
  defaultConfiguration,
  type PortalConfiguration,
  type PortalSession,
} from '../billing/portal';
import { registerPortalPage } from '../billing/portalPage';
import type { PriceObject } from './prices';

type Features = PortalConfiguration['features'];

const PRORATION = ['always_invoice', 'create_prorations', 'none'] as const;
const CONDITIONS = ['decreasing_item_amount', 'shortening_interval'] as const;
/** Stripe's limit on the products a configuration offers plan changes between. */
const MAX_PRODUCTS = 10;

/** Session parameters whose behaviour the emulator does not implement: refused rather than ignored. */
const NOT_IMPLEMENTED: Record<string, string> = {
  flow_data: 'portal flows (deep links); the session opens on the portal homepage',
  after_expiration: 'session recovery after expiration',
  on_behalf_of: 'Connect (on_behalf_of)',
  customer_account: 'customer accounts (use customer)',
};

export function register(router: Router, ctx: EmulatorContext): void {
  ctx.registerType({ object: 'billing_portal.configuration', prefix: 'bpc', name: 'configuration' });
  ctx.registerType({ object: 'billing_portal.session', prefix: 'bps', name: 'session' });

  router.post('/v1/billing_portal/configurations', (req) => createConfiguration(req));
  router.get('/v1/billing_portal/configurations/:id', (req) => {
    defaultConfiguration(ctx);
    return ctx.retrieve<PortalConfiguration>('billing_portal.configuration', req.pathParams['id']);
  });
  router.post('/v1/billing_portal/configurations/:id', (req) => updateConfiguration(req));
  router.get('/v1/billing_portal/configurations', (req) => {
    defaultConfiguration(ctx);
    let items = ctx.store.newest<PortalConfiguration>('billing_portal.configuration');
    const active = req.params.bool('active');
    if (active !== undefined) items = items.filter((c) => c.active === active);
    const isDefault = req.params.bool('is_default');
    if (isDefault !== undefined) items = items.filter((c) => c.is_default === isDefault);
    return paginate(req, items);
  });
  router.post('/v1/billing_portal/sessions', (req) => createSession(req));
  registerPortalPage(router, ctx);
}

function createConfiguration(req: ApiRequest): PortalConfiguration {
  const { ctx, params: p } = req;
  const features = p.obj('features');
  if (!features) throw missingParam('features');
  const config = blankConfiguration(ctx);
  applyCommon(p, config);
  applyFeatures(ctx, features, config.features, true);
  checkFeatures(config.features);
  return ctx.store.insert(config);
}

function updateConfiguration(req: ApiRequest): PortalConfiguration {
  const { ctx, params: p } = req;
  defaultConfiguration(ctx);
  const stored = ctx.retrieve<PortalConfiguration>('billing_portal.configuration', req.pathParams['id']);
  // Checked on a copy, so a refused update changes nothing.
  const config = clone(stored);
  const active = p.bool('active');
  if (active === false && config.is_default) throw invalidRequest('The default configuration cannot be deactivated.', { param: 'active' });
  if (active !== undefined) config.active = active;
  applyCommon(p, config);
  const features = p.obj('features');
  if (features) applyFeatures(ctx, features, config.features, false);
  checkFeatures(config.features);
  config.updated = ctx.now();
  return ctx.store.replace(config);
}

/** business_profile, default_return_url, login_page, metadata and name. */
function applyCommon(p: Params, config: PortalConfiguration): void {
  const profile = p.obj('business_profile');
  if (profile) {
    if (profile.has('headline')) config.business_profile.headline = profile.nullableStr('headline', { max: 60 }) ?? null;
    if (profile.has('privacy_policy_url'))
      config.business_profile.privacy_policy_url = profile.nullableStr('privacy_policy_url', { max: 5000 }) ?? null;
    if (profile.has('terms_of_service_url'))
      config.business_profile.terms_of_service_url = profile.nullableStr('terms_of_service_url', { max: 5000 }) ?? null;
  }
  if (p.has('default_return_url')) config.default_return_url = p.nullableStr('default_return_url', { max: 5000 }) ?? null;
  if (p.obj('login_page')?.bool('enabled'))
    throw invalidRequest('The Stripe emulator does not implement the portal login page.', { param: 'login_page[enabled]' });
  if (p.has('metadata')) config.metadata = p.metadata(config.metadata ?? {}) ?? {};
  if (p.has('name')) config.name = p.nullableStr('name', { max: 256 }) ?? null;
}

/** `enabled` of a feature hash: required when the configuration is created, optional on update. */
function enabled(f: Params, creating: boolean, current: boolean): boolean {
  const v = f.bool('enabled');
  if (v === undefined && creating) throw missingParam(f.name('enabled'));
  return v ?? current;
}

function refuse(param: string, what: string): never {
  throw invalidRequest(`The Stripe emulator does not implement ${what} in the customer portal.`, { param });
}

function applyFeatures(ctx: EmulatorContext, f: Params, out: Features, creating: boolean): void {
  const customerUpdate = f.obj('customer_update');
  if (customerUpdate) {
    if (enabled(customerUpdate, creating, out.customer_update.enabled)) refuse(customerUpdate.name('enabled'), 'customer detail updates');
    out.customer_update.enabled = false;
  }
  const history = f.obj('invoice_history');
  if (history) out.invoice_history.enabled = enabled(history, true, out.invoice_history.enabled);
  const pmUpdate = f.obj('payment_method_update');
  if (pmUpdate) {
    out.payment_method_update.enabled = enabled(pmUpdate, true, out.payment_method_update.enabled);
    if (pmUpdate.str('payment_method_configuration'))
      refuse(pmUpdate.name('payment_method_configuration'), 'payment method configurations');
  }
  const pause = f.obj('subscription_pause');
  if (pause?.bool('enabled')) refuse(pause.name('enabled'), 'pausing subscriptions');
  const cancel = f.obj('subscription_cancel');
  if (cancel) applyCancel(cancel, out.subscription_cancel, creating);
  const update = f.obj('subscription_update');
  if (update) applyUpdate(ctx, update, out.subscription_update, creating);
}

function applyCancel(c: Params, out: Features['subscription_cancel'], creating: boolean): void {
  out.enabled = enabled(c, creating, out.enabled);
  out.mode = c.enum('mode', ['at_period_end', 'immediately']) ?? out.mode;
  out.proration_behavior = c.enum('proration_behavior', PRORATION) ?? out.proration_behavior;
  if (out.mode === 'immediately' && out.proration_behavior !== 'none')
    refuse(c.name('proration_behavior'), 'prorations on immediate cancellation (use none)');
  const reason = c.obj('cancellation_reason');
  if (reason) {
    out.cancellation_reason.enabled = enabled(reason, true, out.cancellation_reason.enabled);
    const options = reason.list('options') === undefined ? undefined : (reason.strList('options') ?? []);
    if (options) {
      const unknown = options.find((o) => !(CANCELLATION_OPTIONS as string[]).includes(o));
      if (unknown !== undefined) throw invalidRequest(`Invalid cancellation reason option: ${unknown}`, { param: reason.name('options') });
      out.cancellation_reason.options = options;
    }
    if (out.cancellation_reason.enabled && out.cancellation_reason.options.length === 0) throw missingParam(reason.name('options'));
  }
}

function applyUpdate(ctx: EmulatorContext, u: Params, out: Features['subscription_update'], creating: boolean): void {
  out.enabled = enabled(u, creating, out.enabled);
  const allowed = u.list('default_allowed_updates') === undefined ? undefined : (u.strList('default_allowed_updates') ?? []);
  if (allowed) {
    for (const a of allowed) {
      if (a === 'quantity' || a === 'promotion_code') refuse(u.name('default_allowed_updates'), `${a} updates`);
      if (a !== 'price') throw invalidRequest(`Invalid default_allowed_updates value: ${a}`, { param: u.name('default_allowed_updates') });
    }
    out.default_allowed_updates = allowed;
  }
  if (u.has('products')) out.products = u.isUnset('products') ? [] : products(ctx, u);
  out.proration_behavior = u.enum('proration_behavior', PRORATION) ?? out.proration_behavior;
  const schedule = u.obj('schedule_at_period_end');
  if (schedule !== undefined) {
    const conditions = schedule?.has('conditions') && !schedule.isUnset('conditions') ? (schedule.objList('conditions') ?? []) : [];
    out.schedule_at_period_end = {
      conditions: conditions.map((c) => ({ type: c.enum('type', CONDITIONS, { required: true }) as string })),
    };
  }
  if (u.enum('billing_cycle_anchor', ['now', 'unchanged']) === 'now')
    refuse(u.name('billing_cycle_anchor'), 'resetting the billing cycle anchor on plan changes');
  out.trial_update_behavior = u.enum('trial_update_behavior', ['continue_trial', 'end_trial']) ?? out.trial_update_behavior;
}

/** `products[i][product]` with `products[i][prices][]`: recurring prices of that product. */
function products(ctx: EmulatorContext, u: Params): Stripe.BillingPortal.Configuration.Features.SubscriptionUpdate.Product[] {
  const list = u.objList('products') ?? [];
  if (list.length > MAX_PRODUCTS)
    throw invalidRequest(`You can offer plan changes between at most ${MAX_PRODUCTS} products.`, { param: u.name('products') });
  return list.map((entry) => {
    const product = ctx.retrieve<Stripe.Product>('product', entry.reqStr('product'), entry.name('product'));
    const priceIds = entry.strList('prices') ?? [];
    if (priceIds.length === 0) throw missingParam(entry.name('prices'));
    for (const id of priceIds) {
      const price = ctx.retrieve<PriceObject>('price', id, entry.name('prices'));
      if (price.product !== product.id)
        throw invalidRequest(`The price ${price.id} does not belong to the product ${product.id}.`, { param: entry.name('prices') });
      if (!price.recurring)
        throw invalidRequest(`The price ${price.id} is not recurring: only recurring prices can be offered.`, {
          param: entry.name('prices'),
        });
    }
    if (entry.obj('adjustable_quantity')?.bool('enabled')) refuse(entry.name('adjustable_quantity'), 'adjustable quantities');
    return { adjustable_quantity: { enabled: false, maximum: null, minimum: 1 }, prices: priceIds, product: product.id };
  });
}

function checkFeatures(features: Features): void {
  const update = features.subscription_update;
  if (update.enabled && (update.products ?? []).length === 0)
    throw invalidRequest('Subscription updates need at least one product to offer: set features[subscription_update][products].', {
      param: 'features[subscription_update][products]',
    });
  if (update.enabled && update.default_allowed_updates.length === 0)
    throw invalidRequest('Subscription updates need default_allowed_updates (price).', {
      param: 'features[subscription_update][default_allowed_updates]',
    });
}

function createSession(req: ApiRequest): PortalSession {
  const { ctx, params: p } = req;
  for (const [param, what] of Object.entries(NOT_IMPLEMENTED)) {
    if (p.has(param) && !p.isUnset(param)) throw invalidRequest(`The Stripe emulator does not implement ${what}.`, { param });
  }
  return createPortalSession(ctx, {
    customer: p.reqStr('customer'),
    configuration: p.str('configuration') ?? null,
    return_url: p.str('return_url', { max: 5000 }) ?? null,
    locale: (p.str('locale', { max: 10 }) as Stripe.BillingPortal.Session.Locale | undefined) ?? null,
    origin: req.origin,
  });
}
