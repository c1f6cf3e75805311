import pino, { type Logger } from 'pino';
import pinoPretty from 'pino-pretty';

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

export interface LoggerOptions {
  destination?: 1 | 2;
  name?: string;
  /** Where to write instead of stdout/stderr (tests read what was logged). */
  stream?: NodeJS.WritableStream;
  /** auto: readable lines when writing to a terminal, JSON lines (for log collectors) otherwise. */
  format?: 'auto' | 'json' | 'pretty';
}

/** Logs to stdout (or stderr: destination 2), or to `stream` when given. */
export function createLogger(level: string, options: LoggerOptions = {}): Logger {
  const fd = options.destination ?? 1;
  const tty = options.stream
    ? Boolean((options.stream as { isTTY?: boolean }).isTTY)
    : Boolean(fd === 1 ? process.stdout.isTTY : process.stderr.isTTY);
  const pretty = options.format === 'pretty' || (options.format === 'auto' && tty);
  const destination = pretty
    ? // Colours only on a terminal: piped into a file or `less`, escape codes are noise.
      pinoPretty({ colorize: tty, sync: true, destination: options.stream ?? fd, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l' })
    : ((options.stream as pino.DestinationStream | undefined) ?? pino.destination({ fd, sync: true }));
  return pino({ level, name: options.name ?? 'tollgate', redact: { paths: REDACT, censor: '[redacted]' } }, destination);
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
