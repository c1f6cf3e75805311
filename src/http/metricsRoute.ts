import { createHash, timingSafeEqual } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Router } from 'express';
import type { Orm } from '../db/orm';
import { query } from '../db/sql';
import { resourceGauges, scrape } from '../metrics';

interface TarnPool {
  numUsed(): number;
  numFree(): number;
  numPendingAcquires(): number;
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * GET /metrics in Prometheus' text format, served only when METRICS_TOKEN is set and only to
 * `Authorization: Bearer <METRICS_TOKEN>` (compared in constant time); without the token there is no route.
 */
export function metricsRoutes(orm: Orm, token: string | undefined): Router {
  const router = Router();
  if (!token) return router;
  const expected = digest(`Bearer ${token}`);
  const own = resourceGauges({
    inboxBacklog: async () => {
      const [row] = await query<{ n: number }>(
        orm.em as EntityManager,
        `select count(*)::int as n from stripe_event where status in ('pending', 'failed')`,
      );
      return row.n;
    },
    pool: () => {
      const pool = (orm.em.getConnection() as unknown as { getKnex(): { client: { pool?: TarnPool } } }).getKnex().client.pool;
      return { used: pool?.numUsed() ?? 0, free: pool?.numFree() ?? 0, pending: pool?.numPendingAcquires() ?? 0 };
    },
  });
  router.get('/metrics', async (req, res) => {
    if (!timingSafeEqual(digest(req.header('authorization') ?? ''), expected)) {
      res
        .status(401)
        .set('www-authenticate', 'Bearer')
        .json({ error: { code: 'UNAUTHENTICATED', message: 'GET /metrics needs Authorization: Bearer <METRICS_TOKEN>' } });
      return;
    }
    try {
      const { contentType, body } = await scrape(own);
      res.type(contentType).send(body);
    } catch {
      // The inbox gauge needs the database: say so, as /readyz does.
      res
        .status(503)
        .json({ error: { code: 'SERVICE_UNAVAILABLE', message: 'metrics could not be collected: the database is unreachable' } });
    }
  });
  return router;
}
