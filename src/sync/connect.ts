import type { Config } from '../config';
import { startEmulator } from '../emulator';
import type { Logger } from '../logger';
import { LOCAL_EMULATOR_KEY, openConfiguredStripe, openStripeApi, type StripeApi } from '../stripe/api';
import { keyMode, type StripeContext } from '../stripe/client';
import { classifyStripeFailure, operatorMessage } from '../stripe/errors';
import { WEBHOOK_EVENTS } from './handlers';

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
  const elog = logger.child({ component: 'stripeEmulator' });
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
