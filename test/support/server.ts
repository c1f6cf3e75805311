import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import { createApp, type App } from '../../src/app';
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
  /**
   * The emulator the server uses. Its `idle()` resolves once the emulator's webhook deliveries are settled
   * and the server's inbox is drained (nothing pending or in hand), and again after any events that
   * processing caused: what tests mean by "the webhooks have been applied".
   */
  emulator: EmulatorHandle;
  /** Resolves once the server's webhook inbox has nothing pending and its worker nothing in hand. */
  inboxDrained(timeoutMs?: number): Promise<void>;
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
  const drain = (deadline: number) => waitForDrainedInbox(orm, app, deadline);
  const settled = emulator && withDrainedInbox(emulator, drain);

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
      if (!settled) throw new Error('start the test server with { stripe: true }');
      return settled;
    },
    inboxDrained: async (timeoutMs = 20_000) => void (await drain(Date.now() + timeoutMs)),
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

/**
 * Waits until no stored Stripe event is pending and the app's worker holds none (a retry scheduled for
 * later does not count). Returns whether there was anything to wait for.
 */
async function waitForDrainedInbox(orm: Orm, app: App, deadline: number): Promise<boolean> {
  for (let round = 0; ; round++) {
    const [{ pending }] = await orm.em
      .getConnection()
      .execute<Array<{ pending: boolean }>>(
        `select exists (select 1 from stripe_event where status = 'pending' and next_attempt_at is not null) as pending`,
      );
    if (!pending && (app.webhooks?.busy() ?? 0) === 0) return round > 0;
    if (!app.webhooks) throw new Error('the server has stored Stripe events but processes none (WEBHOOK_PROCESSING=off)');
    if (Date.now() > deadline) throw new Error('the webhook inbox was not drained in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The emulator, with idle() also waiting for the server to process what was delivered (see TestServer.emulator). */
function withDrainedInbox(emulator: EmulatorHandle, drain: (deadline: number) => Promise<boolean>): EmulatorHandle {
  const idle = async (timeoutMs?: number) => {
    const deadline = Date.now() + (timeoutMs ?? 600_000);
    // Processing an event may make Stripe calls that emit more events: settle both until neither has work.
    do await emulator.idle(timeoutMs === undefined ? undefined : Math.max(1, deadline - Date.now()));
    while (await drain(deadline));
  };
  return new Proxy(emulator, { get: (target, key, receiver) => (key === 'idle' ? idle : Reflect.get(target, key, receiver)) });
}
