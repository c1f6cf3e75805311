/**
 * One server of bench/webhooks.ts, in a process of its own so that it has its event loop to itself (the
 * load generator runs in the parent, the Stripe emulator in a third process):
 *
 *   node dist/bench/webhooksServer.js app|receiver|baseline <database url> <pool size> <webhook secret> <emulator port>
 *
 * `app` is the real Tollgate app (createApp: POST /webhooks/stripe and the webhook worker, which re-fetches
 * each event's object from the emulator); `receiver` is the same app with WEBHOOK_PROCESSING=off (it only
 * acknowledges, to tell the route's cost from the worker's); `baseline` is a bare node:http + pg server that verifies the
 * signature with the same SDK call and inserts the same row with the same statement. Prints
 * "listening <port>" when ready and stops on SIGTERM.
 */
import http from 'node:http';
import pg from 'pg';
import Stripe from 'stripe';
import { createApp } from '../src/app';
import { loadConfig } from '../src/config';
import { createOrm } from '../src/db/orm';
import { createLogger } from '../src/logger';
import { exitWith, serveUntilSigterm } from './servers';
import { openStripeApi } from '../src/stripe/api';
import { STORE_EVENT_SQL, storeEventParams } from '../src/sync/inbox';

/** The baseline: read the body, verify the signature, insert the row, answer 200. */
function baselineServer(pool: pg.Pool, secret: string): http.Server {
  return http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      let event: Stripe.Event;
      try {
        event = Stripe.webhooks.constructEvent(Buffer.concat(chunks), String(req.headers['stripe-signature']), secret, 300);
      } catch {
        res.writeHead(400).end();
        return;
      }
      try {
        await pool.query(STORE_EVENT_SQL, storeEventParams(event));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true}');
      } catch (err) {
        res.writeHead(500).end(String(err));
      }
    });
  });
}

async function main() {
  const [kind, databaseUrl, poolSize, secret, emulatorPort] = process.argv.slice(2);
  const pool = Number(poolSize);
  if (!['app', 'receiver', 'baseline'].includes(kind) || !databaseUrl || !Number.isInteger(pool) || !secret || !emulatorPort) {
    throw new Error('usage: webhooksServer.js app|receiver|baseline <database url> <pool size> <webhook secret> <emulator port>');
  }
  const logger = createLogger('warn', { destination: 2 });
  let server: http.Server;
  let stop: () => Promise<void>;
  if (kind !== 'baseline') {
    const config = loadConfig({
      DATABASE_URL: databaseUrl,
      LOG_LEVEL: 'silent',
      PORT: '0',
      EVENTS_DELIVERY: 'off',
      WEBHOOK_PROCESSING: kind === 'app' ? 'on' : 'off',
    });
    const orm = await createOrm(databaseUrl, { logger, poolMax: pool });
    const api = await openStripeApi(config, { protocol: 'http', host: '127.0.0.1', port: Number(emulatorPort) }, 'sk_test_bench', {
      maxNetworkRetries: 0,
    });
    const app = await createApp({
      orm,
      config,
      logger,
      stripe: { client: api.client, webhookSecret: secret, mode: 'emulator', endpoint: api.endpoint },
    });
    server = app.httpServer;
    stop = async () => {
      await app.stop();
      await orm.close();
      api.close();
    };
  } else {
    const pgPool = new pg.Pool({ connectionString: databaseUrl, max: pool });
    server = baselineServer(pgPool, secret);
    stop = async () => {
      await new Promise<void>((r) => server.close(() => r()));
      await pgPool.end();
    };
  }
  await serveUntilSigterm(server, stop);
}

main().catch(exitWith);
