import Stripe from 'stripe';
import { DomainError } from '../errors';
import type { Logger } from '../logger';
import { ProxyConnectError, ProxyTimeoutError, ProxyTunnelError } from './agent';
import { isLoopback, type StripeEndpoint } from './proxyRoute';

/**
 * Why a Stripe call failed, in terms an operator can act on. Every failure names the Stripe host, the
 * route (directly, or which proxy, credentials masked) and a fix. The reasons:
 *
 * - proxy_refused: the proxy answered the CONNECT with a status other than 200 (403, 502, ...)
 * - proxy_auth: the proxy wants credentials, or other ones (407)
 * - proxy_unreachable: no connection to the proxy itself
 * - dns, connection, tls, timeout: the connection to Stripe (directly or inside the tunnel)
 * - stripe_error: Stripe (or whatever answers for it) failed with 5xx or an answer that is not its API
 * - rate_limited: 429
 * - invalid_api_key, permission: the key; clients only learn that the service is unavailable
 */
export type FailureReason =
  | 'proxy_refused'
  | 'proxy_auth'
  | 'proxy_unreachable'
  | 'dns'
  | 'connection'
  | 'tls'
  | 'timeout'
  | 'stripe_error'
  | 'rate_limited'
  | 'invalid_api_key'
  | 'permission';

export interface StripeFailure {
  reason: FailureReason;
  /** What went wrong, one clause, no secrets. */
  problem: string;
  fix: string;
  /** The key is at fault: the details are for the operator's log, clients get a generic message. */
  operatorOnly: boolean;
  proxyStatus?: number;
  httpStatus?: number;
}

/** Used when a caller has no endpoint to give (the message then says "Stripe"). */
const UNKNOWN_ENDPOINT: StripeEndpoint = { host: 'Stripe', hostname: 'Stripe', address: 'Stripe', route: 'directly', timeoutMs: 0 };

const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA']);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT']);
const TLS_CODE =
  /^(CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|HOSTNAME_MISMATCH|ERR_TLS_|ERR_SSL_|ERR_OSSL_|EPROTO$)/;
/** The SDK's own request timeout error carries this code (stripe's HttpClient.TIMEOUT_ERROR_CODE). */
const HTTP_TIMEOUT_CODE = 'ETIMEDOUT';
export const GENERIC_UNAVAILABLE = 'The payment service is unavailable. Try again later.';

type NetError = Error & { code?: string; hostname?: string };

/** Classifies a failure of the Stripe SDK; undefined for what is not about reaching Stripe (declines, bad requests). */
export function classifyStripeFailure(err: unknown, endpoint: StripeEndpoint = UNKNOWN_ENDPOINT): StripeFailure | undefined {
  if (!(err instanceof Stripe.errors.StripeError)) return undefined;
  if (err instanceof Stripe.errors.StripeConnectionError) return classifyConnection(err, endpoint);
  if (err instanceof Stripe.errors.StripeAuthenticationError) {
    return {
      reason: 'invalid_api_key',
      problem: `refused the API key (HTTP ${err.statusCode ?? 401}: ${err.message})`,
      fix: 'set STRIPE_SECRET_KEY to a valid secret key (Stripe Dashboard > Developers > API keys)',
      operatorOnly: true,
      httpStatus: err.statusCode ?? 401,
    };
  }
  if (err instanceof Stripe.errors.StripePermissionError) {
    return {
      reason: 'permission',
      problem: `refused the request for this API key (HTTP ${err.statusCode ?? 403}: ${err.message})`,
      fix: 'use a secret key, or give the restricted key read and write access to customers, products, prices, subscriptions, Checkout and payment intents',
      operatorOnly: true,
      httpStatus: err.statusCode ?? 403,
    };
  }
  if (err instanceof Stripe.errors.StripeRateLimitError) {
    return {
      reason: 'rate_limited',
      problem: `Stripe is limiting the request rate (HTTP 429), ${endpoint.route}`,
      fix: 'try again shortly',
      operatorOnly: false,
      httpStatus: 429,
    };
  }
  const status = err.statusCode ?? 0;
  if (err instanceof Stripe.errors.StripeAPIError || status >= 500) {
    if (/^Invalid JSON received/i.test(err.message)) {
      return {
        reason: 'stripe_error',
        problem: `${endpoint.host} answered${status ? ` HTTP ${status}` : ''} with something that is not the Stripe API (no JSON), ${endpoint.route}`,
        fix: 'check that STRIPE_API_BASE is the Stripe API and that no proxy or firewall answers in its place',
        operatorOnly: false,
        httpStatus: status || undefined,
      };
    }
    return {
      reason: 'stripe_error',
      problem: `Stripe answered HTTP ${status || '?'} (${err.message}), ${endpoint.route}`,
      fix: "this is on Stripe's side: try again later, and see status.stripe.com",
      operatorOnly: false,
      httpStatus: status || undefined,
    };
  }
  return undefined;
}

