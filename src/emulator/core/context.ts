import { AsyncLocalStorage } from 'node:async_hooks';
import type Stripe from 'stripe';
import { ApiError, invalidRequest, resourceMissing } from './errors';
import { newId } from './ids';
import type { StoredObject, Store } from './store';
import type { WebhookDispatcher } from './webhooks';

/** The API version the emulator speaks; tied to the installed SDK so an SDK upgrade shows up at compile time. */
export const API_VERSION: Stripe.LatestApiVersion = '2026-10-28.endive';

/** The object a given event type carries in `data.object`, per the SDK's event union. */
export type EventObject<T extends Stripe.Event.Type> = Extract<Stripe.Event, { type: T }>['data']['object'];

export interface RequestInfo {
  id: string | null;
  idempotency_key: string | null;
}

/** What automatic events carry (renewals, expiries, what the customer does on a hosted page): no API request. */
export const NO_REQUEST: RequestInfo = Object.freeze({ id: null, idempotency_key: null });

export interface ResourceType {
  /** the `object` value, e.g. 'customer', 'payment_intent', 'checkout.session' */
  object: string;
  /** id prefix without the underscore, e.g. 'cus' */
  prefix: string;
  /** the name Stripe's "No such ..." messages use, e.g. 'customer', 'PaymentMethod', 'payment_intent' */
  name: string;
}

export type EventListener = (event: Stripe.EventBase) => void;
export type VirtualExpander = (owner: Record<string, unknown>, ctx: EmulatorContext) => unknown;

export interface EmitOptions {
  /** the request shown in `event.request`; defaults to the API request being handled, or none */
  request?: RequestInfo | null;
  /** event creation time; defaults to the clock of the object's customer */
  created?: number;
}

/**
 * Everything a resource module needs: the store, the clock, the event bus and a few registries.
 * One instance per running emulator.
 */
export class EmulatorContext {
  readonly apiVersion = API_VERSION;
  /** the emulator's own base URL (http://127.0.0.1:port), known once it listens */
  baseUrl = '';

  private readonly types = new Map<string, ResourceType>();
  private readonly listeners: Array<{ pattern: string; fn: EventListener }> = [];
  private readonly expandables = new Map<string, VirtualExpander>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private clockSource: ((testClockId: string) => number | undefined) | undefined;
  private readonly requestScope = new AsyncLocalStorage<RequestInfo>();
  private stopped = false;

  constructor(
    readonly store: Store,
    readonly webhooks: WebhookDispatcher,
    readonly log: (msg: string, fields?: object) => void,
  ) {}

  // ---------------------------------------------------------------- ids and types

  newId(prefix: string): string {
    return newId(prefix);
  }

  registerType(type: ResourceType): void {
    this.types.set(type.object, type);
  }

  typeOf(object: string): ResourceType | undefined {
    return this.types.get(object);
  }

  /** A live object of a registered type, or Stripe's 404 `resource_missing` ("No such customer: 'cus_x'"). */
  retrieve<T extends StoredObject>(object: string, id: string | undefined | null, param = 'id'): T {
    const found = id ? this.store.find<T>(object, id) : undefined;
    if (!found) throw resourceMissing(this.types.get(object)?.name ?? object, id ?? '', param);
    return found;
  }

  // ---------------------------------------------------------------- clock

  /**
   * Current time in unix seconds. With a customer id whose customer belongs to a test clock, the
   * clock's frozen time (from the clock source, or the `frozen_time` of the stored clock object).
   */
  now(customerId?: string | null): number {
    if (customerId) {
      const customer = this.store.get<StoredObject & { test_clock?: unknown }>(customerId);
      const clockId = customer?.test_clock;
      if (typeof clockId === 'string') {
        const t = this.clockTime(clockId);
        if (t !== undefined) return t;
      }
    }
    return Math.floor(Date.now() / 1000);
  }

  /** The time of a test clock, undefined when it does not exist. */
  clockTime(testClockId: string): number | undefined {
    if (this.clockSource) {
      const t = this.clockSource(testClockId);
      if (t !== undefined) return t;
    }
    const clock = this.store.get<StoredObject & { frozen_time?: unknown }>(testClockId);
    return typeof clock?.frozen_time === 'number' ? clock.frozen_time : undefined;
  }

  /** Replaces how a test clock's time is found (the test clock module may install its own). */
  setClockSource(fn: (testClockId: string) => number | undefined): void {
    this.clockSource = fn;
  }

  /** The clock of whatever customer an object belongs to (`customer` field, or the customer itself). */
  nowFor(obj: unknown): number {
    return this.now(customerOf(obj));
  }

  // ---------------------------------------------------------------- events

