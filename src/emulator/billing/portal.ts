import type Stripe from 'stripe';
import type { EmulatorContext } from '../core/context';
import { invalidRequest } from '../core/errors';
import { randomToken } from '../core/ids';
import type { PriceObject } from '../resources/prices';
import { HOUR, idOf } from './util';

/**
 * The customer portal: configurations (what a customer may do) and sessions (a customer's short-lived link
 * to the hosted page). As at Stripe, a new session's link must be opened within 5 minutes, and an opened one
 * lasts until an hour after the customer's last action; times follow the customer's clock, like Checkout's.
 */

export type PortalConfiguration = Stripe.BillingPortal.Configuration;
export type PortalSession = Stripe.BillingPortal.Session;

/** An unopened link expires this long after its creation. */
export const UNVISITED_TTL = 5 * 60;
/** An opened session expires this long after the customer's last action on it. */
export const IDLE_TTL = HOUR;

/** Hidden state of a portal session (store meta). */
export interface PortalSessionMeta {
  /** the secret part of the session's URL */
  token: string;
  /** the customer's last request on the page (unix seconds), undefined until the link is opened */
  lastActivity?: number;
}

const TOKENS = 'billing_portal_tokens';

export const CANCELLATION_OPTIONS: Stripe.BillingPortal.Configuration.Features.SubscriptionCancel.CancellationReason.Option[] = [
  'too_expensive',
  'missing_features',
  'switched_service',
  'unused',
  'customer_service',
  'too_complex',
  'low_quality',
  'other',
];

/** A configuration with every feature off, as `POST /v1/billing_portal/configurations` starts from. */
export function blankConfiguration(ctx: EmulatorContext): PortalConfiguration {
  const now = ctx.now();
  return {
    id: ctx.newId('bpc'),
    object: 'billing_portal.configuration',
    active: true,
    application: null,
    business_profile: { headline: null, privacy_policy_url: null, terms_of_service_url: null },
    created: now,
    default_return_url: null,
    features: {
      customer_update: { allowed_updates: [], enabled: false },
      invoice_history: { enabled: false },
      payment_method_update: { enabled: false, payment_method_configuration: null },
      subscription_cancel: {
        cancellation_reason: { enabled: false, feedback_options: null, options: [] },
        enabled: false,
        mode: 'at_period_end',
        proration_behavior: 'none',
      },
      subscription_pause: { duration: { interval_options: [], type: 'indefinite' }, enabled: false },
      subscription_update: {
        billing_cycle_anchor: null,
        default_allowed_updates: [],
        enabled: false,
        products: [],
        proration_behavior: 'create_prorations',
        schedule_at_period_end: { conditions: [] },
        trial_update_behavior: 'end_trial',
      },
    },
    is_default: false,
    livemode: false,
    login_page: { enabled: false, url: null },
    metadata: {},
    name: null,
    updated: now,
  };
}

/**
 * The account's default configuration, made on first need as the Dashboard would: invoice history, card
 * updates and cancellation at period end, no plan changes (those need the products to offer).
 */
export function defaultConfiguration(ctx: EmulatorContext): PortalConfiguration {
  const existing = ctx.store.all<PortalConfiguration>('billing_portal.configuration').find((c) => c.is_default);
  if (existing) return existing;
  const config = blankConfiguration(ctx);
  config.is_default = true;
  config.features.invoice_history.enabled = true;
  config.features.payment_method_update.enabled = true;
  config.features.subscription_cancel.enabled = true;
  return ctx.store.insert(config);
}

export interface CreatePortalSessionInput {
  customer: string;
  configuration: string | null;
  return_url: string | null;
  locale: Stripe.BillingPortal.Session.Locale | null;
  origin: string;
}

export function createPortalSession(ctx: EmulatorContext, input: CreatePortalSessionInput): PortalSession {
  const customer = ctx.retrieve<Stripe.Customer>('customer', input.customer, 'customer');
  const config = input.configuration
    ? ctx.retrieve<PortalConfiguration>('billing_portal.configuration', input.configuration, 'configuration')
    : defaultConfiguration(ctx);
  if (!config.active)
    throw invalidRequest(`The configuration ${config.id} is not active. Activate it, or use another configuration.`, {
      param: 'configuration',
    });
  const returnUrl = input.return_url ?? config.default_return_url;
  const token = randomToken(40);
  const session: PortalSession = {
    id: ctx.newId('bps'),
    object: 'billing_portal.session',
    after_expiration: null,
    configuration: config.id,
    created: ctx.now(customer.id),
    customer: customer.id,
    customer_account: null,
    flow: null,
    livemode: false,
    locale: input.locale,
    on_behalf_of: null,
    return_url: returnUrl,
    url: `${input.origin}/p/session/test_${token}`,
  };
  ctx.store.insert(session);
  ctx.store.meta<PortalSessionMeta>(session.id).token = token;
  ctx.store.bucket<string>(TOKENS).set(token, session.id);
  return session;
}

export type SessionLookup =
  | { kind: 'open'; session: PortalSession; config: PortalConfiguration; customer: Stripe.Customer }
  | { kind: 'expired'; session: PortalSession }
  | { kind: 'missing' };

/**
 * The session a page request names by its token (`test_<token>`). An open one counts the request as the
 * customer's activity, which keeps it open for another hour.
 */
export function openSession(ctx: EmulatorContext, urlToken: string): SessionLookup {
  const token = urlToken.startsWith('test_') ? urlToken.slice('test_'.length) : '';
  const id = token ? ctx.store.bucket<string>(TOKENS).get(token) : undefined;
  const session = id ? ctx.store.find<PortalSession>('billing_portal.session', id) : undefined;
  const customer = session ? ctx.store.find<Stripe.Customer>('customer', session.customer) : undefined;
  if (!session || !customer) return { kind: 'missing' };
  const meta = ctx.store.meta<PortalSessionMeta>(session.id);
  const now = ctx.now(customer.id);
  const expiresAt = meta.lastActivity === undefined ? session.created + UNVISITED_TTL : meta.lastActivity + IDLE_TTL;
  if (now >= expiresAt) return { kind: 'expired', session };
  meta.lastActivity = now;
  ctx.store.changed();
  const config = ctx.retrieve<PortalConfiguration>('billing_portal.configuration', idOf(session.configuration));
  return { kind: 'open', session, config, customer };
}

/** The prices a configuration lets a customer switch to, with their product. */
export function offeredPrices(ctx: EmulatorContext, config: PortalConfiguration): Array<{ price: PriceObject; product: Stripe.Product }> {
  const update = config.features.subscription_update;
  if (!update.enabled || !update.default_allowed_updates.includes('price')) return [];
  const out: Array<{ price: PriceObject; product: Stripe.Product }> = [];
  for (const entry of update.products ?? []) {
    const product = ctx.store.find<Stripe.Product>('product', entry.product);
    if (!product?.active) continue;
    for (const priceId of entry.prices) {
      const price = ctx.store.find<PriceObject>('price', priceId);
      if (price?.active) out.push({ price, product });
    }
  }
  return out;
}
