import { DEFAULT_STRIPE_API_BASE, type Config } from '../config';
import { EMULATOR_SERVER_HEADER, startEmulator, type EmulatorHandle } from '../emulator';
import { keyMode } from '../stripe/client';
import { LOCAL_EMULATOR_KEY, openConfiguredStripe, openStripeApi, type StripeApi } from '../stripe/api';
import { operatorMessage } from '../stripe/errors';
import { probeStripe } from '../stripe/health';
import { describeRoute, maskProxyUrl, resolveStripeRoute } from '../stripe/proxyRoute';
import type { Check } from './doctorTypes';

/**
 * The Stripe checks of `npm run doctor`: the key's mode, the route to Stripe, whether Stripe (or the local
 * emulator) answers through it, and the webhook secret.
 */

export function stripeModeCheck(config: Config): Check {
  const name = 'stripe mode';
  const key = config.stripe.secretKey;
  if (!key) {
    const details = [
      ...(config.stripe.apiBaseSet ? ['STRIPE_API_BASE is ignored without STRIPE_SECRET_KEY'] : []),
      ...(config.nodeEnv === 'production' ? ['NODE_ENV=production without STRIPE_SECRET_KEY: no payment is real'] : []),
    ];
    return {
      name,
      status: details.length ? 'warn' : 'ok',
      summary: `local Stripe emulator (no STRIPE_SECRET_KEY): the server runs it on 127.0.0.1:${config.stripe.emulatorPort}`,
      details,
    };
  }
  const mode = keyMode(key);
  const { protocol, host, port } = config.stripe.apiBase;
  const where = `${protocol}://${host}:${port}`;
  const api = isRealStripeHost(host) ? `real Stripe API at ${where}` : `Stripe API at ${where} (STRIPE_API_BASE; not api.stripe.com)`;
  const summary = `${api} with a ${mode}-mode ${key.startsWith('rk_') ? 'restricted' : 'secret'} key (${maskKey(key)})`;
  if (mode === 'live' && config.nodeEnv !== 'production') {
    return { name, status: 'warn', summary, details: [`a live key with NODE_ENV=${config.nodeEnv}: payments are real`] };
  }
  return { name, status: 'ok', summary };
}

function isRealStripeHost(host: string): boolean {
  return host.toLowerCase() === new URL(DEFAULT_STRIPE_API_BASE).hostname;
}

/** What answered the probe: Tollgate's emulator names itself in the Server header. */
function whoAnswered(config: Config, server: string | undefined): { detail: string; emulator: boolean } {
  if (server === EMULATOR_SERVER_HEADER) {
    return {
      detail: "the answer came from Tollgate's Stripe emulator (Server: tollgate-stripe-emulator), not the real Stripe: no payment is real",
      emulator: true,
    };
  }
  if (isRealStripeHost(config.stripe.apiBase.host)) return { detail: 'the answer came from the real Stripe API', emulator: false };
  return {
    detail: `the answer came from a Stripe-compatible API that is not Tollgate's emulator (Server: ${server ?? 'not given'}), such as stripe-mock`,
    emulator: false,
  };
}

export function routeCheck(config: Config): Check {
  const target = config.stripe.secretKey
    ? config.stripe.apiBase
    : { protocol: 'http' as const, host: '127.0.0.1', port: config.stripe.emulatorPort };
  const route = resolveStripeRoute(target, config.proxy);
  const details: string[] = [];
  const { stripeProxy, httpsProxy, httpProxy, noProxy } = config.proxy;
  const shown = [stripeProxy, httpsProxy, httpProxy]
    .filter((s) => s !== undefined)
    .map((s) => `${s.name}=${s.value === 'none' ? 'none' : maskProxyUrl(s.value)}`);
  if (noProxy) shown.push(`${noProxy.name}=${noProxy.value}`);
  if (shown.length) details.push(`proxy settings: ${shown.join(', ')}`);
  if (config.stripe.caFile) details.push(`extra certificate authorities from STRIPE_CA_FILE=${config.stripe.caFile}`);
  return { name: 'stripe route', status: 'ok', summary: `${target.host}:${target.port} is reached ${describeRoute(route)}`, details };
}

export async function stripeApiCheck(config: Config): Promise<Check> {
  const name = 'stripe';
  let api: StripeApi | undefined;
  try {
    api = await openConfiguredStripe(config, { maxNetworkRetries: 0 });
    const probe = await probeStripe(api.client, api.endpoint);
    const mode = keyMode(config.stripe.secretKey!);
    if (probe.ok) {
      const answered = whoAnswered(config, probe.server);
      const summary = `${api.endpoint.host} answered ${api.endpoint.route}; the ${mode}-mode key is valid`;
      if (answered.emulator && config.nodeEnv === 'production') {
        return {
          name,
          status: 'warn',
          summary,
          details: [answered.detail],
          fix: 'with NODE_ENV=production, unset STRIPE_API_BASE (api.stripe.com) or check that the proxy does not send Stripe elsewhere',
        };
      }
      return { name, status: 'ok', summary, details: [answered.detail] };
    }
    const message = operatorMessage(probe.failure, api.endpoint);
    const [problem, fix] = splitFix(message);
    return { name, status: 'fail', summary: problem, fix, details: [`reason: ${probe.failure.reason}`] };
  } catch (err) {
    return {
      name,
      status: 'fail',
      summary: `Stripe gave an answer the check did not expect: ${(err as Error).message}`,
      fix: 'check that STRIPE_API_BASE is the Stripe API (or unset it for api.stripe.com)',
    };
  } finally {
    api?.close();
  }
}

