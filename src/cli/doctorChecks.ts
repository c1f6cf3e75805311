import pg from 'pg';
import { ConfigError, DEFAULT_STRIPE_API_BASE, loadConfig, type Config } from '../config';
import { openDatabase } from '../db/embedded';
import { EMULATOR_SERVER_HEADER, startEmulator, type EmulatorHandle } from '../emulator';
import { createOrm } from '../db/orm';
import { createLogger, maskUrl, type Logger } from '../logger';
import { keyMode } from '../stripe/client';
import { LOCAL_EMULATOR_KEY, openConfiguredStripe, openStripeApi, type StripeApi } from '../stripe/api';
import { operatorMessage } from '../stripe/errors';
import { probeStripe } from '../stripe/health';
import { describeRoute, maskProxyUrl, resolveStripeRoute } from '../stripe/proxyRoute';

/**
 * What `npm run doctor` checks, callable from tests: the configuration, the database, Stripe (local
 * emulator or the real API, reached through the exact route the server would use), the key's mode and
 * validity, and the webhook secret. Each check says what it found and, when it fails, how to fix it.
 */
export type CheckStatus = 'ok' | 'info' | 'warn' | 'fail';

export interface Check {
  name: string;
  status: CheckStatus;
  summary: string;
  details?: string[];
  fix?: string;
}

export interface DoctorReport {
  checks: Check[];
  failed: number;
}

export interface DoctorOptions {
  /** Default: process.env, as the configuration reads it. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Default: warnings and errors to stderr (LOG_LEVEL when it is more verbose than info), as the scripts log. */
  logger?: Logger;
}

export async function runDoctor({ env, cwd = process.cwd(), logger: given }: DoctorOptions = {}): Promise<DoctorReport> {
  const checks: Check[] = [];
  let config: Config;
  try {
    config = loadConfig(env, cwd);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    checks.push({
      name: 'configuration',
      status: 'fail',
      summary: 'invalid',
      details: err.problems,
      fix: 'correct the variables above (see .env.example and the configuration table in README.md)',
    });
    return finish(checks);
  }
  const logger = given ?? createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, { destination: 2, name: 'tollgate-doctor' });
  checks.push(configurationCheck(config));
  checks.push(await databaseCheck(config, logger));
  checks.push(stripeModeCheck(config));
  checks.push(routeCheck(config));
  checks.push(await (config.stripe.secretKey ? stripeApiCheck(config) : localEmulatorCheck(config)));
  checks.push(webhookSecretCheck(config));
  return finish(checks);
}

function finish(checks: Check[]): DoctorReport {
  return { checks, failed: checks.filter((c) => c.status === 'fail').length };
}

const LABEL: Record<CheckStatus, string> = { ok: 'ok', info: 'info', warn: 'warn', fail: 'FAIL' };

export function formatReport(report: DoctorReport): string {
  const width = Math.max(...report.checks.map((c) => c.name.length));
  const lines = ['Tollgate doctor', ''];
  for (const c of report.checks) {
    const head = `  [${LABEL[c.status]}]${' '.repeat(5 - LABEL[c.status].length)}${c.name.padEnd(width)}  `;
    lines.push(`${head}${c.summary}`);
    const indent = ' '.repeat(head.length);
    for (const d of c.details ?? []) lines.push(`${indent}${d}`);
    if (c.fix) lines.push(`${indent}fix: ${c.fix}`);
  }
  lines.push('');
  lines.push(report.failed === 0 ? 'No problems found.' : `${report.failed} problem${report.failed === 1 ? '' : 's'} found.`);
  return `${lines.join('\n')}\n`;
}

function configurationCheck(config: Config): Check {
  const details = [
    `NODE_ENV=${config.nodeEnv}, server on ${config.host}:${config.port}${config.publicUrl ? `, public URL ${config.publicUrl}` : ''}`,
  ];
  return { name: 'configuration', status: 'ok', summary: 'valid', details };
}

async function databaseCheck(config: Config, logger: Logger): Promise<Check> {
  const name = 'database';
  const where = config.databaseUrl
    ? `DATABASE_URL ${maskUrl(config.databaseUrl)}`
    : `embedded PostgreSQL in ${config.embeddedPg.dir} on port ${config.embeddedPg.port}`;
  let db;
  try {
    db = await openDatabase(config, logger);
  } catch (err) {
    return {
      name,
      status: 'fail',
      summary: `${where}: could not be started or reached`,
      details: [(err as Error).message],
      fix: 'see the message above, or set DATABASE_URL to a running PostgreSQL',
    };
  }
  try {
    const client = new pg.Client({ connectionString: db.url, connectionTimeoutMillis: 5000 });
    try {
      await client.connect();
      const [{ version }] = (await client.query<{ version: string }>("select current_setting('server_version') as version")).rows;
      const pending = await pendingMigrations(db.url, logger);
      return {
        name,
        status: 'ok',
        summary: `${where}: reachable (PostgreSQL ${version})`,
        details: [
          pending === 0
            ? 'schema up to date'
            : `${pending} migration${pending === 1 ? '' : 's'} pending: the server applies them when it starts`,
        ],
      };
    } catch (err) {
      return {
        name,
        status: 'fail',
        summary: `${where}: ${(err as Error).message}`,
        fix: config.databaseUrl
          ? "check that PostgreSQL runs at the URL's host and port and that its user, password and database name are right"
          : 'stop whatever else uses EMBEDDED_PG_PORT, or set DATABASE_URL',
      };
    } finally {
      await client.end().catch(() => undefined);
    }
  } finally {
    await db.stop();
  }
}

async function pendingMigrations(url: string, logger: Logger): Promise<number> {
  const orm = await createOrm(url, { logger, poolMax: 1 });
  try {
    return (await orm.getMigrator().getPendingMigrations()).length;
  } finally {
    await orm.close();
  }
}

function stripeModeCheck(config: Config): Check {
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

function routeCheck(config: Config): Check {
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

async function stripeApiCheck(config: Config): Promise<Check> {
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
async function localEmulatorCheck(config: Config): Promise<Check> {
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

function webhookSecretCheck(config: Config): Check {
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
