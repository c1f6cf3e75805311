import pino, { type Logger } from 'pino';

export type { Logger };

/** Paths that may carry secrets; pino replaces their values before anything is written. */
const REDACT = [
  'token',
  '*.token',
  'password',
  '*.password',
  'secret',
  '*.secret',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers["stripe-signature"]',
  'stripeSecretKey',
  '*.stripeSecretKey',
  'databaseUrl',
  '*.databaseUrl',
];

/** Logs to stdout (or stderr: destination 2), or to `stream` when given (tests read what was logged). */
export function createLogger(level: string, options: { destination?: 1 | 2; name?: string; stream?: pino.DestinationStream } = {}): Logger {
  return pino(
    { level, name: options.name ?? 'tollgate', redact: { paths: REDACT, censor: '[redacted]' } },
    options.stream ?? pino.destination({ fd: options.destination ?? 1, sync: true }),
  );
}

/** Hides the password of a connection URL so it can be shown or logged. */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '****';
    return u.toString();
  } catch {
    return '[unparseable url]';
  }
}
