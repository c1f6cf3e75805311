import type { Config } from '../config';
import type { BillingEnv } from '../billing/env';
import type { Logger } from '../logger';
import { createStripeClient } from '../stripe/client';

/**
 * The Stripe client of a command-line script: the real API with STRIPE_SECRET_KEY, otherwise the local
 * emulator the running server (or `npm run stripe:emulator`) serves on STRIPE_EMULATOR_PORT.
 */
export function scriptBillingEnv(config: Config, logger: Logger): BillingEnv {
  const local = !config.stripe.secretKey;
  const stripe = local
    ? createStripeClient({ secretKey: 'sk_test_tollgate_local', host: '127.0.0.1', port: config.stripe.emulatorPort, protocol: 'http', maxNetworkRetries: 0 })
    : createStripeClient({ secretKey: config.stripe.secretKey! });
  return {
    stripe,
    publicUrl: (config.publicUrl ?? `http://localhost:${config.port}`).replace(/\/$/, ''),
    logger,
    stripeHost: local ? `127.0.0.1:${config.stripe.emulatorPort} (local Stripe emulator: is the server or npm run stripe:emulator running?)` : 'api.stripe.com',
  };
}
