import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics (GET /metrics, README "Metrics"). Counters and histograms are made once per process
 * and recording is one inc()/observe() on the hot path. Every label comes from a bounded set: schema
 * field names, error codes, known metrics, Stripe event types and API paths with ids replaced.
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'tollgate_' });

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const graphqlRequests = new Counter({
  name: 'tollgate_graphql_requests_total',
  help: 'GraphQL operations by their first root field and outcome (ok or the error code)',
  labelNames: ['operation', 'outcome'] as const,
  registers: [registry],
});
export const graphqlDuration = new Histogram({
  name: 'tollgate_graphql_request_duration_seconds',
  help: 'GraphQL operation latency by first root field',
  labelNames: ['operation'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});
export const usageConsumed = new Counter({
  name: 'tollgate_usage_consumed_total',
  help: 'Usage recorded, in the metric unit',
  labelNames: ['metric'] as const,
  registers: [registry],
});
export const usageRefused = new Counter({
  name: 'tollgate_usage_refused_total',
  help: 'recordUsage calls refused with LIMIT_EXCEEDED',
  labelNames: ['metric'] as const,
  registers: [registry],
});
export const stripeCalls = new Counter({
  name: 'tollgate_stripe_requests_total',
  help: 'Stripe API requests by method, route (ids replaced by :id) and HTTP status class',
  labelNames: ['method', 'route', 'outcome'] as const,
  registers: [registry],
});
export const stripeDuration = new Histogram({
  name: 'tollgate_stripe_request_duration_seconds',
  help: 'Stripe API request latency by method and route',
  labelNames: ['method', 'route'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});
export const webhookEvents = new Counter({
  name: 'tollgate_webhook_events_total',
  help: 'Stripe webhook deliveries (queued, ignored, duplicate, refused) and processing attempts (processed, retrying, failed) by event type',
  labelNames: ['type', 'outcome'] as const,
  registers: [registry],
});
export const webhookDelay = new Histogram({
  name: 'tollgate_webhook_processing_delay_seconds',
  help: 'Time from storing a Stripe event to processing it, by event type',
  labelNames: ['type'] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600],
  registers: [registry],
});

/** /v1/customers/cus_123/sources -> /v1/customers/:id/sources: one series per route, not per object. */
export function stripeRoute(path: string): string {
  return (
    path
      .split('?')[0]
      .split('/')
      // An object id (cus_N4x..., pi_3Ab...) has a digit or capital; a resource name (payment_intents) has none.
      .map((part) => (/_/.test(part) && /[A-Z0-9]/.test(part) ? ':id' : part))
      .join('/')
  );
}

/** Gauges read when scraped from the server's own resources (its database), in a registry of their own. */
export function resourceGauges(read: {
  inboxBacklog(): Promise<number>;
  pool(): { used: number; free: number; pending: number };
}): Registry {
  const own = new Registry();
  new Gauge({
    name: 'tollgate_webhook_inbox_backlog',
    help: 'Stored Stripe events not yet processed (pending or failed)',
    registers: [own],
    async collect() {
      this.set(await read.inboxBacklog());
    },
  });
  new Gauge({
    name: 'tollgate_db_pool_connections',
    help: 'Database pool connections by state (used, free, pending acquisitions)',
    labelNames: ['state'] as const,
    registers: [own],
    collect() {
      const pool = read.pool();
      this.set({ state: 'used' }, pool.used);
      this.set({ state: 'free' }, pool.free);
      this.set({ state: 'pending' }, pool.pending);
    },
  });
  return own;
}

/** The text a scrape answers: the process-wide metrics and the server's own gauges. */
export async function scrape(own: Registry): Promise<{ contentType: string; body: string }> {
  const merged = Registry.merge([registry, own]);
  return { contentType: merged.contentType, body: await merged.metrics() };
}
