import type Stripe from 'stripe';
import { raw, type TestEmulator } from './support';

/** What the customer portal tests share: two monthly prices, Tollgate's configuration, the page, a subscriber. */

export interface PortalPrices {
  basic: Stripe.Price;
  premium: Stripe.Price;
}

/** Basic (10.00 a month) and Premium (25.00 a month), each with a product of its own. */
export async function portalPrices(t: TestEmulator): Promise<PortalPrices> {
  const monthly = (name: string, unit_amount: number) =>
    t.stripe.prices.create({ currency: 'usd', unit_amount, recurring: { interval: 'month' }, product_data: { name } });
  return { basic: await monthly('Basic', 1000), premium: await monthly('Premium', 2500) };
}

export const productOf = (price: Stripe.Price) => price.product as string;

/** The features Tollgate configures: upgrades at once (always_invoice), downgrades at the period end. */
export function tollgateFeatures({ basic, premium }: PortalPrices): Stripe.BillingPortal.ConfigurationCreateParams.Features {
  return {
    invoice_history: { enabled: true },
    payment_method_update: { enabled: true },
    subscription_cancel: {
      enabled: true,
      mode: 'at_period_end',
      cancellation_reason: { enabled: true, options: ['too_expensive', 'unused', 'other'] },
    },
    subscription_update: {
      enabled: true,
      default_allowed_updates: ['price'],
      products: [
        { product: productOf(basic), prices: [basic.id] },
        { product: productOf(premium), prices: [premium.id] },
      ],
      proration_behavior: 'always_invoice',
      schedule_at_period_end: { conditions: [{ type: 'decreasing_item_amount' }, { type: 'shortening_interval' }] },
    },
  };
}

/** A page of the portal, fetched as a browser would (no API key). */
export const visit = (t: TestEmulator, url: string) => raw(t.em, 'GET', new URL(url).pathname, { auth: null });

/** A customer with a card, subscribed to `price` and paying with that card. */
export async function subscribedCustomer(t: TestEmulator, price: Stripe.Price, opts: { clock?: string } = {}) {
  const customer = await t.stripe.customers.create({
    email: 'ada@example.com',
    payment_method: 'pm_card_visa',
    ...(opts.clock ? { test_clock: opts.clock } : {}),
  });
  const pm = (await t.stripe.customers.listPaymentMethods(customer.id)).data[0]!;
  const sub = await t.stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }], default_payment_method: pm.id });
  return { customer, sub, pm };
}
