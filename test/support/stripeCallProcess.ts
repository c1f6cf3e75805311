/**
 * One Stripe call made the way the server makes it, in a process of its own: the configuration from
 * this process's environment, the client (and proxy agent) of openConfiguredStripe, the call wrapped in
 * callStripe with a logger. A process, because the proxy agent library is ESM-only and jest's module
 * system cannot load it. Prints one JSON line: the route, the outcome (or the DomainError a client would
 * get), every log line, and whether the process environment was left as it was.
 *
 * argv[2]: "customer" (create a customer) or "probe" (the readiness probe).
 */
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { openConfiguredStripe } from '../../src/stripe/api';
import { callStripe } from '../../src/stripe/errors';
import { probeStripe } from '../../src/stripe/health';

async function main(): Promise<void> {
  const envBefore = JSON.stringify(process.env);
  const config = loadConfig();
  let logText = '';
  const stream = new Writable({
    write(chunk, _encoding, done) {
      logText += chunk.toString();
      done();
    },
  });
  const logger = createLogger('info', { stream });
  const api = await openConfiguredStripe(config);
  const out: Record<string, unknown> = { endpoint: api.endpoint };
  try {
    if (process.argv[2] === 'probe') {
      const probe = await probeStripe(api.client, api.endpoint);
      out.probe = probe.ok ? { ok: true } : { ok: false, failure: probe.failure };
    } else {
      const customer = await callStripe(() => api.client.customers.create({ email: 'tunnelled@example.com' }), {
        stripeEndpoint: api.endpoint,
        logger,
      });
      out.result = { id: customer.id, email: customer.email };
    }
  } catch (err) {
    const e = err as { name?: string; code?: string; message?: string; extensions?: unknown };
    out.error = { name: e.name, code: e.code, message: e.message, extensions: e.extensions };
  } finally {
    api.close();
  }
  out.envUnchanged = JSON.stringify(process.env) === envBefore;
  out.logs = logText
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err?.stack ?? err}\n`);
  process.exit(1);
});
