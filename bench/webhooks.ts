/**
 * Load benchmark for Stripe's webhooks: how fast POST /webhooks/stripe acknowledges signed events, and
 * how long the webhook worker then takes to process them all, against a bare node:http + pg server that
 * verifies the signature with the same SDK call and inserts the same row, in the same run (and Tollgate
 * with WEBHOOK_PROCESSING=off, acknowledging only, to tell the route's cost from the worker's). Each server
 * runs in a process of its own (bench/webhooksServer.ts), the Stripe emulator in a third; the load comes
 * from this one.
 *
 *   npm run bench:webhooks -- [--duration 10] [--connections 32] [--users 20]
 *
 * The events are real ones: the emulator's own events about customers with subscriptions and
 * PaymentIntents made for the run (the customers are Tollgate users, so the worker re-fetches and applies
 * them), each sent under a fresh event id and signed with the server's secret
 * (stripe.webhooks.generateTestHeaderString). Uses DATABASE_URL when set, else a throw-away embedded PostgreSQL.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { EntityManager } from '@mikro-orm/postgresql';
import autocannon from 'autocannon';
import { Command } from 'commander';
import type pg from 'pg';
import Stripe from 'stripe';
import { createUser } from '../src/auth/users';
import { syncStripeCatalog } from '../src/sync/catalog';
import { handledTypes } from '../src/sync/handlers';
import { freePort, log, openBenchDatabase } from './servers';

const POOL = 20;

interface Result {
  name: string;
  acked: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

interface Child {
  url: string;
  stop(): Promise<void>;
}

/** Starts a compiled script in a process of its own and waits for the line that says where it listens. */
function startChild(script: string, args: string[], listening: RegExp, url: (m: RegExpExecArray) => string): Promise<Child> {
  const child = spawn(process.execPath, [join(__dirname, script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = listening.exec(out);
      if (m) resolve({ url: url(m), stop: async () => void (child.kill('SIGTERM'), await exited) });
    });
    void exited.then((code) => reject(new Error(`${script} exited with code ${code} before listening`)));
  });
}

/** Sends fresh copies of the template events, each signed as Stripe signs it, for `duration` seconds. */
async function load(name: string, url: string, templates: Stripe.Event[], secret: string, duration: number, connections: number) {
  log(`  running ${name} for ${duration}s with ${connections} connections...`);
  const run = randomBytes(4).toString('hex');
  let n = 0;
  const ticker = setInterval(() => process.stderr.write('.'), 1000);
  const r = await autocannon({
    url: `${url}/webhooks/stripe`,
    method: 'POST',
    duration,
    connections,
    requests: [
      {
        setupRequest: (req) => {
          const template = templates[n % templates.length];
          const payload = JSON.stringify({ ...template, id: `evt_bench_${run}_${n++}`, created: Math.floor(Date.now() / 1000) });
          const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret });
          return { ...req, body: payload, headers: { 'content-type': 'application/json', 'stripe-signature': signature } };
        },
      },
    ],
  });
  clearInterval(ticker);
  process.stderr.write('\n');
  const result: Result = {
    name,
    acked: r['2xx'],
    rps: r['2xx'] / duration,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.timeouts + r.non2xx,
  };
  return result;
}

/** Customers that are Tollgate users, each with a subscription and a payment, made in the emulator; returns its events. */
async function makeStripeEvents(em: EntityManager, pool: pg.Pool, stripe: Stripe, users: number): Promise<Stripe.Event[]> {
  await syncStripeCatalog(em, stripe);
  const {
    rows: [{ stripe_price_id: price }],
  } = await pool.query(
    `select pp.stripe_price_id from plan_pricing pp join plan p on p.id = pp.plan_id where p.code = 'premium' and pp.stripe_price_id is not null limit 1`,
  );
  for (let i = 0; i < users; i++) {
    const { user } = await createUser(em.fork() as EntityManager, { email: `bench-webhooks-${i}@example.com` });
    const customer = await stripe.customers.create({ email: user.email });
    await pool.query('update app_user set stripe_customer_id = $1 where id = $2', [customer.id, user.id]);
    const pm = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    await stripe.subscriptions.create({ customer: customer.id, items: [{ price }], default_payment_method: pm.id });
    await stripe.paymentIntents.create({
      amount: 1000 + i,
      currency: 'usd',
      customer: customer.id,
      payment_method: pm.id,
      confirm: true,
      automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
    });
  }
  const handled = new Set(handledTypes());
  const events: Stripe.Event[] = [];
  for await (const e of stripe.events.list({ limit: 100 })) if (handled.has(e.type)) events.push(e);
  return events;
}