function classifyConnection(err: Stripe.errors.StripeConnectionError, endpoint: StripeEndpoint): StripeFailure {
  const cause = (err as { detail?: unknown }).detail as NetError | undefined;
  const { proxy, hostname, address, route } = endpoint;
  const bypass =
    endpoint.proxySource === 'STRIPE_PROXY'
      ? 'set STRIPE_PROXY=none or to another proxy'
      : `add ${hostname} to NO_PROXY, or set STRIPE_PROXY=none`;
  const fail = (reason: FailureReason, problem: string, fix: string, extra: Partial<StripeFailure> = {}): StripeFailure => ({
    reason,
    problem,
    fix,
    operatorOnly: false,
    ...extra,
  });

  if (cause instanceof ProxyTunnelError) {
    const status = cause.status;
    if (status === 407) {
      return fail(
        'proxy_auth',
        endpoint.proxyHasCredentials
          ? `the proxy ${cause.proxy} did not accept its credentials (HTTP 407)`
          : `the proxy ${cause.proxy} requires authentication (HTTP 407)`,
        `put the proxy's user name and password in ${endpoint.proxySource ?? 'the proxy URL'} (http://user:password@host:port)`,
        { proxyStatus: status },
      );
    }
    if (status >= 500) {
      return fail(
        'proxy_refused',
        `the proxy ${cause.proxy} could not open a tunnel to ${cause.target} (HTTP ${status})`,
        `check that the proxy itself can reach ${hostname} (its DNS and firewall), or ${bypass}`,
        { proxyStatus: status },
      );
    }
    return fail(
      'proxy_refused',
      `the proxy ${cause.proxy} refused to tunnel to ${cause.target} (HTTP ${status})`,
      `${bypass}, or allow the host in the proxy`,
      {
        proxyStatus: status,
      },
    );
  }
  if (cause instanceof ProxyTimeoutError) {
    return fail(
      'timeout',
      cause.message,
      `check that ${endpoint.proxySource ?? 'the proxy setting'} names a working proxy, or raise STRIPE_TIMEOUT_MS`,
    );
  }
  if (cause instanceof ProxyConnectError) {
    const inner = cause.cause as NetError | undefined;
    const code = inner?.code;
    const fix = `check that ${endpoint.proxySource ?? 'the proxy setting'} names a running proxy, or set STRIPE_PROXY=none to connect directly`;
    if (code && DNS_CODES.has(code))
      return fail('proxy_unreachable', `the proxy host name ${new URL(cause.proxy).hostname} could not be resolved (${code})`, fix);
    if (code === 'ECONNREFUSED') return fail('proxy_unreachable', `the proxy ${cause.proxy} refused the connection (ECONNREFUSED)`, fix);
    if (/ended before receiving CONNECT response/i.test(inner?.message ?? '')) {
      return fail('proxy_unreachable', `the proxy ${cause.proxy} closed the connection without answering the CONNECT request`, fix);
    }
    return fail('proxy_unreachable', `the proxy ${cause.proxy} could not be reached (${code ?? inner?.message ?? 'no answer'})`, fix);
  }

  const code = cause?.code;
  const via = proxy ? `through the proxy ${proxy}` : route;
  const networkFix = endpoint.localEmulatorHint
    ? endpoint.localEmulatorHint
    : !proxy && isLoopback(hostname)
      ? `check that the Stripe API at ${address} (STRIPE_API_BASE, or the local emulator) is running`
      : proxy
        ? `check the network path from the proxy to ${hostname}, or ${bypass}`
        : `check this machine's network and firewall; if it reaches the internet only through a proxy, set HTTPS_PROXY${
            /NO_PROXY/i.test(route) ? ` and take ${hostname} out of NO_PROXY` : ''
          }, or STRIPE_PROXY`;
  if (code === HTTP_TIMEOUT_CODE && /timeout/i.test(err.message)) {
    const ms = /\((\d+)ms\)/.exec(err.message)?.[1] ?? endpoint.timeoutMs;
    return fail(
      'timeout',
      `no answer from ${address} within ${ms} ms, ${via}`,
      `check the network path to ${hostname}, or raise STRIPE_TIMEOUT_MS`,
    );
  }
  if (code && TIMEOUT_CODES.has(code)) {
    return fail(
      'timeout',
      `the connection to ${address} timed out (${code}), ${via}`,
      `check the network path to ${hostname}, or raise STRIPE_TIMEOUT_MS`,
    );
  }
  if (code && DNS_CODES.has(code)) {
    return fail('dns', `the host name ${hostname} could not be resolved (${code}), connecting ${route}`, networkFix);
  }
  if (code && TLS_CODE.test(code)) {
    return fail(
      'tls',
      `the TLS connection to ${hostname} failed: ${cause?.message ?? code} (${code}), ${via}`,
      'if a proxy or firewall inspects TLS, trust its certificate authority with STRIPE_CA_FILE; check the system clock',
    );
  }
  return fail('connection', `the connection to ${address} failed (${code ?? cause?.message ?? err.message}), ${via}`, networkFix);
}

