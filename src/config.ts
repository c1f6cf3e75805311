import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { z } from 'zod';

/**
 * Every environment variable Tollgate reads, validated once. Nothing else in the code base reads
 * process.env: it receives a Config. The file is long on purpose (DESIGN.md: one place for every
 * variable): the schema, the checks across variables and the typed Config read side by side, so a new
 * variable is added in one file and a reader finds every setting here.
 */
/** A port; `lowest` 0 lets the system pick a free one (PORT=0), which makes no sense for a server others must find. */
const port = (fallback: number, lowest: 0 | 1 = 0) =>
  z.coerce
    .number({ invalid_type_error: 'expected a port number' })
    .int('expected a whole port number')
    .min(lowest, `expected a port number from ${lowest} to 65535`)
    .max(65535, `expected a port number from ${lowest} to 65535`)
    .default(fallback);

/** One of a fixed list of words, with a message that lists them. */
const oneOf = <const T extends [string, ...string[]]>(values: T, fallback: T[number]) =>
  z.enum(values, { errorMap: () => ({ message: `expected one of ${values.join(', ')}` }) }).default(fallback as never);

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const optionalUrl = (what: string) => optionalString.refine((v) => v === undefined || isUrl(v), { message: `expected ${what}` });

const positiveInt = (fallback: number) =>
  z.coerce
    .number({ invalid_type_error: 'expected a whole number' })
    .int('expected a whole number')
    .positive('expected a positive number')
    .default(fallback);

/** A proxy URL as the standard variables carry it; without a scheme it is http:// (as curl reads it). */
export function normaliseProxyUrl(value: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
}

