import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { startEmulator, type EmulatorHandle, type EmulatorOptions } from '../../src/emulator';

export interface TestEmulator {
  em: EmulatorHandle;
  stripe: Stripe;
}

/** An in-process emulator on a free port and the official SDK pointed at it. */
export async function startTestEmulator(opts: EmulatorOptions = {}): Promise<TestEmulator> {
  const em = await startEmulator({ webhookRetryDelaysMs: [30, 60, 120], ...opts });
  const stripe = sdk(em);
  return { em, stripe };
}

export function sdk(em: Pick<EmulatorHandle, 'host' | 'port' | 'protocol'>, key = 'sk_test_emulator'): Stripe {
  return new Stripe(key, { host: em.host, port: em.port, protocol: em.protocol, maxNetworkRetries: 0 });
}

export interface RawResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: any;
}

/** A plain HTTP request to the emulator (for what the SDK hides: headers, raw bodies, pages). */
export function raw(
  em: EmulatorHandle,
  method: string,
  path: string,
  opts: { body?: string; headers?: Record<string, string>; auth?: string | null } = {},
): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.auth !== null) headers['Authorization'] = opts.auth ?? 'Bearer sk_test_raw';
    if (opts.body !== undefined) {
      headers['Content-Type'] ??= 'application/x-www-form-urlencoded';
      headers['Content-Length'] = String(Buffer.byteLength(opts.body));
    }
    const req = http.request({ host: em.host, port: em.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

export interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  status: number;
}

export interface Receiver {
  url: string;
  port: number;
  received: Received[];
  /** status to answer for the n-th request (0-based); default 200 */
  respond: (index: number, body: string) => number;
  close(): Promise<void>;
}

/** A local webhook endpoint that records what it gets. */
export async function startReceiver(respond: (index: number, body: string) => number = () => 200): Promise<Receiver> {
  const received: Received[] = [];
  const r: Receiver = { url: '', port: 0, received, respond, close: async () => undefined };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const status = r.respond(received.length, body);
      received.push({ headers: req.headers, body, status });
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  r.port = (server.address() as AddressInfo).port;
  r.url = `http://127.0.0.1:${r.port}/webhooks/stripe`;
  r.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return r;
}

/** Runs `fn` expecting a rejection; returns the error (fails the test when nothing is thrown). */
export async function rejection<T = any>(fn: () => Promise<unknown>): Promise<T> {
  try {
    await fn();
  } catch (err) {
    return err as T;
  }
  throw new Error('expected the call to fail, it succeeded');
}

/** The types of the events after `since` (all events without it), oldest first. */
export async function eventTypes(stripe: Stripe, since?: string): Promise<string[]> {
  const out: string[] = [];
  // with ending_before the SDK iterates towards newer events, oldest first
  if (since) for await (const e of stripe.events.list({ ending_before: since, limit: 100 })) out.push(e.type);
  else for await (const e of stripe.events.list({ limit: 100 })) out.unshift(e.type);
  return out;
}

export async function latestEventId(stripe: Stripe): Promise<string | undefined> {
  return (await stripe.events.list({ limit: 1 })).data[0]?.id;
}

/** Card only: no redirect-based payment methods, so confirming needs no return_url. */
export const CARD: Pick<Stripe.PaymentIntentCreateParams, 'allowed_payment_method_types'> = { allowed_payment_method_types: ['card'] };