/**
 * No answer at all within `ms`, before the SDK itself gave up: a caller that cannot wait as long as a
 * Stripe call may (the readiness check) uses this. A proxy that holds the CONNECT is the usual cause.
 */
export function noAnswerFailure(endpoint: StripeEndpoint, ms: number): StripeFailure {
  const { address, hostname, proxy, proxySource, route } = endpoint;
  return {
    reason: 'timeout',
    problem: `no answer from ${address} within ${ms} ms, ${proxy ? `through the proxy ${proxy}` : route}`,
    fix: proxy
      ? `check that ${proxySource ?? 'the proxy setting'} names a working proxy and the network path to ${hostname}, or raise STRIPE_TIMEOUT_MS`
      : `check the network path to ${hostname}, or raise STRIPE_TIMEOUT_MS`,
    operatorOnly: false,
  };
}

/** The whole story, for operators (logs, doctor, command-line scripts). */
export function operatorMessage(failure: StripeFailure, endpoint: StripeEndpoint = UNKNOWN_ENDPOINT): string {
  if (failure.operatorOnly) return `Stripe at ${endpoint.host} answered ${endpoint.route}, but ${failure.problem}; fix: ${failure.fix}.`;
  return clientMessage(failure, endpoint);
}

/** What a client of the API sees: the host, the route and the fix; nothing about the key. */
export function clientMessage(failure: StripeFailure, endpoint: StripeEndpoint = UNKNOWN_ENDPOINT): string {
  if (failure.operatorOnly) return GENERIC_UNAVAILABLE;
  const what =
    failure.reason === 'stripe_error' ? 'failed to answer' : failure.reason === 'rate_limited' ? 'is busy' : 'could not be reached';
  return `The payment service at ${endpoint.host} ${what}: ${failure.problem}; fix: ${failure.fix}.`;
}

/**
 * Turns a Stripe SDK failure into what a client should see: a card problem is PAYMENT_FAILED with
 * Stripe's decline code; Stripe unreachable, failing or refusing our key is PAYMENT_SERVICE_UNAVAILABLE
 * (for the key, with a generic message). Anything else (a request we built wrong) is returned as is: it
 * is logged as internal, never shown.
 */
export function toDomainError(err: unknown, endpoint?: StripeEndpoint): unknown {
  if (err instanceof Stripe.errors.StripeCardError) {
    return new DomainError('PAYMENT_FAILED', err.message, {
      declineCode: err.decline_code ?? err.code ?? 'card_declined',
      stripeCode: err.code,
    });
  }
  const failure = classifyStripeFailure(err, endpoint);
  if (!failure) return err;
  return new DomainError('PAYMENT_SERVICE_UNAVAILABLE', clientMessage(failure, endpoint), failureExtensions(failure, endpoint));
}

function failureExtensions(failure: StripeFailure, endpoint: StripeEndpoint = UNKNOWN_ENDPOINT): Record<string, unknown> {
  if (failure.operatorOnly) return { reason: 'configuration' };
  return {
    reason: failure.reason,
    stripeHost: endpoint.host,
    ...(endpoint.proxy ? { proxy: endpoint.proxy } : {}),
    ...(failure.proxyStatus ? { proxyStatus: failure.proxyStatus } : {}),
    fix: failure.fix,
  };
}

/** Who is calling Stripe: where it is (for messages) and where to log a failure. BillingDeps fits. */
export interface StripeCallTarget {
  stripeEndpoint?: StripeEndpoint;
  logger?: Logger;
}

/** Runs a Stripe call; a failure to reach Stripe is logged for the operator and thrown as a DomainError. */
export async function callStripe<T>(fn: () => Promise<T>, target: StripeCallTarget = {}): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    logStripeFailure(err, target);
    throw toDomainError(err, target.stripeEndpoint);
  }
}

export function logStripeFailure(err: unknown, { stripeEndpoint, logger }: StripeCallTarget): void {
  const failure = classifyStripeFailure(err, stripeEndpoint);
  if (!failure || !logger) return;
  const fields = { reason: failure.reason, stripeHost: stripeEndpoint?.host, route: stripeEndpoint?.route };
  if (failure.operatorOnly || failure.reason === 'stripe_error') logger.error(fields, operatorMessage(failure, stripeEndpoint));
  else logger.warn(fields, operatorMessage(failure, stripeEndpoint));
}