function isProxyUrl(value: string): boolean {
  try {
    const u = new URL(normaliseProxyUrl(value));
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}

const PROXY_URL_EXPECTED =
  'expected an http:// or https:// proxy URL such as http://proxy.example.com:3128 (Stripe is reached through it with CONNECT)';

function isUrl(value: string): boolean {
  try {
    new URL(value);
    return true;
  } catch {
    return false;
  }
}

const schema = z.object({
  NODE_ENV: oneOf(['development', 'test', 'production'], 'development'),
  HOST: z.string().trim().default('0.0.0.0'),
  PORT: port(4000),
  PUBLIC_URL: optionalUrl('an absolute URL such as https://api.example.com'),
  LOG_LEVEL: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info'),
  LOG_FORMAT: oneOf(['auto', 'json', 'pretty'], 'auto'),
  DATABASE_URL: optionalString.refine((v) => v === undefined || (isUrl(v) && /^postgres(ql)?:$/.test(new URL(v).protocol)), {
    message: 'expected a PostgreSQL URL such as postgres://user:password@host:5432/tollgate',
  }),
  DATABASE_PREPARED_STATEMENTS: oneOf(['on', 'off'], 'on'),
  EMBEDDED_PG_DIR: z.string().trim().default('.data/postgres'),
  EMBEDDED_PG_PORT: port(54329, 1),
  STRIPE_SECRET_KEY: optionalString.refine((v) => v === undefined || /^(sk|rk)_(test|live)_/.test(v), {
    message: 'expected a Stripe secret key starting with sk_test_, sk_live_, rk_test_ or rk_live_',
  }),
  STRIPE_WEBHOOK_SECRET: optionalString.refine((v) => v === undefined || v.startsWith('whsec_'), {
    message: 'expected a webhook signing secret starting with whsec_',
  }),
  STRIPE_EMULATOR_PORT: port(12111),
  STRIPE_EMULATOR_DATA: z.string().trim().default('.data/stripe-emulator.json'),
  STRIPE_API_BASE: optionalString.refine((v) => v === undefined || isApiBase(v), {
    message: 'expected the base URL of the Stripe API, such as https://api.stripe.com or http://localhost:12111 (no path, no credentials)',
  }),
  STRIPE_PROXY: optionalString.refine((v) => v === undefined || v.toLowerCase() === 'none' || isProxyUrl(v), {
    message: `${PROXY_URL_EXPECTED}, or "none"`,
  }),
  HTTPS_PROXY: optionalString,
  https_proxy: optionalString,
  HTTP_PROXY: optionalString,
  http_proxy: optionalString,
  NO_PROXY: optionalString,
  no_proxy: optionalString,
  STRIPE_CA_FILE: optionalString,
  STRIPE_TIMEOUT_MS: positiveInt(20_000),
  STRIPE_MAX_NETWORK_RETRIES: z.coerce
    .number({ invalid_type_error: 'expected a whole number from 0 to 10' })
    .int('expected a whole number from 0 to 10')
    .min(0, 'expected a whole number from 0 to 10')
    .max(10, 'expected a whole number from 0 to 10')
    .default(2),
  STRIPE_READY_CACHE_MS: z.coerce
    .number({ invalid_type_error: 'expected a number of milliseconds' })
    .int('expected a whole number of milliseconds')
    .min(0, 'expected a number of milliseconds, 0 or more')
    .default(5000),
  METRICS_TOKEN: optionalString.refine((v) => v === undefined || v.length >= 16, { message: 'expected 16 characters or more' }),
  RENEWAL_GRACE_SECONDS: z.coerce
    .number({ invalid_type_error: 'expected a number of seconds' })
    .int('expected a whole number of seconds')
    .min(0, 'expected 0 to 604800 seconds (a week)')
    .max(604_800, 'expected 0 to 604800 seconds (a week)')
    .default(3600),
  PAST_DUE_GRACE_DAYS: z.coerce
    .number({ invalid_type_error: 'expected a number of days' })
    .int('expected a whole number of days')
    .min(0, 'expected 0 to 60 days')
    .max(60, 'expected 0 to 60 days')
    .default(3),
  EVENTS_DELIVERY: oneOf(['on', 'off'], 'on'),
  EVENTS_POLL_MS: positiveInt(1000),
  EVENTS_TIMEOUT_MS: positiveInt(10_000),
  EVENTS_RETRY_BASE_MS: positiveInt(30_000),
  EVENTS_RETRY_MAX_MS: positiveInt(3 * 3600_000),
  EVENTS_RETRY_FOR_MS: positiveInt(3 * 24 * 3600_000),
  EVENTS_USAGE_THRESHOLD: z.coerce
    .number({ invalid_type_error: 'expected a whole number of percent from 1 to 99' })
    .int('expected a whole number of percent from 1 to 99')
    .min(1, 'expected a whole number of percent from 1 to 99')
    .max(99, 'expected a whole number of percent from 1 to 99')
    .default(80),
  WEBHOOK_PROCESSING: oneOf(['on', 'off'], 'on'),
  WEBHOOK_CONCURRENCY: positiveInt(4),
  WEBHOOK_POLL_MS: positiveInt(5000),
  WEBHOOK_RETRY_BASE_MS: positiveInt(10_000),
  WEBHOOK_RETRY_MAX_MS: positiveInt(3600_000),
  WEBHOOK_MAX_ATTEMPTS: positiveInt(12),
  GRAPHQL_MAX_DEPTH: positiveInt(8),
  GRAPHQL_MAX_COST: positiveInt(10_000),
  GRAPHQL_MAX_ALIASES: positiveInt(15),
  GRAPHQL_MAX_ROOT_FIELDS: positiveInt(10),
  GRAPHQL_MAX_DIRECTIVES: positiveInt(20),
  GRAPHQL_MAX_TOKENS: positiveInt(2000),
  DEMO_USER_EMAIL: z.string().email('expected an email address').default('demo@tollgate.local'),
  DEMO_TOKEN_FILE: optionalString,
  CORS_ORIGINS: optionalString.refine((v) => v === undefined || v === '*' || v.split(',').every((o) => isOrigin(o.trim())), {
    message: 'expected * or a comma-separated list of origins such as https://app.example.com,http://localhost:5173',
  }),
  AUTH_JWT_JWKS_URL: optionalString.refine((v) => v === undefined || /^https?:$/.test(safeUrl(v)?.protocol ?? ''), {
    message: 'expected the http(s) URL of a JSON Web Key Set, such as https://auth.example.com/.well-known/jwks.json',
  }),
  AUTH_JWT_SECRET: optionalString.refine((v) => v === undefined || v.length >= 32, {
    message: 'expected an HS256 secret of at least 32 characters',
  }),
  AUTH_JWT_ISSUER: optionalString,
  AUTH_JWT_AUDIENCE: optionalString,
  AUTH_JWT_EMAIL_CLAIM: z.string().trim().min(1).default('email'),
  AUTH_JWT_TIMEZONE_CLAIM: z.string().trim().min(1).default('zoneinfo'),
  AUTH_JWT_CLOCK_TOLERANCE_SECONDS: z.coerce
    .number({ invalid_type_error: 'expected a number of seconds' })
    .int('expected a whole number of seconds')
    .min(0, 'expected 0 to 300 seconds')
    .max(300, 'expected 0 to 300 seconds')
    .default(30),
});

/** The product's JWTs: one way to verify them, and always an issuer and an audience to check. */
function jwtProblems(raw: Record<string, string | undefined>): string[] {
  const given = (name: string) => Boolean(raw[name]?.trim());
  if (!given('AUTH_JWT_JWKS_URL') && !given('AUTH_JWT_SECRET')) return [];
  const problems: string[] = [];
  if (given('AUTH_JWT_JWKS_URL') && given('AUTH_JWT_SECRET'))
    problems.push('AUTH_JWT_SECRET: set either AUTH_JWT_JWKS_URL or AUTH_JWT_SECRET, not both');
  for (const name of ['AUTH_JWT_ISSUER', 'AUTH_JWT_AUDIENCE']) {
    if (!given(name)) problems.push(`${name}: required when the product's JWTs are accepted (AUTH_JWT_JWKS_URL or AUTH_JWT_SECRET)`);
  }
  return problems;
}

/** An origin as browsers send it: scheme, host and port, nothing else. */
function isOrigin(value: string): boolean {
  const u = safeUrl(value);
  return u !== undefined && /^https?:$/.test(u.protocol) && u.origin === value;
}

function safeUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

/** The standard proxy variables matter only when STRIPE_PROXY does not decide; only then are they checked. */
function proxyProblems(raw: Record<string, string | undefined>): string[] {
  const given = (name: string) => (raw[name]?.trim() ? raw[name]!.trim() : undefined);
  if (given('STRIPE_PROXY') !== undefined) return [];
  return ['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY']
    .filter((name) => given(name) !== undefined && !isProxyUrl(given(name)!))
    .map((name) => `${name}: ${PROXY_URL_EXPECTED}; or set STRIPE_PROXY to a proxy URL or to none`);
}

function isApiBase(value: string): boolean {
  try {
    const u = new URL(value);
    return (
      (u.protocol === 'http:' || u.protocol === 'https:') &&
      !u.username &&
      !u.password &&
      (u.pathname === '/' || u.pathname === '') &&
      !u.search &&
      !u.hash
    );
  } catch {
    return false;
  }
}

/** How the product's JWTs are checked (AUTH_JWT_*). */
export interface JwtSettings {
  /** RS256/ES256/EdDSA keys, fetched from here and cached. */
  jwksUrl?: string;
  /** HS256 shared secret. */
  secret?: string;
  issuer: string;
  audience: string;
  emailClaim: string;
  timezoneClaim: string;
  clockToleranceSeconds: number;
}

/** Where the Stripe API is: scheme, host name and port. */
export interface ApiTarget {
  protocol: 'http' | 'https';
  host: string;
  port: number;
}

/** A setting and the variable it came from (for messages: "from HTTPS_PROXY"). */
export interface Setting {
  name: string;
  value: string;
}

/** The proxy settings, as given; src/stripe/route.ts decides which one applies to Stripe. */
export interface ProxyConfig {
  /** STRIPE_PROXY: a proxy URL for Stripe alone, or "none"; unset = the standard variables decide. */
  stripeProxy: Setting | undefined;
  httpsProxy: Setting | undefined;
  httpProxy: Setting | undefined;
  noProxy: Setting | undefined;
}

export const DEFAULT_STRIPE_API_BASE = 'https://api.stripe.com';

const CASE_PAIRS = [
  ['https_proxy', 'HTTPS_PROXY'],
  ['http_proxy', 'HTTP_PROXY'],
  ['no_proxy', 'NO_PROXY'],
];

export type Config = Readonly<{
  nodeEnv: 'development' | 'test' | 'production';
  host: string;
  port: number;
  publicUrl: string | undefined;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** LOG_FORMAT: auto = readable lines on a terminal, JSON lines otherwise. */
  logFormat: 'auto' | 'json' | 'pretty';
  databaseUrl: string | undefined;
  /** DATABASE_PREPARED_STATEMENTS: hot statements prepared once per connection (off behind a pooler that cannot keep them). */
  preparedStatements: boolean;
  embeddedPg: { dir: string; port: number };
  stripe: {
    secretKey: string | undefined;
    webhookSecret: string | undefined;
    emulatorPort: number;
    /** Where the local emulator keeps its state across restarts (STRIPE_EMULATOR_DATA); undefined = in memory only. */
    emulatorDataFile: string | undefined;
    /** The Stripe API the SDK talks to with STRIPE_SECRET_KEY (STRIPE_API_BASE, default api.stripe.com). */
    apiBase: ApiTarget;
    /** true when STRIPE_API_BASE was given. */
    apiBaseSet: boolean;
    /** STRIPE_CA_FILE and its certificates (PEM), trusted for the Stripe connection besides Node's own. */
    caFile: string | undefined;
    ca: string | undefined;
    timeoutMs: number;
    maxNetworkRetries: number;
    /** How long /readyz reuses its last Stripe check. */
    readyCacheMs: number;
  };
  proxy: ProxyConfig;
  graphql: { maxDepth: number; maxCost: number; maxAliases: number; maxRootFields: number; maxDirectives: number; maxTokens: number };
  /** Bearer token GET /metrics requires; unset = /metrics is not served. */
  metricsToken?: string;
  /**
   * How long a subscription keeps its plan past what its row says: a renewing one past its period end
   * while the renewal is awaited (RENEWAL_GRACE_SECONDS), a past-due one from its period start (PAST_DUE_GRACE_DAYS).
   */
  grace: { renewalSeconds: number; pastDueDays: number };
  /** Events to the product (src/events/): whether this process delivers, and how it retries. */
  events: {
    deliver: boolean;
    pollMs: number;
    timeoutMs: number;
    retryBaseMs: number;
    retryMaxMs: number;
    /** After this long since the event, a delivery that never got a 2xx is given up (failed). */
    retryForMs: number;
    /** The share of a limit, in percent, whose crossing is a usage.threshold event. */
    usageThresholdPercent: number;
  };
  /**
   * Stripe's webhooks (src/sync/worker.ts): whether this process works the inbox, with how many events at
   * once, how often it looks when no notice came, and how a failing event is retried before it is given up.
   */
  webhooks: {
    process: boolean;
    concurrency: number;
    pollMs: number;
    retryBaseMs: number;
    retryMaxMs: number;
    maxAttempts: number;
  };
  demoUserEmail: string;
  /** Local mode: where the demo user's token is kept across restarts (default: beside the embedded PostgreSQL's folder). */
  demoTokenFile: string;
  /** Browser origins that may call /graphql from another origin (CORS_ORIGINS): a list, '*', or none. */
  corsOrigins: string[] | '*';
  /** The product's JWTs (AUTH_JWT_*); undefined when they are not accepted. */
  jwt: JwtSettings | undefined;
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
  // An empty value (`PORT=` in .env, `${VAR:-}` in docker-compose) means unset: the default applies.
  const file = withoutEmpty(fromFile);
  const real = withoutEmpty(env);
  // The proxy variables are read in either case, the lowercase one first: one set in the real
  // environment, in either case, wins over both cases in the file; set but empty there it means no
  // proxy (as curl reads it), whatever the file says.
  for (const pair of CASE_PAIRS) if (pair.some((name) => env[name] !== undefined)) for (const name of pair) delete file[name];
  const merged = { ...file, ...real };
  const result = schema.safeParse(merged);
  const problems = [
    ...(result.success ? [] : result.error.issues).map((issue) => {
      const name = issue.path.join('.');
      const given = merged[name];
      const shown = given === undefined || /SECRET|KEY|TOKEN|PASSWORD|URL|PROXY/i.test(name) ? '' : ` (got "${given}")`;
      return `${name}: ${issue.message}${shown}`;
    }),
    ...proxyProblems(merged),
    ...jwtProblems(merged),
  ];
  const ca = readCaFile(merged.STRIPE_CA_FILE?.trim() || undefined, cwd);
  if (ca && 'problem' in ca) problems.push(ca.problem);
  if (!result.success || problems.length) throw new ConfigError(problems);
  const v = result.data;
  const apiBase = new URL(v.STRIPE_API_BASE ?? DEFAULT_STRIPE_API_BASE);
  const protocol: ApiTarget['protocol'] = apiBase.protocol === 'http:' ? 'http' : 'https';
  const setting = (...names: Array<keyof typeof v>): Setting | undefined => {
    for (const name of names) {
      const value = v[name];
      if (typeof value === 'string') return { name: String(name), value };
    }
    return undefined;
  };
  const proxyUrl = (s: Setting | undefined) => (s ? { ...s, value: normaliseProxyUrl(s.value) } : undefined);
  const stripeProxy = setting('STRIPE_PROXY');
  return Object.freeze({
    nodeEnv: v.NODE_ENV,
    host: v.HOST,
    port: v.PORT,
    publicUrl: v.PUBLIC_URL,
    logLevel: v.LOG_LEVEL,
    logFormat: v.LOG_FORMAT,
    databaseUrl: v.DATABASE_URL,
    preparedStatements: v.DATABASE_PREPARED_STATEMENTS === 'on',
    embeddedPg: { dir: resolve(cwd, v.EMBEDDED_PG_DIR), port: v.EMBEDDED_PG_PORT },
    stripe: {
      secretKey: v.STRIPE_SECRET_KEY,
      webhookSecret: v.STRIPE_WEBHOOK_SECRET,
      emulatorPort: v.STRIPE_EMULATOR_PORT,
      emulatorDataFile: v.STRIPE_EMULATOR_DATA.toLowerCase() === 'none' ? undefined : resolve(cwd, v.STRIPE_EMULATOR_DATA),
      apiBase: {
        protocol,
        host: apiBase.hostname.replace(/^\[|\]$/g, ''),
        port: apiBase.port ? Number(apiBase.port) : protocol === 'https' ? 443 : 80,
      },
      apiBaseSet: v.STRIPE_API_BASE !== undefined,
      caFile: ca && 'file' in ca ? ca.file : undefined,
      ca: ca && 'pem' in ca ? ca.pem : undefined,
      timeoutMs: v.STRIPE_TIMEOUT_MS,
      maxNetworkRetries: v.STRIPE_MAX_NETWORK_RETRIES,
      readyCacheMs: v.STRIPE_READY_CACHE_MS,
    },
    proxy: {
      stripeProxy: stripeProxy && stripeProxy.value.toLowerCase() === 'none' ? { ...stripeProxy, value: 'none' } : proxyUrl(stripeProxy),
      httpsProxy: proxyUrl(setting('https_proxy', 'HTTPS_PROXY')),
      httpProxy: proxyUrl(setting('http_proxy', 'HTTP_PROXY')),
      noProxy: setting('no_proxy', 'NO_PROXY'),
    },
    graphql: {
      maxDepth: v.GRAPHQL_MAX_DEPTH,
      maxCost: v.GRAPHQL_MAX_COST,
      maxAliases: v.GRAPHQL_MAX_ALIASES,
      maxRootFields: v.GRAPHQL_MAX_ROOT_FIELDS,
      maxDirectives: v.GRAPHQL_MAX_DIRECTIVES,
      maxTokens: v.GRAPHQL_MAX_TOKENS,
    },
    metricsToken: v.METRICS_TOKEN,
    grace: { renewalSeconds: v.RENEWAL_GRACE_SECONDS, pastDueDays: v.PAST_DUE_GRACE_DAYS },
    events: {
      deliver: v.EVENTS_DELIVERY === 'on',
      pollMs: v.EVENTS_POLL_MS,
      timeoutMs: v.EVENTS_TIMEOUT_MS,
      retryBaseMs: v.EVENTS_RETRY_BASE_MS,
      retryMaxMs: v.EVENTS_RETRY_MAX_MS,
      retryForMs: v.EVENTS_RETRY_FOR_MS,
      usageThresholdPercent: v.EVENTS_USAGE_THRESHOLD,
    },
    webhooks: {
      process: v.WEBHOOK_PROCESSING === 'on',
      concurrency: v.WEBHOOK_CONCURRENCY,
      pollMs: v.WEBHOOK_POLL_MS,
      retryBaseMs: v.WEBHOOK_RETRY_BASE_MS,
      retryMaxMs: v.WEBHOOK_RETRY_MAX_MS,
      maxAttempts: v.WEBHOOK_MAX_ATTEMPTS,
    },
    demoUserEmail: v.DEMO_USER_EMAIL,
    demoTokenFile: resolve(cwd, v.DEMO_TOKEN_FILE ?? join(dirname(v.EMBEDDED_PG_DIR), 'demo-token')),
    corsOrigins: v.CORS_ORIGINS === '*' ? '*' : (v.CORS_ORIGINS?.split(',').map((o) => o.trim()) ?? []),
    jwt:
      (v.AUTH_JWT_JWKS_URL || v.AUTH_JWT_SECRET) && v.AUTH_JWT_ISSUER && v.AUTH_JWT_AUDIENCE
        ? {
            jwksUrl: v.AUTH_JWT_JWKS_URL,
            secret: v.AUTH_JWT_SECRET,
            issuer: v.AUTH_JWT_ISSUER,
            audience: v.AUTH_JWT_AUDIENCE,
            emailClaim: v.AUTH_JWT_EMAIL_CLAIM,
            timezoneClaim: v.AUTH_JWT_TIMEZONE_CLAIM,
            clockToleranceSeconds: v.AUTH_JWT_CLOCK_TOLERANCE_SECONDS,
          }
        : undefined,
  });
}

function withoutEmpty(values: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).filter((e): e is [string, string] => typeof e[1] === 'string' && e[1].trim() !== ''));
}

/** STRIPE_CA_FILE: a readable PEM file with at least one certificate, or what is wrong with it. */
function readCaFile(file: string | undefined, cwd: string): { file: string; pem: string } | { problem: string } | undefined {
  if (file === undefined) return undefined;
  const path = resolve(cwd, file);
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    return { problem: `STRIPE_CA_FILE: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----'))
    return { problem: `STRIPE_CA_FILE: expected PEM certificates (-----BEGIN CERTIFICATE-----) in ${path}` };
  return { file: path, pem };
}
