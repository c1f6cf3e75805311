import type Stripe from 'stripe';
import { createApp, type App } from '../../src/app';
import { loadConfig } from '../../src/config';
import { createOrm, type Orm } from '../../src/db/orm';
import { createLogger } from '../../src/logger';
import { openStripeApi } from '../../src/stripe/api';
import { pricingId, SUBSCRIBE } from './billing';
import { sql } from './db';
import type { captureLogs } from './logs';
import { freePort } from './net';
import type { TestServer } from './server';
import { deliver, signedHeader } from './webhooks';

/** Helpers of the webhook worker's tests: several servers on one database, the inbox, who applied what. */

export type Logs = ReturnType<typeof captureLogs>;

/** Polls `check` until it is true (every 20 ms, at most `timeoutMs`). */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export const send = (url: string, secret: string, event: Stripe.Event | Record<string, unknown>) => {
  const body = JSON.stringify(event);
  return deliver(url, body, { 'stripe-signature': signedHeader(body, secret) });
};

/** Each event id and how many times a worker applied it, from the servers' logs. */
export function appliedCounts(...logs: Logs[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of logs.flatMap((l) => l.lines()))
    if (line.msg === 'Stripe event applied') counts.set(String(line.stripeEvent), (counts.get(String(line.stripeEvent)) ?? 0) + 1);
  return counts;
}

export interface ExtraApp {
  url: string;
  app: App;
  orm: Orm;
  close(): Promise<void>;
}

/** Another server (createApp with a pool of its own) on the test server's database, reaching Stripe on `stripePort`. */
export async function startExtraApp(
  server: TestServer,
  stripePort: number,
  logs: Logs,
  env: Record<string, string> = {},
): Promise<ExtraApp> {
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    DATABASE_URL: server.databaseUrl,
    PORT: '0',
    EVENTS_DELIVERY: 'off',
    ...env,
  });
  const logger = createLogger('info', { stream: logs.stream });
  const orm = await createOrm(server.databaseUrl, { logger });
  const api = await openStripeApi(config, { protocol: 'http', host: '127.0.0.1', port: stripePort }, 'sk_test_tollgate_tests', {
    maxNetworkRetries: 0,
  });
  const app = await createApp({
    orm,
    config,
    logger,
    stripe: { client: api.client, webhookSecret: server.webhookSecret, mode: 'emulator', endpoint: api.endpoint },
  });
  const port = await freePort();
  await new Promise<void>((resolve) => app.httpServer.listen(port, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${port}`,
    app,
    orm,
    close: async () => {
      await app.stop();
      await orm.close();
      api.close();
    },
  };
}

export async function subscribed(server: TestServer): Promise<{ id: string; stripeSubscriptionId: string }> {
  const user = await server.createUser();
  const res = await server.gql(
    SUBSCRIBE,
    { input: { pricingId: await pricingId(server, 'premium'), paymentMethod: 'pm_card_visa' } },
    user.token,
  );
  expect(res.errors).toBeUndefined();
  await server.emulator.idle(20_000);
  return res.data.subscribe.subscription;
}

export const inboxRow = async (server: TestServer, id: string) =>
  (await sql(server.databaseUrl, 'select status, attempts, last_error, next_attempt_at, outcome from stripe_event where id = $1', [id]))[0];
export const cancelsAtPeriodEnd = async (server: TestServer, id: string) =>
  (await sql(server.databaseUrl, 'select cancel_at_period_end from subscription where id = $1', [id]))[0].cancel_at_period_end;
