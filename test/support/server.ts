import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import { createApp } from '../../src/app';
import { catalogDefinition, seedCatalog } from '../../src/billing/catalog';
import { ensureDemoUser } from '../../src/auth/demoUser';
import { createUser } from '../../src/auth/users';
import { loadConfig, type Config } from '../../src/config';
import { createOrm, migrate, type Orm } from '../../src/db/orm';
import { createLogger } from '../../src/logger';
import { startEmulator, type EmulatorHandle, type EmulatorModule } from '../../src/emulator';
import { syncStripeCatalog } from '../../src/sync/catalog';
import type { StripeContext } from '../../src/stripe/client';
import { openStripeApi } from '../../src/stripe/api';
import { WEBHOOK_EVENTS } from '../../src/sync/handlers';
import { createTestDatabase } from './db';
import { freePort } from './net';

export interface GqlResponse<T = any> {
  status: number;
  data?: T;
  errors?: Array<{ message: string; path?: string[]; extensions?: Record<string, any> }>;
}

export interface TestServer {
  url: string;
  databaseUrl: string;
  orm: Orm;
  config: Config;
  em(): EntityManager;
  gql<T = any>(
    query: string,
    variables?: Record<string, unknown>,
    token?: string,
    headers?: Record<string, string>,
  ): Promise<GqlResponse<T>>;
  /** With `demo: true`: the demo user and the token the server was given. */
  demo?: { token: string; email: string };
  createUser(opts?: { email?: string; admin?: boolean; timezone?: string }): Promise<{ id: string; token: string; email: string }>;
  /** With `stripe: true`: the official SDK pointed at the in-process emulator the server uses. */
  stripe: Stripe;
  emulator: EmulatorHandle;
  /** The signing secret of the server's webhook endpoint on the emulator. */
  webhookSecret: string;
  close(): Promise<void>;
}

export interface TestServerOptions {
  seed?: boolean;
  onQuery?: (sql: string) => void;
  env?: Record<string, string>;
  /** Start the local Stripe emulator, sync the catalog to it and register the webhook endpoint. */
  stripe?: boolean;
  /** Register the server's webhook endpoint on the emulator (default true with stripe). */
  webhooks?: boolean;
  /** Receives the emulator's log (one 'request' line per API request). */
  emulatorLog?: (msg: string, fields?: object) => void;
  /** Where the server logs (JSON lines), e.g. captureLogs().stream; default stdout at TEST_LOG_LEVEL. */
  logStream?: NodeJS.WritableStream;
  /** Extra emulator modules (e.g. one that makes Stripe fail on purpose). */
  emulatorModules?: EmulatorModule[];
  /** The emulator keeps its state in this file (saved on stop), so a test can start it again. */
  emulatorDataFile?: string;
  /** The server reaches the emulator on the port this returns (a front that can fail requests, see stripeFront.ts). */
  stripeVia?: (emulator: EmulatorHandle) => Promise<number>;
  /** Make the demo user and hand its token to the server, as local mode does. */
  demo?: boolean;
  /** Serve this database (another test server's: two server processes on one database) instead of a fresh one. */
  databaseUrl?: string;
}

let userSeq = 0;

/** The real app on a real HTTP port over a fresh database of its own, migrated and (by default) seeded. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const databaseUrl = options.databaseUrl ?? (await createTestDatabase('srv'));
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: options.logStream ? 'info' : (process.env.TEST_LOG_LEVEL ?? 'silent'),
    DATABASE_URL: databaseUrl,
    PORT: '0',
    // Event delivery polls the database; tests that deliver turn it on.
    EVENTS_DELIVERY: 'off',
    ...options.env,
  });
  const logger = createLogger(config.logLevel, { stream: options.logStream });
  const orm = await createOrm(databaseUrl, { logger, onQuery: options.onQuery });
  await migrate(orm, logger);
  if (options.seed !== false) await seedCatalog(orm.em.fork() as EntityManager, catalogDefinition());

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let emulator: EmulatorHandle | undefined;
  let stripe: StripeContext | undefined;
  if (options.stripe) {
    emulator = await startEmulator({
      port: 0,
      webhookRetryDelaysMs: [50, 200, 500],
      logger: options.emulatorLog,
      modules: options.emulatorModules,
      dataFile: options.emulatorDataFile,
    });
    const stripePort = options.stripeVia ? await options.stripeVia(emulator) : emulator.port;
    const api = await openStripeApi(
      config,
      { protocol: emulator.protocol, host: emulator.host, port: stripePort },
      'sk_test_tollgate_tests',
      { maxNetworkRetries: 0 },
    );
    const client = api.client;
    const endpoint =
      options.webhooks === false
        ? undefined
        : await client.webhookEndpoints.create({ url: `${url}/webhooks/stripe`, enabled_events: [...WEBHOOK_EVENTS] });
    stripe = { client, webhookSecret: endpoint?.secret ?? 'whsec_not_registered', mode: 'emulator', endpoint: api.endpoint };
    if (options.seed !== false) await syncStripeCatalog(orm.em.fork() as EntityManager, client);
  }
  const demo = options.demo
    ? await ensureDemoUser(
        orm.em.fork() as EntityManager,
        config.demoUserEmail,
        join(tmpdir(), `tollgate-demo-${process.pid}-${Date.now()}`),
      )
    : undefined;
  const app = await createApp({ orm, config, logger, stripe, demoToken: demo?.token });
  await new Promise<void>((resolve) => app.httpServer.listen(port, '127.0.0.1', () => resolve()));

  return {
    url,
    databaseUrl,
    demo: demo && { token: demo.token, email: demo.user.email },
    orm,
    config,
    em: () => orm.em.fork() as EntityManager,
    async gql(query, variables, token, headers = {}) {
      const res = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await res.json()) as GqlResponse;
      return { ...body, status: res.status };
    },
    async createUser(opts = {}) {
      const email = opts.email ?? `user${++userSeq}-${Date.now()}@example.com`;
      const { user, token } = await createUser(orm.em.fork() as EntityManager, { email, admin: opts.admin, timezone: opts.timezone });
      return { id: user.id, token, email };
    },
    get stripe(): Stripe {
      if (!stripe) throw new Error('start the test server with { stripe: true }');
      return stripe.client;
    },
    get emulator(): EmulatorHandle {
      if (!emulator) throw new Error('start the test server with { stripe: true }');
      return emulator;
    },
    get webhookSecret(): string {
      if (!stripe?.webhookSecret) throw new Error('start the test server with { stripe: true }');
      return stripe.webhookSecret;
    },
    async close() {
      await emulator?.stop();
      await app.stop();
      await orm.close();
    },
  };
}
