import type { Config } from '../config';
import type { BillingDeps } from '../billing/deps';
import { DomainError } from '../errors';
import type { Logger } from '../logger';
import { LOCAL_EMULATOR_KEY, openConfiguredStripe, openStripeApi, type StripeApi } from '../stripe/api';
import { classifyStripeFailure, operatorMessage } from '../stripe/errors';

/**
 * The Stripe client of a command-line script: the real API with STRIPE_SECRET_KEY (through the same route
 * as the server: directly or the configured proxy), otherwise the local emulator the running server (or
 * `npm run stripe:emulator`) serves on STRIPE_EMULATOR_PORT.
 */
export async function scriptBillingDeps(config: Config, logger: Logger): Promise<BillingDeps> {
  const local = !config.stripe.secretKey;
  const api: StripeApi = local
    ? await openStripeApi(config, { protocol: 'http', host: '127.0.0.1', port: config.stripe.emulatorPort }, LOCAL_EMULATOR_KEY, {
        maxNetworkRetries: 0,
        localEmulatorHint: 'the local Stripe emulator runs with the server: start it (npm start) or run npm run stripe:emulator',
      })
    : await openConfiguredStripe(config);
  return {
    stripe: api.client,
    publicUrl: (config.publicUrl ?? `http://localhost:${config.port}`).replace(/\/$/, ''),
    logger,
    stripeEndpoint: api.endpoint,
  };
}

/** Runs a script's Stripe work; a failure to reach Stripe ends the script with the operator's message (no stack). */
export async function explainStripeFailures<T>(deps: BillingDeps, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const failure = classifyStripeFailure(err, deps.stripeEndpoint);
    if (failure)
      throw new DomainError('PAYMENT_SERVICE_UNAVAILABLE', operatorMessage(failure, deps.stripeEndpoint), { reason: failure.reason });
    throw err;
  }
}
