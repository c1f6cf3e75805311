/**
 * One server of bench/limits.ts, in a process of its own so that it has its event loop to itself (the
 * load generator runs in the parent):
 *
 *   node dist/bench/limitsServer.js app|baseline <database url> <pool size>
 *
 * `app` is the real Tollgate app (Express 5 + Apollo Server 5 + type-graphql + MikroORM); `baseline` is a
 * bare node:http + pg server doing the same work with the same SQL. Prints "listening <port>" when ready
 * and stops on SIGTERM after its queued requests have finished.
 */
import http from 'node:http';
import pg from 'pg';
import { createApp } from '../src/app';
import { CONSUME_SQL, DEFAULT_PLAN_GRACE, LIMITS_SQL } from '../src/billing/limits';
import { consumeParams, graceParams } from '../src/billing/limitsSql';
import { localWindows, windowParams } from '../src/billing/periods';
import { hashToken } from '../src/auth/secrets';
import { loadConfig } from '../src/config';
import { createOrm, type Orm } from '../src/db/orm';
import { createLogger } from '../src/logger';
import { exitWith, serveUntilSigterm } from './servers';

/**
 * The baseline: node:http + pg, the same token lookup and the same statements, JSON out. Its statements are
 * prepared once per connection (named), as Tollgate's hand-written statements are (src/db/sql.ts), so that
 * the comparison is of the servers, not of how often PostgreSQL parses and plans.
 */
function baselineServer(pool: pg.Pool): http.Server {
  return http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      try {
        const { op } = JSON.parse(Buffer.concat(chunks).toString()) as { op: string };
        const token = (req.headers.authorization ?? '').replace(/^Bearer\s+/i, '');
        const users = await pool.query({
          name: 'token',
          text: 'select u.id, u.timezone from user_token t join app_user u on u.id = t.user_id where t.token_hash = $1',
          values: [hashToken(token)],
        });
        const user = users.rows[0];
        if (!user) {
          res.writeHead(401).end();
          return;
        }
        const now = new Date();
        const windows = localWindows(user.timezone, now);
        const { day, dayEnd: resetsAt } = windows;
        const params = [user.id, now, ...graceParams(DEFAULT_PLAN_GRACE), ...windowParams(windows)];
        if (op === 'limits') {
          const { rows } = await pool.query({ name: 'limits', text: LIMITS_SQL, values: params });
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({
              data: {
                myLimits: {
                  plan: rows[0].code,
                  day,
                  resetsAt,
                  metrics: rows.map((r) => ({
                    metric: r.metric,
                    period: r.period,
                    limit: r.allowance,
                    used: r.used,
                    resetsAt: r.resets_at,
                  })),
                },
              },
            }),
          );
        } else {
          const use = { owner: user, metric: 'minutes', amount: 1, key: null };
          const { rows } = await pool.query({
            name: 'consume',
            text: CONSUME_SQL,
            values: consumeParams([use], now, DEFAULT_PLAN_GRACE, 80),
          });
          if (rows[0].status !== 'ok') {
            // The consume's own row explains a refusal, as it does for Tollgate.
            const { period, allowance: limit, used } = rows[0];
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ errors: [{ message: 'limit', extensions: { code: 'LIMIT_EXCEEDED', period, limit, used } }] }));
            return;
          }
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ data: { recordUsage: { metric: 'minutes', used: rows[0].used, limit: rows[0].allowance } } }));
        }
      } catch (err) {
        res.writeHead(500).end(String(err));
      }
    });
  });
}

/** Lets requests still waiting for a database connection finish before the pool is closed (at most 10 s). */
async function settle(orm: Orm): Promise<void> {
  const knexPool = orm.em.getConnection().getKnex().client.pool as { numUsed(): number; numPendingAcquires(): number };
  for (let i = 0; i < 200 && knexPool.numUsed() + knexPool.numPendingAcquires() > 0; i++) await new Promise((r) => setTimeout(r, 50));
}

async function main() {
  const [kind, databaseUrl, poolSize] = process.argv.slice(2);
  const pool = Number(poolSize);
  if (!['app', 'baseline'].includes(kind) || !databaseUrl || !Number.isInteger(pool)) {
    throw new Error('usage: limitsServer.js app|baseline <database url> <pool size>');
  }
  const logger = createLogger('warn', { destination: 2 });
  let server: http.Server;
  let stop: () => Promise<void>;
  if (kind === 'app') {
    const config = loadConfig({ DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent', PORT: '0' });
    const orm = await createOrm(databaseUrl, { logger, poolMax: pool });
    // As in a running server, whose migrations and billing calls run in transactions: MikroORM keeps the
    // transaction context in an AsyncLocalStorage, and once one has been used Node 20 tracks every promise
    // of the process for it. Measuring without that would flatter Tollgate.
    await orm.em.fork().transactional(async () => undefined);
    const app = await createApp({ orm, config, logger });
    server = app.httpServer;
    stop = async () => {
      await app.stop();
      await settle(orm);
      await orm.close();
    };
  } else {
    const pgPool = new pg.Pool({ connectionString: databaseUrl, max: pool });
    server = baselineServer(pgPool);
    stop = async () => {
      await new Promise<void>((r) => server.close(() => r()));
      await pgPool.end();
    };
  }
  await serveUntilSigterm(server, stop);
  // For bench/memory.ts: what V8 itself says of the process's memory, beside the RSS it reads from /proc.
  if (process.env.BENCH_REPORT_MEMORY) {
    setInterval(() => process.stdout.write(`memory ${JSON.stringify(process.memoryUsage())}\n`), 100).unref();
  }
}

main().catch(exitWith);
