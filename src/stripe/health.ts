import type Stripe from 'stripe';
import type { Logger } from '../logger';
import { classifyStripeFailure, clientMessage, noAnswerFailure, operatorMessage, type FailureReason, type StripeFailure } from './errors';
import type { StripeEndpoint } from './proxyRoute';

/**
 * Whether Stripe answers, and accepts our key: one small read (the first price), without the SDK's
 * retries. The route is the client's own, so the answer is about the exact path payments take.
 */
export type StripeProbe = { ok: true; server?: string } | { ok: false; failure: StripeFailure; error: unknown };

export async function probeStripe(client: Stripe, endpoint: StripeEndpoint, timeoutMs = endpoint.timeoutMs): Promise<StripeProbe> {
  try {
    const answer = await client.prices.list({ limit: 1 }, { maxNetworkRetries: 0, timeout: timeoutMs });
    /** The Server header: the local emulator names itself there (EMULATOR_SERVER_HEADER). */
    const server = answer.lastResponse?.headers?.server;
    return { ok: true, ...(server ? { server } : {}) };
  } catch (err) {
    const failure = classifyStripeFailure(err, endpoint);
    if (!failure) throw err;
    return { ok: false, failure, error: err };
  }
}

/** The Stripe part of /readyz. Failures caused by the key say "configuration" only, as GraphQL errors do. */
export interface StripeReadiness {
  status: 'ok' | 'unavailable';
  host: string;
  route: string;
  reason?: FailureReason | 'configuration';
  message?: string;
  checkedAt: string;
}

/**
 * A readiness check that asks Stripe at most once per `cacheMs` (concurrent callers share one probe) and
 * logs when the answer changes, with the operator's version of the message.
 */
export function stripeReadiness(client: Stripe, endpoint: StripeEndpoint, logger: Logger, cacheMs: number): () => Promise<StripeReadiness> {
  let last: { value: StripeReadiness; at: number } | undefined;
  let running: Promise<StripeReadiness> | undefined;
  const timeoutMs = Math.min(endpoint.timeoutMs, 5000);

  const check = async (): Promise<StripeReadiness> => {
    // The SDK's timeout starts once a connection exists: a proxy holding the CONNECT is bounded only by
    // the agent's (STRIPE_TIMEOUT_MS). /readyz answers within about `timeoutMs` whatever happens.
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<StripeProbe>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, failure: noAnswerFailure(endpoint, timeoutMs), error: undefined }), timeoutMs + 250);
    });
    const probe = await Promise.race([
      probeStripe(client, endpoint, timeoutMs).catch((error: unknown) => ({ ok: false as const, error, failure: undefined })),
      deadline,
    ]).finally(() => clearTimeout(timer));
    const base = { host: endpoint.host, route: endpoint.route, checkedAt: new Date().toISOString() };
    let value: StripeReadiness;
    if (probe.ok) {
      value = { status: 'ok', ...base };
      if (last && last.value.status !== 'ok') logger.info({ stripeHost: endpoint.host }, 'Stripe is reachable again');
    } else if (!probe.failure) {
      value = {
        status: 'unavailable',
        ...base,
        reason: 'stripe_error',
        message: `The payment service at ${endpoint.host} gave an unexpected answer.`,
      };
      logger.error({ err: probe.error, stripeHost: endpoint.host }, 'unexpected answer to the Stripe readiness check');
    } else {
      const { failure } = probe;
      value = {
        status: 'unavailable',
        ...base,
        reason: failure.operatorOnly ? 'configuration' : failure.reason,
        message: clientMessage(failure, endpoint),
      };
      if (!last || last.value.status === 'ok' || last.value.reason !== value.reason) {
        logger[failure.operatorOnly ? 'error' : 'warn'](
          { reason: failure.reason, stripeHost: endpoint.host },
          operatorMessage(failure, endpoint),
        );
      }
    }
    last = { value, at: Date.now() };
    return value;
  };

  return async () => {
    if (last && Date.now() - last.at < cacheMs) return last.value;
    running ??= check().finally(() => {
      running = undefined;
    });
    return running;
  };
}