/** Waits until the inbox has nothing pending; returns the milliseconds it took. */
async function drained(pool: pg.Pool): Promise<number> {
  const started = performance.now();
  for (;;) {
    const { rows } = await pool.query<{ n: number }>(`select count(*)::int as n from stripe_event where status = 'pending'`);
    if (rows[0].n === 0) return performance.now() - started;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function main() {
  const opts = new Command('bench:webhooks')
    .option('--duration <s>', 'seconds per run', '10')
    .option('--connections <n>', 'concurrent connections', '32')
    .option('--users <n>', 'customers with a subscription and a payment to make events about', '20')
    .parse()
    .opts<{ duration: string; connections: string; users: string }>();
  const duration = Number(opts.duration);
  const connections = Number(opts.connections);
  const db = await openBenchDatabase(4);
  const { orm, pool } = db;
  const stops: Array<() => Promise<void>> = [];
  try {
    log('starting the Stripe emulator in a process of its own and making customers, subscriptions and payments...');
    const emulatorPort = await freePort();
    const emulator = await startChild('../src/cli/stripeEmulator.js', ['--port', String(emulatorPort)], /listening on (\S+)/, (m) => m[1]);
    stops.push(() => emulator.stop());
    const stripe = new Stripe('sk_test_bench', { host: '127.0.0.1', port: emulatorPort, protocol: 'http', maxNetworkRetries: 0 });
    const templates = await makeStripeEvents(orm.em.fork() as EntityManager, pool, stripe, Number(opts.users));
    const types = [...new Set(templates.map((e) => e.type))].sort();
    log(`  ${templates.length} events of ${types.length} handled types: ${types.join(', ')}`);

    const secret = `whsec_${randomBytes(24).toString('hex')}`;
    const serverArgs = [db.url, String(POOL), secret, String(emulatorPort)];
    const server = (kind: 'app' | 'receiver' | 'baseline') =>
      startChild('webhooksServer.js', [kind, ...serverArgs], /listening (\d+)/, (m) => `http://127.0.0.1:${m[1]}`);

    // The baseline first, alone; its rows (the same table, the same trigger) are removed before Tollgate runs.
    log('baseline: node:http + pg, verify and insert');
    const baseline = await server('baseline');
    await load('warm-up', baseline.url, templates, secret, 2, connections);
    const base = await load('baseline', baseline.url, templates, secret, duration, connections);
    await baseline.stop();
    await pool.query('delete from stripe_event');

    // Tollgate acknowledging only (no worker in the process), to tell the route's cost from the worker's.
    log('tollgate receiving only (WEBHOOK_PROCESSING=off)');
    const receiver = await server('receiver');
    await load('warm-up', receiver.url, templates, secret, 2, connections);
    const receiving = await load('receiving', receiver.url, templates, secret, duration, connections);
    await receiver.stop();
    await pool.query('delete from stripe_event');

    log('tollgate: POST /webhooks/stripe and the webhook worker');
    const app = await server('app');
    stops.push(() => app.stop());
    await load('warm-up', app.url, templates, secret, 2, connections);
    await drained(pool);
    await pool.query('delete from stripe_event');
    const started = performance.now();
    const ours = await load('tollgate', app.url, templates, secret, duration, connections);
    const drainMs = await drained(pool);
    const totalS = (performance.now() - started) / 1000;
    const { rows: outcome } = await pool.query<{ status: string; n: number }>(
      'select status, count(*)::int as n from stripe_event group by status order by status',
    );

    const row = (r: Result, ratioTo?: Result) =>
      `| ${r.name.padEnd(9)} | ${String(r.acked).padStart(6)} | ${r.rps.toFixed(0).padStart(8)} | ${String(r.p50).padStart(5)} | ${String(r.p99).padStart(5)} | ${ratioTo ? `${((r.rps / ratioTo.rps) * 100).toFixed(0)}%`.padStart(6) : '     -'} | ${String(r.errors).padStart(6)} |`;
    process.stdout.write(
      [
        '',
        `duration ${duration}s per run, ${connections} connections, pool ${POOL}, ${templates.length} template events (${types.length} types)`,
        '| run       |  acked | events/s | p50ms | p99ms |  ratio | errors |',
        '|-----------|--------|----------|-------|-------|--------|--------|',
        row(base),
        row(receiving, base),
        row(ours, base),
        '',
        `acknowledged: ${ours.rps.toFixed(0)} events/s (goal >= 1000), p99 ${ours.p99} ms (goal <= 50 ms), ${((ours.rps / base.rps) * 100).toFixed(0)}% of the baseline`,
        `without the worker in the process (WEBHOOK_PROCESSING=off): ${receiving.rps.toFixed(0)} events/s, p99 ${receiving.p99} ms, ${((receiving.rps / base.rps) * 100).toFixed(0)}% of the baseline`,
        `processed: all ${ours.acked} within ${(drainMs / 1000).toFixed(1)} s after the load ended (${(ours.acked / totalS).toFixed(0)} events/s from the start of the run)`,
        `inbox: ${outcome.map((o) => `${o.status}=${o.n}`).join(', ')}`,
        '',
      ].join('\n'),
    );
  } finally {
    for (const stop of stops.reverse()) await stop();
    await db.close();
  }
}

main().catch((err) => {
  process.stderr.write(`${err?.stack ?? err}\n`);
  process.exit(1);
});
