/**
 * A second Tollgate server process for tests that need several processes on one database: the real
 * app (createApp) on a real port, its own connection pool, pointed at an emulator the test already runs.
 * Started by `startAppProcess`; prints "listening <url>" once it serves, then logs as the server does.
 *
 * env: DATABASE_URL, EMULATOR_URL (http://127.0.0.1:port), WEBHOOK_SECRET; EVENTS_* (delivery is off unless EVENTS_DELIVERY=on),
 * WEBHOOK_* (the webhook worker's settings)
 */
import { createApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { createOrm } from '../../src/db/orm';
import { createLogger } from '../../src/logger';
import { openStripeApi } from '../../src/stripe/api';

async function main(): Promise<void> {
  const emulator = new URL(process.env.EMULATOR_URL!);
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    DATABASE_URL: process.env.DATABASE_URL,
    PORT: '0',
    EVENTS_DELIVERY: 'off',
    ...Object.fromEntries(
      Object.entries(process.env).filter(
        ([name]) => name.startsWith('EVENTS_') || (name.startsWith('WEBHOOK_') && name !== 'WEBHOOK_SECRET'),
      ),
    ),
  });
  const logger = createLogger(config.logLevel);
  const orm = await createOrm(config.databaseUrl!, { logger });
  const api = await openStripeApi(
    config,
    { protocol: 'http', host: emulator.hostname, port: Number(emulator.port) },
    'sk_test_tollgate_tests',
    { maxNetworkRetries: 0 },
  );
  const app = await createApp({
    orm,
    config,
    logger,
    stripe: { client: api.client, webhookSecret: process.env.WEBHOOK_SECRET, mode: 'emulator', endpoint: api.endpoint },
  });
  app.httpServer.listen(0, '127.0.0.1', () => {
    const address = app.httpServer.address();
    if (address && typeof address === 'object') process.stdout.write(`listening http://127.0.0.1:${address.port}\n`);
  });
  const stop = async () => {
    await app.stop();
    await orm.close();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err) => {
  process.stderr.write(`${err?.stack ?? err}\n`);
  process.exit(1);
});
