import type { EmulatorContext } from './core/context';
import type { Router } from './core/router';
import * as customers from './resources/customers';
import * as products from './resources/products';
import * as prices from './resources/prices';
import * as paymentMethods from './resources/payment_methods';
import * as paymentIntents from './resources/payment_intents';
import * as charges from './resources/charges';
import * as events from './resources/events';
import * as webhookEndpoints from './resources/webhook_endpoints';
import * as testClocks from './resources/test_clocks';
import * as invoices from './resources/invoices';
import * as invoicePages from './resources/invoice_pages';
import * as subscriptions from './resources/subscriptions';
import * as checkoutSessions from './resources/checkout_sessions';
import * as subscriptionSchedules from './resources/subscription_schedules';
import * as billingPortal from './resources/billing_portal';

/** A resource module: registers its types, routes, expandable fields and event listeners. */
export interface EmulatorModule {
  name: string;
  register(router: Router, ctx: EmulatorContext): void;
}

/** Registered in this order by every emulator. New resource files are added to this list. */
export const MODULES: EmulatorModule[] = [
  { name: 'customers', register: customers.register },
  { name: 'products', register: products.register },
  { name: 'prices', register: prices.register },
  { name: 'payment_methods', register: paymentMethods.register },
  { name: 'payment_intents', register: paymentIntents.register },
  { name: 'charges', register: charges.register },
  { name: 'events', register: events.register },
  { name: 'webhook_endpoints', register: webhookEndpoints.register },
  { name: 'test_clocks', register: testClocks.register },
  { name: 'invoices', register: invoices.register },
  { name: 'invoice_pages', register: invoicePages.register },
  { name: 'subscriptions', register: subscriptions.register },
  { name: 'checkout_sessions', register: checkoutSessions.register },
  { name: 'subscription_schedules', register: subscriptionSchedules.register },
  { name: 'billing_portal', register: billingPortal.register },
];
