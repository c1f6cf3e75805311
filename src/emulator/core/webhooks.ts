import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type Stripe from 'stripe';
import { randomToken } from './ids';

/** `Stripe-Signature` exactly as Stripe computes it: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.payload">`. */
export function signPayload(payload: string, secret: string, timestamp = Math.floor(Date.now() / 1000)): string {
  const v1 = createHmac('sha256', secret).update(`${timestamp}.${payload}`, 'utf8').digest('hex');
  return `t=${timestamp},v1=${v1}`;
}

export interface DeliveryAttempt {
  /** unix milliseconds when the attempt started */
  at: number;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
}

export interface Delivery {
  id: string;
  object: 'webhook_delivery';
  event: string;
  event_type: string;
  endpoint: string;
  url: string;
  status: 'pending' | 'succeeded' | 'failed';
  attempts: DeliveryAttempt[];
  /** unix milliseconds of the next scheduled attempt, null when none */
  next_attempt_at: number | null;
}

export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [500, 2_000, 10_000, 30_000, 60_000, 300_000];
const ATTEMPT_TIMEOUT_MS = 10_000;
const MAX_KEPT_DELIVERIES = 5_000;

/**
 * Asynchronous, independent webhook deliveries. Each (event, endpoint) pair is attempted on its own timer,
 * so deliveries are not ordered; a non-2xx answer, a refused connection or a timeout is retried after
 * each delay of `retryDelaysMs`, then given up. `idle()` resolves once nothing is pending or in flight.
 */
export class WebhookDispatcher {
  private readonly deliveries = new Map<string, Delivery>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<http.ClientRequest>();
  private active = 0;
  private waiters: Array<() => void> = [];
  private stopped = false;
  private readonly httpAgent = new http.Agent({ keepAlive: false });
  private readonly httpsAgent = new https.Agent({ keepAlive: false });

  constructor(
    private readonly opts: {
      retryDelaysMs: readonly number[];
      log: (msg: string, fields?: object) => void;
      /** called once a delivery succeeded, to decrement the event's pending_webhooks */
      onDelivered: (eventId: string) => void;
      /** false once an endpoint is deleted or disabled: its pending deliveries are dropped */
      endpointActive?: (endpointId: string) => boolean;
    },
  ) {}

  enqueue(event: Stripe.EventBase, endpoint: Stripe.WebhookEndpoint): Delivery {
    const delivery: Delivery = {
      id: `whdel_${randomToken(24)}`,
      object: 'webhook_delivery',
      event: event.id,
      event_type: event.type,
      endpoint: endpoint.id,
      url: endpoint.url,
      status: 'pending',
      attempts: [],
      next_attempt_at: Date.now(),
    };
    this.deliveries.set(delivery.id, delivery);
    this.trim();
    this.active++;
    // The payload is rendered now (the event as it is at emission), signed at each attempt.
    const payload = JSON.stringify(event, null, 2);
    const secret = endpoint.secret ?? '';
    // A few milliseconds of jitter: like Stripe's, deliveries are not ordered.
    this.later(Math.floor(Math.random() * 5), () => this.attempt(delivery, payload, secret));
    return delivery;
  }

  list(filter: { event?: string; endpoint?: string; status?: string } = {}): Delivery[] {
    return [...this.deliveries.values()]
      .filter(
        (d) =>
          (!filter.event || d.event === filter.event) &&
          (!filter.endpoint || d.endpoint === filter.endpoint) &&
          (!filter.status || d.status === filter.status),
      )
      .reverse();
  }

  pendingCount(): number {
    return this.active;
  }

  /** Resolves when no delivery is pending or in flight; rejects after `timeoutMs` if given. */
  idle(timeoutMs?: number): Promise<void> {
    if (this.active === 0 || this.stopped) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        resolve();
      };
      this.waiters.push(done);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== done);
          const pending = this.list({ status: 'pending' }).map((d) => `${d.event_type} -> ${d.url} (${d.attempts.length} attempts)`);
          reject(new Error(`webhook deliveries still pending after ${timeoutMs} ms: ${pending.join('; ')}`));
        }, timeoutMs);
        timer.unref();
      }
    });
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const r of this.inFlight) r.destroy();
    this.inFlight.clear();
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
    for (const d of this.deliveries.values()) if (d.status === 'pending') d.next_attempt_at = null;
    this.active = 0;
    this.settle();
  }

  private later(ms: number, fn: () => void): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private attempt(delivery: Delivery, payload: string, secret: string): void {
    if (this.stopped) return;
    delivery.next_attempt_at = null;
    const started = Date.now();
    if (this.opts.endpointActive && !this.opts.endpointActive(delivery.endpoint)) {
      delivery.attempts.push({ at: started, status_code: null, error: 'endpoint deleted or disabled', duration_ms: 0 });
      delivery.status = 'failed';
      this.finish();
      return;
    }
    const record = (status_code: number | null, error: string | null) => {
      delivery.attempts.push({ at: started, status_code, error, duration_ms: Date.now() - started });
      if (this.stopped) return;
      if (status_code !== null && status_code >= 200 && status_code < 300) {
        delivery.status = 'succeeded';
        this.opts.onDelivered(delivery.event);
        this.finish();
        return;
      }
      const delay = this.opts.retryDelaysMs[delivery.attempts.length - 1];
      this.opts.log('webhook delivery failed', {
        event: delivery.event,
        type: delivery.event_type,
        url: delivery.url,
        attempt: delivery.attempts.length,
        status: status_code,
        error,
        retry_in_ms: delay ?? null,
      });
      if (delay === undefined) {
        delivery.status = 'failed';
        this.finish();
        return;
      }
      delivery.next_attempt_at = Date.now() + delay;
      this.later(delay, () => this.attempt(delivery, payload, secret));
    };

    let url: URL;
    try {
      url = new URL(delivery.url);
    } catch {
      record(null, 'invalid URL');
      return;
    }
    const isHttps = url.protocol === 'https:';
    const body = Buffer.from(payload, 'utf8');
    let settled = false;
    const once = (status: number | null, error: string | null) => {
      if (settled) return;
      settled = true;
      record(status, error);
    };
    const req = (isHttps ? https : http).request(
      url,
      {
        method: 'POST',
        agent: isHttps ? this.httpsAgent : this.httpAgent,
        headers: {
          'Content-Type': 'application/json; charset=utf-8',
          'Content-Length': body.length,
          'User-Agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
          'Cache-Control': 'no-cache',
          Accept: '*/*; q=0.5, application/xml',
          'Stripe-Signature': signPayload(payload, secret),
        },
        timeout: ATTEMPT_TIMEOUT_MS,
      },
      (res) => {
        res.resume();
        res.on('end', () => once(res.statusCode ?? null, null));
        res.on('error', (err) => once(res.statusCode ?? null, err.message));
      },
    );
    this.inFlight.add(req);
    req.on('close', () => this.inFlight.delete(req));
    req.on('timeout', () => req.destroy(new Error(`timed out after ${ATTEMPT_TIMEOUT_MS} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => once(null, err.code ? `${err.code}: ${err.message}` : err.message));
    req.end(body);
  }

  private finish(): void {
    this.active = Math.max(0, this.active - 1);
    if (this.active === 0) this.settle();
  }

  private settle(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const fn of w) fn();
  }

  private trim(): void {
    if (this.deliveries.size <= MAX_KEPT_DELIVERIES) return;
    for (const [id, d] of this.deliveries) {
      if (this.deliveries.size <= MAX_KEPT_DELIVERIES) break;
      if (d.status !== 'pending') this.deliveries.delete(id);
    }
  }
}
