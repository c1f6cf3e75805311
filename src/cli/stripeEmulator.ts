/**
 * npm run stripe:emulator -- [--port 12111] [--data FILE] [--verbose]
 * Runs the local Stripe emulator on 127.0.0.1 until Ctrl+C / SIGTERM.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { API_VERSION, startEmulator } from '../emulator';

const USAGE = `Usage: npm run stripe:emulator -- [--port 12111] [--data FILE] [--verbose]

  --port N     port on 127.0.0.1 (default 12111; 0 picks a free one)
  --data FILE  keep the state in FILE across restarts (loaded on start, saved on change and on exit)
  --verbose    log every request`;

async function main(): Promise<void> {
  let values: { port?: string; data?: string; verbose?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: { port: { type: 'string' }, data: { type: 'string' }, verbose: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const port = values.port === undefined ? 12111 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`--port must be a port number, got "${values.port}"\n`);
    process.exit(2);
  }
  const dataFile = values.data ? resolve(values.data) : undefined;
  const verbose = values.verbose === true;
  const logger = (msg: string, fields?: object) => {
    if (msg === 'request' && !verbose) return;
    if (msg === 'Stripe emulator listening') return;
    process.stderr.write(`[stripe-emulator] ${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}\n`);
  };

  const emulator = await startEmulator({ port, host: '127.0.0.1', dataFile, logger });
  // Ctrl+C is handled before the banner says to press it (a signal sent just after would otherwise kill the
  // process without saving --data).
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`[stripe-emulator] ${signal}: stopping\n`);
    emulator.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`[stripe-emulator] stop failed: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.stdout.write(
    [
      `Stripe emulator (test mode) listening on ${emulator.url}`,
      `  API version ${API_VERSION}; any sk_test_ key is accepted.`,
      `  Node SDK:  new Stripe('sk_test_123', { host: '127.0.0.1', port: ${emulator.port}, protocol: 'http' })`,
      `  curl:      curl ${emulator.url}/v1/customers -u sk_test_123:`,
      `  Trigger:   npm run stripe:trigger -- payment_intent.succeeded --port ${emulator.port}`,
      `  State:     ${dataFile ? `kept in ${dataFile}` : 'in memory only (use --data FILE to keep it)'}`,
      'Press Ctrl+C to stop.',
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  // Say "Stripe emulator" once: its own messages already name it.
  const message = (err as Error).message;
  process.stderr.write(`${/Stripe emulator/i.test(message) ? message : `The Stripe emulator stopped: ${message}`}\n`);
  process.exit(1);
});
