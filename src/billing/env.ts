import type Stripe from 'stripe';
import type { Logger } from '../logger';

/** What billing services need besides the EntityManager: the Stripe client and where clients reach us. */
export interface BillingEnv {
  stripe: Stripe;
  /** Base URL of this server as clients reach it (for Checkout return routes). */
  publicUrl: string;
  logger: Logger;
  /** Host name shown in PAYMENT_SERVICE_UNAVAILABLE messages. */
  stripeHost?: string;
}
