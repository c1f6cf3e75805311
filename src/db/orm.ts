import { MikroORM } from '@mikro-orm/postgresql';
import { ormOptions } from '../../mikro-orm.config';
import type { Logger } from '../logger';

export type Orm = MikroORM;

export interface OrmOptions {
  logger: Logger;
  /** Called with every SQL statement the ORM sends (used to count statements). */
  onQuery?: (sql: string) => void;
  poolMax?: number;
}

export async function createOrm(clientUrl: string, { logger, onQuery, poolMax }: OrmOptions): Promise<Orm> {
  const log = logger.child({ component: 'orm' });
  return MikroORM.init(
    ormOptions(clientUrl, {
      debug: onQuery ? ['query'] : false,
      ...(poolMax ? { pool: { min: 0, max: poolMax } } : {}),
      logger: (message: string) => log.debug(message),
      // knex's own messages (e.g. "Connection Error" when PostgreSQL drops a pooled connection) go to the
      // structured log instead of the console.
      driverOptions: {
        log: {
          warn: (message: unknown) => log.warn({ component: 'knex' }, String(message)),
          error: (message: unknown) => log.error({ component: 'knex' }, String(message)),
          deprecate: (message: unknown) => log.debug({ component: 'knex' }, String(message)),
          debug: (message: unknown) => log.debug({ component: 'knex' }, String(message)),
        },
      },
      loggerFactory: onQuery
        ? () => ({
            log: () => undefined,
            error: (namespace: string, message: string) => log.error({ namespace }, message),
            warn: (namespace: string, message: string) => log.warn({ namespace }, message),
            logQuery: (context: { query: string }) => onQuery(context.query),
            setDebugMode: () => undefined,
            isEnabled: () => true,
          })
        : undefined,
    }),
  );
}

/** Applies every pending migration; each runs in its own transaction, all or nothing. */
export async function migrate(orm: Orm, logger: Logger): Promise<string[]> {
  const migrator = orm.getMigrator();
  const pending = await migrator.getPendingMigrations();
  if (pending.length === 0) return [];
  logger.info({ pending: pending.map((m) => m.name) }, 'applying migrations');
  const applied = await migrator.up();
  logger.info({ applied: applied.map((m) => m.name) }, 'migrations applied');
  return applied.map((m) => m.name);
}
