import pg from 'pg';
import { ConfigError, loadConfig, type Config } from '../config';
import { openDatabase } from '../db/embedded';
import { createOrm } from '../db/orm';
import { createLogger, maskUrl, type Logger } from '../logger';
import type { Check, CheckStatus } from './doctorTypes';
import { localEmulatorCheck, routeCheck, stripeApiCheck, stripeModeCheck, webhookSecretCheck } from './doctorStripeChecks';

/**
 * What `npm run doctor` checks, callable from tests: the configuration, the database, Stripe (local
 * emulator or the real API, reached through the exact route the server would use), the key's mode and
 * validity, and the webhook secret. Each check says what it found and, when it fails, how to fix it.
 */
export type { Check, CheckStatus } from './doctorTypes';

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
