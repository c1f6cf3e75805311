import type { EntityManager } from '@mikro-orm/postgresql';
import type { Orm } from '../db/orm';
import { syncStripeCatalog } from '../billing/stripeCatalog';
import type { Config } from '../config';
import { startEmulator } from '../emulator';
import type { Logger } from '../logger';
import { createStripeClient, type StripeContext } from './client';

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

export interface StripeConnection extends StripeContext {
  /** Stops the in-process emulator (local mode); nothing otherwise. */
  stop(): Promise<void>;
}

/**
 * One code path for local and production; only the SDK's target differs. With STRIPE_SECRET_KEY the
 * SDK talks to api.stripe.com. Without it the local Stripe emulator is started in-process on
 * STRIPE_EMULATOR_PORT (127.0.0.1), the SDK is pointed at it, our webhook endpoint is registered there
 * through the standard API, and the secret it returns verifies deliveries.
 */
export async function connectStripe(config: Config, logger: Logger, webhookUrl: string): Promise<StripeConnection> {
  if (config.stripe.secretKey) {
    const client = createStripeClient({ secretKey: config.stripe.secretKey });
    if (!config.stripe.webhookSecret) logger.warn('STRIPE_WEBHOOK_SECRET is not set: Stripe webhooks will be refused');
    return {
      client,
      webhookSecret: config.stripe.webhookSecret,
      mode: config.stripe.secretKey.includes('_live_') ? 'live' : 'test',
      host: 'api.stripe.com',
      stop: async () => undefined,
    };
  }
  const emulator = await startEmulator({ port: config.stripe.emulatorPort, host: '127.0.0.1' });
  try {
    const client = createStripeClient({ secretKey: 'sk_test_tollgate_local', host: emulator.host, port: emulator.port, protocol: emulator.protocol });
    const endpoint = await client.webhookEndpoints.create({ url: webhookUrl, enabled_events: [...WEBHOOK_EVENTS] });
    logger.info({ url: emulator.url }, 'local Stripe emulator started');
    return {
      client,
      webhookSecret: endpoint.secret,
      mode: 'emulator',
      host: `${emulator.host}:${emulator.port}`,
      stop: () => emulator.stop(),
    };
  } catch (err) {
    await emulator.stop();
    throw err;
  }
}

/** Makes Stripe's catalog match ours (local mode: at every start, since the emulator starts empty). */
export async function syncCatalogOnStart(orm: Orm, stripe: StripeContext, logger: Logger): Promise<void> {
  const report = await syncStripeCatalog(orm.em.fork() as EntityManager, stripe.client, logger);
  logger.info({ report }, 'Stripe catalog synced');
}
