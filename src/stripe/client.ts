import type { Agent } from 'node:http';
import Stripe from 'stripe';
import type { StripeEndpoint } from './proxyRoute';

/**
 * The one place a Stripe SDK client is made. Production points it at api.stripe.com; local mode points
 * the same SDK at the emulator (host/port/protocol). Everything else in the code base receives a client.
 */
export interface StripeTarget {
  secretKey: string;
  host?: string;
  port?: number;
  protocol?: 'http' | 'https';
  httpAgent?: Agent;
  /** Network retries made by the SDK itself (it reuses the idempotency key on each). */
  maxNetworkRetries?: number;
  timeoutMs?: number;
}

export function createStripeClient(target: StripeTarget): Stripe {
  return new Stripe(target.secretKey, {
    host: target.host,
    port: target.port,
    protocol: target.protocol,
    httpAgent: target.httpAgent,
    maxNetworkRetries: target.maxNetworkRetries ?? 2,
    timeout: target.timeoutMs ?? 20_000,
    appInfo: { name: 'Tollgate' },
  });
}

/** What the rest of the server knows about Stripe. */
export interface StripeContext {
  client: Stripe;
  /** Signing secret of our webhook endpoint (local mode: the one the emulator returned). */
  webhookSecret?: string;
  /** "emulator" in local mode, else "test" or "live" from the key. */
  mode: 'emulator' | 'test' | 'live';
  /** Where Stripe is and how it is reached (directly or which proxy, masked): for messages, /readyz, the banner. */
  endpoint: StripeEndpoint;
}

export function keyMode(secretKey: string): 'test' | 'live' {
  return /^(sk|rk)_live_/.test(secretKey) ? 'live' : 'test';
}

/** Prefix of every idempotency key we send, so Stripe-side logs and events tell our own writes apart. */
export const IDEMPOTENCY_PREFIX = 'tollgate';

export function idempotencyKey(...parts: Array<string | number>): string {
  return [IDEMPOTENCY_PREFIX, ...parts].join(':');
}
