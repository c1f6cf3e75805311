import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import { Plan, PlanPricing, PricingInterval } from '../entities';
import type { Orm } from '../db/orm';
import type { Logger } from '../logger';
import { idempotencyKey, type StripeContext } from '../stripe/client';
import { ensurePortalConfiguration, type PortalConfigurationResult } from '../billing/portalConfiguration';

/**
 * Makes Stripe match our catalog: one Product per plan, one Price per paid pricing option, found by the
 * pricing's lookup_key so a second run creates nothing. A changed amount (or interval) creates a new
 * Price, moves the lookup key to it and deactivates the old one; an archived or free option's Price is
 * deactivated. Stripe ids are stored on our rows. Then the customer portal's configuration is made to
 * offer the plans as they now are.
 */
export interface StripeCatalogReport {
  productsCreated: string[];
  pricesCreated: string[];
  pricesReplaced: string[];
  /** Prices of options archived or made free. */
  pricesDeactivated: string[];
  unchanged: string[];
  /** The customer portal's configuration, which offers the renewing paid plans to switch between. */
  portalConfiguration: PortalConfigurationResult;
}

export async function syncStripeCatalog(
  em: EntityManager,
  stripe: Stripe,
  logger?: Logger,
  only?: { planIds: string[] },
): Promise<StripeCatalogReport> {
  const report: StripeCatalogReport = {
    productsCreated: [],
    pricesCreated: [],
    pricesReplaced: [],
    pricesDeactivated: [],
    unchanged: [],
    portalConfiguration: 'unchanged',
  };
  const where = only ? { active: true, id: { $in: only.planIds } } : { active: true };
  const plans = await em.find(Plan, where, { populate: ['pricings'], orderBy: { sortOrder: 'asc' } });
  for (const plan of plans) {
    // Every plan has a Product (the free plan too, so Stripe's catalog mirrors ours); only paid options get Prices.
    const productId = await ensureProduct(stripe, plan, report);
    if (plan.stripeProductId !== productId) plan.stripeProductId = productId;
    for (const pricing of plan.pricings.getItems()) {
      if (pricing.active && pricing.amountMinor > 0) pricing.stripePriceId = await ensurePrice(stripe, plan, pricing, productId, report);
      else if (pricing.stripePriceId) pricing.stripePriceId = await retirePrice(stripe, pricing, report);
    }
    await em.flush();
    logger?.info({ plan: plan.code, product: productId }, 'Stripe catalog in sync for plan');
  }
  // From every plan, not only those synced now: the portal offers the whole catalog.
  report.portalConfiguration = await ensurePortalConfiguration(em, stripe, logger);
  return report;
}

/**
 * An archived or now free option can no longer be bought: its Price is deactivated (subscriptions on it
 * go on) and our row forgets it, so a later paid amount makes a new Price.
 */
async function retirePrice(stripe: Stripe, pricing: PlanPricing, report: StripeCatalogReport): Promise<null> {
  const price = await stripe.prices.retrieve(pricing.stripePriceId!);
  if (price.active) {
    await stripe.prices.update(
      price.id,
      { active: false },
      { idempotencyKey: idempotencyKey('price', pricing.id, 'deactivate', price.id) },
    );
    report.pricesDeactivated.push(pricing.lookupKey);
  }
  return null;
}

async function ensureProduct(stripe: Stripe, plan: Plan, report: StripeCatalogReport): Promise<string> {
  if (plan.stripeProductId) {
    try {
      const existing = await stripe.products.retrieve(plan.stripeProductId);
      if (!existing.deleted) {
        if (existing.name !== plan.name || !existing.active) await refreshProduct(stripe, plan, existing);
        return existing.id;
      }
    } catch (err) {
      if ((err as { code?: string }).code !== 'resource_missing') throw err;
    }
  }
  // The product an earlier run made (its id was lost here, e.g. a fresh database) carries our plan code.
  for await (const product of stripe.products.list({ limit: 100 })) {
    if (product.metadata?.tollgate_plan_code === plan.code) {
      if (product.name !== plan.name || !product.active) await refreshProduct(stripe, plan, product);
      return product.id;
    }
  }

  const product = await stripe.products.create(
    { name: plan.name, description: plan.description || undefined, metadata: { tollgate_plan_code: plan.code, tollgate_plan_id: plan.id } },
    { idempotencyKey: idempotencyKey('product', plan.id) },
  );
  report.productsCreated.push(plan.code);
  return product.id;
}

/** Renames (and reactivates) a plan's Product; the key names the version of the Product it changes. */
async function refreshProduct(stripe: Stripe, plan: Plan, product: Stripe.Product): Promise<void> {
  await stripe.products.update(
    product.id,
    { name: plan.name, active: true },
    { idempotencyKey: idempotencyKey('product', plan.id, 'update', product.updated, plan.name) },
  );
}

function matches(price: Stripe.Price, pricing: PlanPricing, productId: string): boolean {
  const product = typeof price.product === 'string' ? price.product : price.product.id;
  if (!price.active || product !== productId || price.unit_amount !== pricing.amountMinor || price.currency !== pricing.currency)
    return false;
  if (pricing.interval === PricingInterval.ONE_TIME) return price.type === 'one_time';
  return price.recurring?.interval === pricing.interval && price.recurring.interval_count === pricing.intervalCount;
}

async function ensurePrice(
  stripe: Stripe,
  plan: Plan,
  pricing: PlanPricing,
  productId: string,
  report: StripeCatalogReport,
): Promise<string> {
  const found = await stripe.prices.list({ lookup_keys: [pricing.lookupKey], limit: 1 });
  const current = found.data[0];
  if (current && matches(current, pricing, productId)) {
    report.unchanged.push(pricing.lookupKey);
    return current.id;
  }
  const params: Stripe.PriceCreateParams = {
    product: productId,
    currency: pricing.currency,
    unit_amount: pricing.amountMinor,
    lookup_key: pricing.lookupKey,
    transfer_lookup_key: Boolean(current),
    nickname: `${plan.name} (${pricing.lookupKey})`,
    metadata: { tollgate_pricing_id: pricing.id, tollgate_plan_code: plan.code },
    ...(pricing.interval === PricingInterval.ONE_TIME
      ? {}
      : {
          recurring: { interval: pricing.interval as Stripe.PriceCreateParams.Recurring.Interval, interval_count: pricing.intervalCount },
        }),
  };
  const created = await stripe.prices.create(params, {
    // The replaced price's id is part of the key: going back to an earlier amount still makes a new Price.
    idempotencyKey: idempotencyKey(
      'price',
      pricing.id,
      current?.id ?? 'first',
      pricing.amountMinor,
      pricing.currency,
      pricing.interval,
      pricing.intervalCount,
    ),
  });
  if (current) {
    await stripe.prices.update(
      current.id,
      { active: false },
      { idempotencyKey: idempotencyKey('price', pricing.id, 'deactivate', current.id) },
    );
    report.pricesReplaced.push(pricing.lookupKey);
  } else {
    report.pricesCreated.push(pricing.lookupKey);
  }
  return created.id;
}

/** Makes Stripe's catalog match ours (local mode: at every start, so the emulator always has it, even after its data file was removed). */
export async function syncCatalogOnStart(orm: Orm, stripe: StripeContext, logger: Logger): Promise<void> {
  const report = await syncStripeCatalog(orm.em.fork() as EntityManager, stripe.client, logger);
  logger.info({ report }, 'Stripe catalog synced');
}