  /** Runs `fn` with `info` as the request that emitted events are attributed to. */
  withRequest<T>(info: RequestInfo, fn: () => T): T {
    return this.requestScope.run(info, fn);
  }

  currentRequest(): RequestInfo | undefined {
    return this.requestScope.getStore();
  }

  /**
   * Records an event (a snapshot of `object` now), runs the internal listeners synchronously, then
   * schedules webhook deliveries to every enabled endpoint that wants this type.
   */
  emit<T extends Stripe.Event.Type>(
    type: T,
    object: EventObject<T>,
    previousAttributes?: object | null,
    opts: EmitOptions = {},
  ): Stripe.EventBase {
    const snapshot = JSON.parse(JSON.stringify(object)) as Stripe.Event.Data.Object;
    const endpoints = this.store
      .all<Stripe.WebhookEndpoint>('webhook_endpoint')
      .filter((e) => e.status === 'enabled' && (e.enabled_events.includes('*') || e.enabled_events.includes(type)));
    const request = opts.request !== undefined ? opts.request : (this.currentRequest() ?? null);
    const event: Stripe.EventBase = {
      id: this.newId('evt'),
      object: 'event',
      api_version: this.apiVersion,
      created: opts.created ?? this.nowFor(object),
      data: previousAttributes
        ? { object: snapshot, previous_attributes: previousAttributes as Stripe.Event.Data.PreviousAttributes }
        : { object: snapshot },
      livemode: false,
      pending_webhooks: endpoints.length,
      request: request ? { id: request.id, idempotency_key: request.idempotency_key } : { id: null, idempotency_key: null },
      type,
    };
    this.store.insert(event);
    for (const l of this.listeners) if (matches(l.pattern, type)) l.fn(event);
    for (const endpoint of endpoints) this.webhooks.enqueue(event, endpoint);
    return event;
  }

  /** Internal, synchronous subscription to emitted events. `pattern`: a type, `prefix.*`, or `*`. */
  on(pattern: string, fn: EventListener): void {
    this.listeners.push({ pattern, fn });
  }

  // ---------------------------------------------------------------- expansion

  /**
   * Declares a field that is absent from the stored object but appears when expanded
   * (e.g. `charge.refunds`, `customer.subscriptions`). The resolver returns the expanded value.
   */
  registerExpandable(object: string, field: string, resolver: VirtualExpander): void {
    this.expandables.set(`${object}.${field}`, resolver);
  }

  expandable(object: string, field: string): VirtualExpander | undefined {
    return this.expandables.get(`${object}.${field}`);
  }

  // ---------------------------------------------------------------- timers

  /** A timer cleared when the emulator stops. Returns a cancel function. */
  schedule(delayMs: number, fn: () => void): () => void {
    if (this.stopped) return () => undefined;
    const t = setTimeout(() => {
      this.timers.delete(t);
      try {
        fn();
      } catch (err) {
        this.log('scheduled task failed', { error: (err as Error).stack ?? String(err) });
      }
    }, delayMs);
    t.unref();
    this.timers.add(t);
    return () => {
      clearTimeout(t);
      this.timers.delete(t);
    };
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

function matches(pattern: string, type: string): boolean {
  if (pattern === '*' || pattern === type) return true;
  if (pattern.endsWith('.*')) return type.startsWith(pattern.slice(0, -1));
  return false;
}

export function customerOf(obj: unknown): string | null {
  if (!obj || typeof obj !== 'object') return null;
  const o = obj as { object?: unknown; id?: unknown; customer?: unknown };
  if (o.object === 'customer' && typeof o.id === 'string') return o.id;
  if (typeof o.customer === 'string') return o.customer;
  if (o.customer && typeof o.customer === 'object' && typeof (o.customer as { id?: unknown }).id === 'string')
    return (o.customer as { id: string }).id;
  return null;
}

/** `previous_attributes` for an update: the old values of what changed (recursing into hashes, as Stripe does). */
export function diff(before: unknown, after: unknown): Record<string, unknown> | null {
  if (!isPlain(before) || !isPlain(after)) return null;
  const out: Record<string, unknown> = {};
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  for (const k of keys) {
    const a = before[k];
    const b = after[k];
    if (JSON.stringify(a) === JSON.stringify(b)) continue;
    if (isPlain(a) && isPlain(b) && k !== 'items' && k !== 'data') {
      out[k] = diff(a, b) ?? a;
    } else {
      out[k] = a === undefined ? null : a;
    }
  }
  return Object.keys(out).length ? out : null;
}

function isPlain(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

/** A deep copy through JSON (what a client would see). */
export function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

export { ApiError, invalidRequest };
