import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import { PlanPricing, PricingInterval } from '../entities';
import type { Logger } from '../logger';
import { idempotencyKey } from '../stripe/client';

/**
 * Tollgate's customer portal configuration in Stripe: what a customer may do there follows Tollgate's plan
 * rules. Cancel at period end (with a reason), replace the card, see invoices, and switch between the paid
 * plans that renew: an upgrade at once, invoiced with Stripe's proration (always_invoice), a downgrade (a
 * smaller amount or a shorter interval) at the end of the period. Passes that do not renew are bought, not
 * switched to, so they are not offered.
 */

/** Metadata marking the configuration as Tollgate's, so a second sync (or a fresh database) finds it. */
export const PORTAL_CONFIGURATION_KEY = 'tollgate_portal';
const PORTAL_CONFIGURATION_VALUE = 'plans';
/** Stripe offers plan changes between at most 10 products. */
const MAX_PRODUCTS = 10;

export type PortalConfigurationResult = 'created' | 'updated' | 'unchanged';

type Features = Stripe.BillingPortal.ConfigurationCreateParams.Features;
type Product = Stripe.BillingPortal.ConfigurationCreateParams.Features.SubscriptionUpdate.Product;

/** The paid, renewing, active pricing options with their Stripe Price, by plan order. */
async function switchablePricings(em: EntityManager): Promise<PlanPricing[]> {
  return em.find(
    PlanPricing,
    {
      active: true,
      autoRenew: true,
      amountMinor: { $gt: 0 },
      interval: { $ne: PricingInterval.ONE_TIME },
      stripePriceId: { $ne: null },
      plan: { active: true, isDefault: false, stripeProductId: { $ne: null } },
    },
    { populate: ['plan'], orderBy: { plan: { sortOrder: 'asc', code: 'asc' }, lookupKey: 'asc' } },
  );
}

function productsOf(pricings: PlanPricing[], logger?: Logger): Product[] {
  const byProduct = new Map<string, string[]>();
  for (const pricing of pricings) {
    const product = pricing.plan.stripeProductId!;
    byProduct.set(product, [...(byProduct.get(product) ?? []), pricing.stripePriceId!]);
  }
  const products = [...byProduct].map(([product, prices]) => ({ product, prices }));
  if (products.length > MAX_PRODUCTS)
    logger?.warn({ plans: products.length }, `the customer portal offers plan changes between the first ${MAX_PRODUCTS} plans only`);
  return products.slice(0, MAX_PRODUCTS);
}

/** The features Tollgate's rules give the portal, for the catalog as it is. */
export function portalFeatures(products: Product[]): Features {
  return {
    customer_update: { enabled: false },
    invoice_history: { enabled: true },
    payment_method_update: { enabled: true },
    subscription_cancel: {
      enabled: true,
      mode: 'at_period_end',
      proration_behavior: 'none',
      cancellation_reason: {
        enabled: true,
        options: [
          'too_expensive',
          'missing_features',
          'switched_service',
          'unused',
          'customer_service',
          'too_complex',
          'low_quality',
          'other',
        ],
      },
    },
    subscription_pause: { enabled: false },
    subscription_update: products.length
      ? {
          enabled: true,
          default_allowed_updates: ['price'],
          products,
          proration_behavior: 'always_invoice',
          schedule_at_period_end: { conditions: [{ type: 'decreasing_item_amount' }, { type: 'shortening_interval' }] },
        }
      : { enabled: false },
  };
}

/** Tollgate's configurations in Stripe, active or not, newest first. */
async function tollgateConfigurations(stripe: Stripe): Promise<Stripe.BillingPortal.Configuration[]> {
  const ours: Stripe.BillingPortal.Configuration[] = [];
  for await (const config of stripe.billingPortal.configurations.list({ limit: 100 })) {
    if (config.metadata?.[PORTAL_CONFIGURATION_KEY] === PORTAL_CONFIGURATION_VALUE) ours.push(config);
  }
  return ours;
}

/** Tollgate's active configuration in Stripe, or null when no catalog sync has made it yet. */
export async function findPortalConfiguration(stripe: Stripe): Promise<Stripe.BillingPortal.Configuration | null> {
  return (await tollgateConfigurations(stripe)).find((config) => config.active) ?? null;
}

/** What of a configuration Tollgate decides, in a form two configurations can be compared by. */
function fingerprint(features: Features | Stripe.BillingPortal.Configuration['features']): string {
  const update = features.subscription_update;
  const cancel = features.subscription_cancel;
  const shape = {
    invoices: features.invoice_history?.enabled ?? false,
    card: features.payment_method_update?.enabled ?? false,
    cancel: [cancel?.enabled, cancel?.mode, cancel?.proration_behavior, cancel?.cancellation_reason?.options],
    update: update?.enabled
      ? [
          update.default_allowed_updates,
          (update.products || []).map((p) => [p.product, p.prices]),
          update.proration_behavior,
          (update.schedule_at_period_end?.conditions || []).map((c) => c.type),
        ]
      : false,
  };
  return createHash('sha256').update(JSON.stringify(shape)).digest('hex').slice(0, 24);
}

/**
 * Makes Stripe's portal configuration match the catalog: created on the first sync (or when ours was
 * deactivated), updated when the plans on offer (or the rules) changed, left alone otherwise. The idempotency keys name what is written,
 * so two syncs at once write it once.
 */
export async function ensurePortalConfiguration(em: EntityManager, stripe: Stripe, logger?: Logger): Promise<PortalConfigurationResult> {
  const features = portalFeatures(productsOf(await switchablePricings(em), logger));
  const wanted = fingerprint(features);
  const ours = await tollgateConfigurations(stripe);
  const existing = ours.find((config) => config.active);
  if (existing && fingerprint(existing.features) === wanted) return 'unchanged';
  if (existing) {
    await stripe.billingPortal.configurations.update(
      existing.id,
      { features: { ...features, subscription_update: { products: '', ...features.subscription_update } } },
      { idempotencyKey: idempotencyKey('portal-configuration', existing.id, wanted) },
    );
    logger?.info({ configuration: existing.id }, 'Stripe customer portal configuration updated to the catalog');
    return 'updated';
  }
  const created = await stripe.billingPortal.configurations.create(
    { name: 'Tollgate plans', features, metadata: { [PORTAL_CONFIGURATION_KEY]: PORTAL_CONFIGURATION_VALUE } },
    // The one it replaces (deactivated in the Dashboard) is part of the key: that makes a new one, not a replay.
    { idempotencyKey: idempotencyKey('portal-configuration', 'create', ours[0]?.id ?? 'first', wanted) },
  );
  logger?.info({ configuration: created.id }, 'Stripe customer portal configuration created');
  return 'created';
}
