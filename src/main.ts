import 'reflect-metadata';
import net from 'node:net';
import type { EntityManager } from '@mikro-orm/postgresql';
import { createApp } from './app';
import { catalogDefinition, isCatalogEmpty, seedCatalog } from './billing/catalog';
import { ensureDemoUser } from './auth/demoUser';
import { ConfigError, loadConfig, type Config } from './config';
import { openDatabase } from './db/embedded';
import { createOrm, migrateLocked, withStartupLock } from './db/orm';
import { createLogger, maskUrl, type Logger } from './logger';
import { syncCatalogOnStart } from './sync/catalog';
import { connectStripe, type StripeConnection } from './sync/connect';

/**
 * Process entry: configuration → database → migrations and first seed → HTTP server.
 * SIGINT/SIGTERM stop everything in reverse order: HTTP, ORM, embedded PostgreSQL.
 */
async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\nFix the variables above (see .env.example) and start again.\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel, { format: config.logFormat });
  const closers: Array<{ name: string; close: () => Promise<void> }> = [];
  let stopping = false;

  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    for (const { name, close } of closers.reverse()) {
      try {
        await close();
        logger.info({ component: name }, 'stopped');
      } catch (err) {
        logger.error({ err, component: name }, 'failed to stop cleanly');
        code = code || 1;
      }
    }
    logger.info({ exitCode: code }, 'shutdown complete');
    process.exit(code);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      logger.info({ signal }, 'shutting down');
      void shutdown(0);
    });
  }

  try {
    // A second server on the same ports would fail at listen(), after it had touched the data (the demo
    // token, the emulator's state): refuse before anything is read or written.
    await ensurePortFree(config.host, config.port, 'PORT');
    if (!config.stripe.secretKey) await ensurePortFree('127.0.0.1', config.stripe.emulatorPort, 'STRIPE_EMULATOR_PORT');
    const db = await openDatabase(config, logger);
    closers.push({ name: 'database', close: db.stop });
    if (stopping) return;

    const orm = await createOrm(db.url, { logger, preparedStatements: config.preparedStatements });
    closers.push({ name: 'orm', close: () => orm.close() });
    // Replicas starting together on one database take turns: the first migrates and seeds, the others
    // then find nothing to do.
    await withStartupLock(orm, async () => {
      await migrateLocked(orm, logger);
      const em = orm.em.fork() as EntityManager;
      if (await isCatalogEmpty(em)) {
        const report = await seedCatalog(em, catalogDefinition());
        logger.info({ report }, 'catalog seeded (it was empty)');
      }
    });
    if (stopping) return;

    const demo = config.stripe.secretKey
      ? undefined
      : await ensureDemoUser(orm.em.fork() as EntityManager, config.demoUserEmail, config.demoTokenFile);
    if (stopping) return;

    const base = (config.publicUrl ?? `http://localhost:${config.port}`).replace(/\/$/, '');
    const stripe = await connectStripe(config, logger, `${base}/webhooks/stripe`);
    closers.push({ name: 'stripe', close: stripe.stop });
    if (stripe.mode === 'emulator') await syncCatalogOnStart(orm, stripe, logger);
    if (stopping) return;

    const { httpServer, stop } = await createApp({ orm, config, logger, stripe, demoToken: demo?.token });
    closers.push({ name: 'http', close: stop });
    await new Promise<void>((resolve, reject) => {
      httpServer.once('error', reject);
      httpServer.listen(config.port, config.host, () => resolve());
    });
    const address = httpServer.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    printBanner(logger, config, {
      port,
      databaseUrl: db.url,
      embedded: db.embedded,
      demoToken: demo?.token,
      demoEmail: demo?.user.email,
      stripe,
    });
  } catch (err) {
    logger.error({ err }, `startup failed: ${(err as Error)?.message ?? err}`);
    await shutdown(1);
  }
}

/** Fails, naming the setting to change, when something already listens on the port (0: any free port). */
async function ensurePortFree(host: string, port: number, setting: string): Promise<void> {
  if (port === 0) return;
  const probe = net.createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(`Port ${port} is already in use (is Tollgate already running?). Stop what uses it, or set ${setting} to a free port.`)
          : err,
      ),
    );
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}

function printBanner(
  logger: Logger,
  config: Config,
  info: { port: number; databaseUrl: string; embedded: boolean; demoToken?: string; demoEmail?: string; stripe: StripeConnection },
): void {
  const base = config.publicUrl ?? `http://localhost:${info.port}`;
  const lines = [
    '',
    `  Tollgate is ready`,
    `  GraphQL + Apollo Sandbox   ${base}/graphql`,
    `  Health / readiness         ${base}/healthz  ${base}/readyz`,
    `  Database                   ${info.embedded ? 'embedded PostgreSQL ' : ''}${maskUrl(info.databaseUrl)}`,
    `  Stripe                     ${
      info.stripe.mode === 'emulator'
        ? `local Stripe emulator at http://${info.stripe.endpoint.host} (any sk_test_ key works)`
        : `${info.stripe.endpoint.host} (${info.stripe.mode} mode), reached ${info.stripe.endpoint.route}`
    }`,
    `  Stripe webhooks            ${base}/webhooks/stripe`,
  ];
  if (info.demoToken) {
    lines.push(
      `  Demo user                  ${info.demoEmail}`,
      `  Sandbox header             {"Authorization": "Bearer ${info.demoToken}"}`,
    );
  }
  lines.push('');
  process.stdout.write(`${lines.join('\n')}\n`);
  logger.info({ url: `${base}/graphql`, port: info.port }, 'server started');
}

void main();