/**
 * Local mode: the emulator the server would start (or the one a running server started) is asked
 * through the route the server would take, so a STRIPE_PROXY in the way shows here. When nothing
 * listens on the port, a throwaway emulator (in memory) is started there for the check.
 */
export async function localEmulatorCheck(config: Config): Promise<Check> {
  const name = 'stripe';
  const port = config.stripe.emulatorPort;
  const address = `127.0.0.1:${port}`;
  let running: boolean;
  try {
    const answer = await fetch(`http://${address}/v1/prices?limit=1`, {
      headers: { authorization: `Bearer ${LOCAL_EMULATOR_KEY}` },
      signal: AbortSignal.timeout(3000),
    });
    const body = (await answer.json().catch(() => undefined)) as { object?: string } | undefined;
    if (body?.object !== 'list') {
      return {
        name,
        status: 'fail',
        summary: `port ${port} on 127.0.0.1 is in use by something that is not a Stripe emulator (HTTP ${answer.status}): the server could not start its emulator`,
        fix: 'stop that program, or set STRIPE_EMULATOR_PORT to a free port',
      };
    }
    running = true;
  } catch {
    running = false;
  }
  let trial: EmulatorHandle | undefined;
  if (!running) {
    try {
      trial = await startEmulator({ port, host: '127.0.0.1' });
    } catch (err) {
      // The port did not answer HTTP, yet it cannot be listened on: something else holds it.
      const inUse = /already in use/.test((err as Error).message);
      return {
        name,
        status: 'fail',
        summary: `the server could not start its Stripe emulator on ${address}: ${inUse ? 'the port is in use by a program that does not answer HTTP' : (err as Error).message}`,
        fix: 'stop the program using that port, or set STRIPE_EMULATOR_PORT to a free port',
      };
    }
  }
  const api = await openStripeApi(config, { protocol: 'http', host: '127.0.0.1', port }, LOCAL_EMULATOR_KEY, { maxNetworkRetries: 0 });
  try {
    const probe = await probeStripe(api.client, api.endpoint);
    const which = running
      ? `the Stripe emulator on ${address} (a running server's, or npm run stripe:emulator)`
      : `port ${port} is free for the server's local Stripe emulator; one started there for this check`;
    if (probe.ok) return { name, status: 'ok', summary: `${which} answered ${api.endpoint.route}` };
    const [problem, fix] = splitFix(operatorMessage(probe.failure, api.endpoint));
    return { name, status: 'fail', summary: problem, fix, details: [`reason: ${probe.failure.reason}`, `asked ${which}`] };
  } finally {
    api.close();
    await trial?.stop();
  }
}

/** Signing secrets of Stripe's webhook endpoints: whsec_ and a long random part. */
const WEBHOOK_SECRET = /^whsec_[A-Za-z0-9+/=]{24,}$/;

export function webhookSecretCheck(config: Config): Check {
  const name = 'webhook secret';
  const secret = config.stripe.webhookSecret;
  const url = `${(config.publicUrl ?? `http://localhost:${config.port}`).replace(/\/$/, '')}/webhooks/stripe`;
  if (!config.stripe.secretKey) {
    return secret
      ? {
          name,
          status: 'warn',
          summary: 'STRIPE_WEBHOOK_SECRET is ignored in local mode: the emulator gives the server its own endpoint secret',
        }
      : { name, status: 'ok', summary: 'not needed in local mode: the emulator gives the server its own endpoint secret' };
  }
  if (!secret) {
    return {
      name,
      status: 'fail',
      summary: 'STRIPE_WEBHOOK_SECRET is not set: every webhook from Stripe would be refused',
      fix: `add an endpoint for ${url} in the Stripe Dashboard (Developers > Webhooks) and set STRIPE_WEBHOOK_SECRET to its signing secret`,
    };
  }
  if (!WEBHOOK_SECRET.test(secret)) {
    return {
      name,
      status: 'fail',
      summary: `STRIPE_WEBHOOK_SECRET is not a well-formed signing secret (whsec_ followed by at least 24 letters and digits; got ${secret.length} characters)`,
      fix: `copy the signing secret of the endpoint for ${url} from the Stripe Dashboard again, whole`,
    };
  }
  return { name, status: 'ok', summary: `set and well-formed; Stripe should deliver to ${url}` };
}

function splitFix(message: string): [string, string | undefined] {
  const at = message.lastIndexOf('; fix: ');
  if (at < 0) return [message, undefined];
  return [message.slice(0, at), message.slice(at + '; fix: '.length).replace(/\.$/, '')];
}

function maskKey(key: string): string {
  const prefix = /^[a-z]+_(test|live)_/.exec(key)?.[0] ?? '';
  return key.length >= prefix.length + 8 ? `${prefix}…${key.slice(-4)}` : `${prefix}…`;
}
