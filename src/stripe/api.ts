import type Stripe from 'stripe';
import type { ApiTarget, Config } from '../config';
import { createStripeAgent } from './agent';
import { createStripeClient } from './client';
import { resolveStripeRoute, stripeEndpoint, type StripeEndpoint } from './proxyRoute';
import { stripeCalls, stripeDuration, stripeRoute } from '../metrics';

/** The key the local emulator is called with (it accepts any sk_test_ key). */
export const LOCAL_EMULATOR_KEY = 'sk_test_tollgate_local';

/** An SDK client on the route the configuration gives, and what may be said about that route. */
export interface StripeApi {
  client: Stripe;
  endpoint: StripeEndpoint;
  /** Closes the agent's kept-alive connections. */
  close(): void;
}

/**
 * The SDK client for a Stripe API at `target`, reached as the configuration says (src/stripe/proxyRoute.ts):
 * directly or through a proxy, with STRIPE_CA_FILE, STRIPE_TIMEOUT_MS and STRIPE_MAX_NETWORK_RETRIES.
 * Makes no request: nothing here needs Stripe to be reachable.
 */
export async function openStripeApi(
  config: Config,
  target: ApiTarget,
  secretKey: string,
  options: { maxNetworkRetries?: number; localEmulatorHint?: string } = {},
): Promise<StripeApi> {
  const route = resolveStripeRoute(target, config.proxy);
  const agent = await createStripeAgent(route, { ca: config.stripe.ca, timeoutMs: config.stripe.timeoutMs });
  const client = createStripeClient({
    secretKey,
    host: target.host,
    port: target.port,
    protocol: target.protocol,
    httpAgent: agent,
    maxNetworkRetries: options.maxNetworkRetries ?? config.stripe.maxNetworkRetries,
    timeoutMs: config.stripe.timeoutMs,
  });
  client.on('response', (event: Stripe.ResponseEvent) => {
    const path = stripeRoute(event.path);
    stripeCalls.inc({ method: event.method, route: path, outcome: `${Math.floor(event.status / 100)}xx` });
    stripeDuration.observe({ method: event.method, route: path }, event.elapsed / 1000);
  });
  return { client, endpoint: stripeEndpoint(route, config.stripe.timeoutMs, options.localEmulatorHint), close: () => agent?.destroy() };
}

/** The real Stripe API of STRIPE_SECRET_KEY (STRIPE_API_BASE, default api.stripe.com). */
export function openConfiguredStripe(config: Config, options: { maxNetworkRetries?: number } = {}): Promise<StripeApi> {
  if (!config.stripe.secretKey) throw new Error('STRIPE_SECRET_KEY is not set');
  return openStripeApi(config, config.stripe.apiBase, config.stripe.secretKey, options);
}
