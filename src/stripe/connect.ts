import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import type { Orm } from '../db/orm';
import { syncStripeCatalog } from '../billing/stripeCatalog';
import type { ApiTarget, Config } from '../config';
import { startEmulator } from '../emulator';
import type { Logger } from '../logger';
import { createStripeAgent } from './agent';
import { createStripeClient, keyMode, type StripeContext } from './client';
import { classifyStripeFailure, operatorMessage } from './errors';
import { resolveStripeRoute, stripeEndpoint, type StripeEndpoint } from './route';

/** The events Tollgate's webhook endpoint subscribes to. */
export const WEBHOOK_EVENTS = [
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'invoice.paid',
  'invoice.payment_failed',
  'checkout.session.completed',
  'checkout.session.expired',
  'payment_intent.succeeded',
  'payment_intent.payment_failed',
  'payment_intent.canceled',
  'payment_intent.amount_capturable_updated',
  'payment_intent.requires_action',
  'charge.refunded',
  'refund.created',
  'charge.dispute.created',
] as const;

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
 * The SDK client for a Stripe API at `target`, reached as the configuration says (src/stripe/route.ts):
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
  return { client, endpoint: stripeEndpoint(route, config.stripe.timeoutMs, options.localEmulatorHint), close: () => agent?.destroy() };
}

/** The real Stripe API of STRIPE_SECRET_KEY (STRIPE_API_BASE, default api.stripe.com). */
export function openConfiguredStripe(config: Config, options: { maxNetworkRetries?: number } = {}): Promise<StripeApi> {
  if (!config.stripe.secretKey) throw new Error('STRIPE_SECRET_KEY is not set');
  return openStripeApi(config, config.stripe.apiBase, config.stripe.secretKey, options);
}

export interface StripeConnection extends StripeContext {
  /** Stops the in-process emulator (local mode) and closes kept-alive connections. */
  stop(): Promise<void>;
}

/**
 * One code path for local and production; only the SDK's target differs. With STRIPE_SECRET_KEY the
 * SDK talks to STRIPE_API_BASE (api.stripe.com), through a proxy when the configuration says so; no
 * request is made here, so the server starts while Stripe is unreachable. Without a key the local
 * Stripe emulator is started in-process on STRIPE_EMULATOR_PORT (127.0.0.1) with its state in
 * STRIPE_EMULATOR_DATA (so customers and subscriptions outlive a restart, like the database beside them),
 * the SDK is pointed at it, our webhook endpoint is registered there through the standard API (replacing
 * the one an earlier start registered for the same URL), and the secret it returns verifies deliveries.
 */
export async function connectStripe(config: Config, logger: Logger, webhookUrl: string): Promise<StripeConnection> {
  if (config.stripe.secretKey) {
    const api = await openConfiguredStripe(config);
    if (!config.stripe.webhookSecret) logger.warn('STRIPE_WEBHOOK_SECRET is not set: Stripe webhooks will be refused');
    logger.info({ stripeHost: api.endpoint.host, route: api.endpoint.route }, `Stripe is reached ${api.endpoint.route}`);
    return {
      client: api.client,
      webhookSecret: config.stripe.webhookSecret,
      mode: keyMode(config.stripe.secretKey),
      endpoint: api.endpoint,
      stop: async () => api.close(),
    };
  }
  const elog = logger.child({ component: 'stripe-emulator' });
  const emulator = await startEmulator({
    port: config.stripe.emulatorPort,
    host: '127.0.0.1',
    dataFile: config.stripe.emulatorDataFile,
    // Requests at debug level; failures (deliveries, saving its state) as warnings.
    logger: (msg, fields) =>
      msg === 'request' ? elog.debug(fields, msg) : /fail|error|could not/.test(msg) ? elog.warn(fields, msg) : elog.info(fields, msg),
  });
  let api: StripeApi | undefined;
  try {
    api = await openStripeApi(config, { protocol: emulator.protocol, host: emulator.host, port: emulator.port }, LOCAL_EMULATOR_KEY);
    // Stripe shows a signing secret only when an endpoint is created: replace ours from an earlier start.
    for await (const old of api.client.webhookEndpoints.list({ limit: 100 })) {
      if (old.url === webhookUrl) await api.client.webhookEndpoints.del(old.id);
    }
    const endpoint = await api.client.webhookEndpoints.create({ url: webhookUrl, enabled_events: [...WEBHOOK_EVENTS] });
    logger.info({ url: emulator.url, route: api.endpoint.route }, 'local Stripe emulator started');
    const opened = api;
    return {
      client: opened.client,
      webhookSecret: endpoint.secret,
      mode: 'emulator',
      endpoint: opened.endpoint,
      stop: async () => {
        opened.close();
        await emulator.stop();
      },
    };
  } catch (err) {
    api?.close();
    await emulator.stop();
    const failure = classifyStripeFailure(err, api?.endpoint);
    throw failure ? new Error(`the local Stripe emulator: ${operatorMessage(failure, api?.endpoint)}`) : err;
  }
}

/** Makes Stripe's catalog match ours (local mode: at every start, so the emulator always has it, even after its data file was removed). */
export async function syncCatalogOnStart(orm: Orm, stripe: StripeContext, logger: Logger): Promise<void> {
  const report = await syncStripeCatalog(orm.em.fork() as EntityManager, stripe.client, logger);
  logger.info({ report }, 'Stripe catalog synced');
}
