/**
 * npm run stripe:trigger -- <event type> [--port 12111] [--host 127.0.0.1]
 * Like the Stripe CLI's `stripe trigger`: creates, through the official SDK, the objects needed for the
 * event to fire on a running Stripe emulator, then prints the events that fired.
 */
import { parseArgs } from 'node:util';
import Stripe from 'stripe';
import { TRIGGERS, runTrigger, triggerNames } from '../emulator/triggers';

const USAGE = `Usage: npm run stripe:trigger -- <event type> [--port 12111] [--host 127.0.0.1]
       npm run stripe:trigger -- --list`;

async function main(): Promise<void> {
  let parsed: { values: { port?: string; host?: string; list?: boolean; help?: boolean }; positionals: string[] };
  try {
    parsed = parseArgs({
      options: { port: { type: 'string' }, host: { type: 'string' }, list: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
    });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}\n`);
    process.exit(2);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (values.list) {
    for (const name of triggerNames()) process.stdout.write(`${name.padEnd(45)} ${TRIGGERS[name]?.description ?? ''}\n`);
    return;
  }
  const eventType = positionals[0];
  if (!eventType || positionals.length > 1) {
    process.stderr.write(`${USAGE}\n`);
    process.exit(2);
  }
  if (!TRIGGERS[eventType]) {
    process.stderr.write(`No trigger for "${eventType}". Supported event types:\n  ${triggerNames().join('\n  ')}\n`);
    process.exit(2);
  }
  const host = values.host ?? '127.0.0.1';
  const port = Number(values.port ?? 12111);
  const stripe = new Stripe('sk_test_stripe_trigger', { host, port, protocol: 'http', maxNetworkRetries: 0 });
  process.stdout.write(`Setting up fixture for: ${eventType}\n`);
  let events: Stripe.Event[];
  try {
    events = await runTrigger(stripe, eventType);
  } catch (err) {
    if ((err as { type?: string }).type === 'StripeConnectionError') {
      process.stderr.write(
        `No Stripe emulator answers on http://${host}:${port}. Start one with: npm run stripe:emulator -- --port ${port}\n`,
      );
      process.exit(1);
    }
    throw err;
  }
  for (const e of events) process.stdout.write(`  ${e.id}  ${e.type}\n`);
  if (!events.some((e) => e.type === eventType)) {
    process.stderr.write(`The fixture ran but no ${eventType} event fired.\n`);
    process.exit(1);
  }
  process.stdout.write('Trigger succeeded!\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`stripe-trigger: ${(err as Error).message}\n`);
  process.exit(1);
});
