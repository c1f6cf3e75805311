/**
 * A local, stateful Stripe: an HTTP server speaking Stripe's wire format so the official SDK (or any
 * Stripe client) works against it unchanged. See docs/emulator.md for using it.
 *
 * Extension points (how the resources are built, and how to add one):
 *
 * - Resource modules. Each file in resources/ exports `register(router, ctx)`, listed in modules.ts.
 *   To add a resource: write `resources/things.ts`, call `ctx.registerType({ object: 'thing',
 *   prefix: 'th', name: 'thing' })` (id prefix, "No such thing" messages, expansion) and register routes
 *   with `router.get/post/delete('/v1/things/:id', (req) => ...)`. A handler reads `req.params`
 *   (typed readers with Stripe's error wording: `reqStr`, `int`, `bool`, `enum`, `metadata`, `obj`,
 *   `objList`...), returns the object (the pipeline applies `expand[]`, renders JSON, stores idempotent
 *   replies) or throws an `ApiError` (core/errors.ts: `invalidRequest`, `resourceMissing`, ...).
 *   Lists: `paginate(req, items newestFirst)` and `filterCreated` from core/list.ts. Pages for browsers
 *   return `RawResponse.html(page(...))` on routes registered with `{ auth: false }`.
 *   Extra modules can also be passed to `startEmulator({ modules })`.
 * - Store (`ctx.store`, core/store.ts): objects exactly as the API renders them, keyed by id,
 *   mutated in place; `insert`, `get`, `find(type, id)`, `newest(type)`, `remove` (leaves the
 *   `deleted: true` stub), hidden per-object state in `meta(id)`, module bookkeeping in `bucket(name)`.
 *   `ctx.retrieve(type, id, param)` = find or Stripe's 404. Everything is persisted with `dataFile`.
 * - Clock: `ctx.now(customerId?)` is unix seconds; for a customer on a test clock it is the clock's
 *   time, read from the stored `test_helpers.test_clock` object's `frozen_time` (or from a source
 *   installed with `ctx.setClockSource`). `ctx.nowFor(object)` uses the object's customer.
 * - Events: `ctx.emit(type, object, previousAttributes?)` records the event (a snapshot, with
 *   `request` taken from the API request being handled), runs internal listeners registered with
 *   `ctx.on('payment_intent.succeeded' | 'invoice.*' | '*', fn)` synchronously, and schedules signed
 *   webhook deliveries. The event type is checked against the SDK's event union at compile time.
 * - Expansion: ids are expanded generically by lookup in the store; fields that exist only when
 *   expanded are declared with `ctx.registerExpandable('customer', 'subscriptions', resolver)`.
 * - Payments (payments/index.ts): `createPaymentIntent`, `confirmPaymentIntent` (returns the outcome,
 *   declines included, instead of throwing), `authenticatePaymentIntent`, `capturePaymentIntent`,
 *   `cancelPaymentIntent`, `createRefund`, `createDispute`, `resolvePaymentMethod` (magic `pm_card_*`
 *   ids), `attachPaymentMethod`, `createCardPaymentMethod` and `cardBehaviour(number)` for test cards.
 *   Links between a PaymentIntent and, say, an invoice live in `intentMeta(ctx, pi)`.
 * - Timers: `ctx.schedule(ms, fn)` (cleared on stop).
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { EmulatorContext } from './core/context';
import { Router } from './core/router';
import { createRequestListener } from './core/server';
import { FilePersistence, Store } from './core/store';
import { DEFAULT_RETRY_DELAYS_MS, WebhookDispatcher } from './core/webhooks';
import { MODULES, type EmulatorModule } from './modules';

export interface EmulatorOptions {
  /** 0 (default) picks a free port */
  port?: number;
  /** default 127.0.0.1 */
  host?: string;
  /** JSON file: loaded on start when it exists, saved after changes and on stop */
  dataFile?: string;
  /** serve HTTPS with this key and certificate */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** delays before each webhook retry; a delivery is given up after the last one */
  webhookRetryDelaysMs?: number[];
  logger?: (msg: string, fields?: object) => void;
  /** extra resource modules, registered after the built-in ones */
  modules?: EmulatorModule[];
}

export interface EmulatorHandle {
  /** e.g. http://127.0.0.1:12111 */
  url: string;
  host: string;
  port: number;
  protocol: 'http' | 'https';
  /** Resolves once no webhook delivery is pending or in flight (rejects after `timeoutMs` if given). */
  idle(timeoutMs?: number): Promise<void>;
  /** Stops listening, drops pending deliveries and timers, saves the data file. */
  stop(): Promise<void>;
  /** The running emulator's context (store, clock, events), for tests and extensions. */
  ctx: EmulatorContext;
  /** Every route it serves (method and pattern, e.g. `POST /v1/customers/:id`). */
  routes(): Array<{ method: 'GET' | 'POST' | 'DELETE'; pattern: string }>;
}

export async function startEmulator(opts: EmulatorOptions = {}): Promise<EmulatorHandle> {
  const log = opts.logger ?? (() => undefined);
  const host = opts.host ?? '127.0.0.1';
  const store = new Store();
  const persistence = opts.dataFile ? new FilePersistence(opts.dataFile, store, log) : undefined;
  if (persistence?.load()) log('state loaded', { file: opts.dataFile });
  if (persistence) store.onChange(() => persistence.markDirty());

  // Deliveries decrement their event's pending_webhooks once accepted.
  const dispatcher = new WebhookDispatcher({
    retryDelaysMs: opts.webhookRetryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS,
    log,
    endpointActive: (id) => store.find<{ id: string; object: string; status?: string }>('webhook_endpoint', id)?.status === 'enabled',
    onDelivered: (eventId) => {
      const event = store.get<{ id: string; object: string; pending_webhooks?: number }>(eventId);
      if (event && typeof event.pending_webhooks === 'number' && event.pending_webhooks > 0) {
        event.pending_webhooks -= 1;
        store.changed();
      }
    },
  });
  const ctx = new EmulatorContext(store, dispatcher, log);
  const router = new Router();
  for (const m of [...MODULES, ...(opts.modules ?? [])]) m.register(router, ctx);

  const listener = createRequestListener(ctx, router, log);
  const protocol: 'http' | 'https' = opts.tls ? 'https' : 'http';
  const server = opts.tls ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, listener) : http.createServer(listener);
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE' ? new Error(`The Stripe emulator cannot start: port ${opts.port} on ${host} is already in use`) : err,
      );
    };
    server.once('error', onError);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `${protocol}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  ctx.baseUrl = url;
  log('Stripe emulator listening', { url });

  let stopping: Promise<void> | undefined;
  return {
    url,
    host,
    port,
    protocol,
    ctx,
    routes: () => router.list(),
    idle: (timeoutMs?: number) => dispatcher.idle(timeoutMs),
    stop: () => {
      stopping ??= new Promise<void>((resolve) => {
        ctx.stop();
        dispatcher.stop();
        server.close(() => {
          persistence?.flush();
          resolve();
        });
        server.closeAllConnections();
      });
      return stopping;
    },
  };
}

// What the rest of the project uses. A resource module (startEmulator({ modules })) imports the core
// pieces it needs (core/router, core/context, core/errors, ...) from their own files.
export { EMULATOR_SERVER_HEADER } from './core/server';
export { API_VERSION } from './core/context';
export type { EmulatorModule } from './modules';
