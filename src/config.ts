import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { z } from 'zod';

/**
 * Every environment variable Tollgate reads, validated once. Nothing else in the code base reads
 * process.env: it receives a Config.
 */
const port = (fallback: number) =>
  z.coerce
    .number({ invalid_type_error: 'expected a port number' })
    .int('expected a whole port number')
    .min(0, 'expected a port number from 0 to 65535')
    .max(65535, 'expected a port number from 0 to 65535')
    .default(fallback);

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const optionalUrl = (what: string) =>
  optionalString.refine((v) => v === undefined || isUrl(v), { message: `expected ${what}` });

const positiveInt = (fallback: number) =>
  z.coerce.number({ invalid_type_error: 'expected a whole number' }).int('expected a whole number').positive('expected a positive number').default(fallback);

function isUrl(value: string): boolean {
  try {
    new URL(value);
    return true;
  } catch {
    return false;
  }
}

const schema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: port(4000),
  PUBLIC_URL: optionalUrl('an absolute URL such as https://api.example.com'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: optionalString.refine((v) => v === undefined || (isUrl(v) && /^postgres(ql)?:$/.test(new URL(v).protocol)), {
    message: 'expected a PostgreSQL URL such as postgres://user:password@host:5432/tollgate',
  }),
  EMBEDDED_PG_DIR: z.string().min(1).default('.data/postgres'),
  EMBEDDED_PG_PORT: port(54329),
  STRIPE_SECRET_KEY: optionalString.refine((v) => v === undefined || /^(sk|rk)_(test|live)_/.test(v), {
    message: 'expected a Stripe secret key starting with sk_test_, sk_live_, rk_test_ or rk_live_',
  }),
  STRIPE_WEBHOOK_SECRET: optionalString.refine((v) => v === undefined || v.startsWith('whsec_'), {
    message: 'expected a webhook signing secret starting with whsec_',
  }),
  STRIPE_EMULATOR_PORT: port(12111),
  GRAPHQL_MAX_DEPTH: positiveInt(8),
  GRAPHQL_MAX_COST: positiveInt(5000),
  DEMO_USER_EMAIL: z.string().email('expected an email address').default('demo@tollgate.local'),
});

export type Config = Readonly<{
  nodeEnv: 'development' | 'test' | 'production';
  host: string;
  port: number;
  publicUrl: string | undefined;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  databaseUrl: string | undefined;
  embeddedPg: { dir: string; port: number };
  stripe: { secretKey: string | undefined; webhookSecret: string | undefined; emulatorPort: number };
  graphql: { maxDepth: number; maxCost: number };
  demoUserEmail: string;
}>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Reads the configuration from `env` (process.env by default) over the values of a `.env` file in
 * `cwd` when one exists; real environment variables win over the file.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const envFile = resolve(cwd, '.env');
  const fromFile = existsSync(envFile) ? parseDotenv(readFileSync(envFile)) : {};
  const merged = { ...fromFile, ...env };
  const result = schema.safeParse(merged);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => {
        const name = issue.path.join('.');
        const given = merged[name];
        const shown = given === undefined || /SECRET|KEY|PASSWORD|URL/.test(name) ? '' : ` (got "${given}")`;
        return `${name}: ${issue.message}${shown}`;
      }),
    );
  }
  const v = result.data;
  return Object.freeze({
    nodeEnv: v.NODE_ENV,
    host: v.HOST,
    port: v.PORT,
    publicUrl: v.PUBLIC_URL,
    logLevel: v.LOG_LEVEL,
    databaseUrl: v.DATABASE_URL,
    embeddedPg: { dir: resolve(cwd, v.EMBEDDED_PG_DIR), port: v.EMBEDDED_PG_PORT },
    stripe: { secretKey: v.STRIPE_SECRET_KEY, webhookSecret: v.STRIPE_WEBHOOK_SECRET, emulatorPort: v.STRIPE_EMULATOR_PORT },
    graphql: { maxDepth: v.GRAPHQL_MAX_DEPTH, maxCost: v.GRAPHQL_MAX_COST },
    demoUserEmail: v.DEMO_USER_EMAIL,
  });
}
