import type Stripe from 'stripe';
import type { Logger } from '../logger';
import type { StripeEndpoint } from '../stripe/proxyRoute';

/** What billing services need besides the EntityManager: the Stripe client and where clients reach us. */
export interface BillingDeps {
  stripe: Stripe;
  /** Base URL of this server as clients reach it (for Checkout return routes). */
  publicUrl: string;
  logger: Logger;
  /** Where Stripe is and how it is reached, for PAYMENT_SERVICE_UNAVAILABLE messages and logs. */
  stripeEndpoint?: StripeEndpoint;
}
