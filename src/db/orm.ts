import { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import { ormOptions } from '../../mikro-orm.config';
import type { Logger } from '../logger';
import { unpreparedStatements } from './sql';

export type Orm = MikroORM;

export interface OrmOptions {
  logger: Logger;
  /** Called with every SQL statement the ORM sends (used to count statements). */
  onQuery?: (sql: string) => void;
  poolMax?: number;
  /** Whether hand-written statements are prepared once per connection (db/sql.ts); default yes. */
  preparedStatements?: boolean;
}

export async function createOrm(clientUrl: string, { logger, onQuery, poolMax, preparedStatements = true }: OrmOptions): Promise<Orm> {
  const log = logger.child({ component: 'orm' });
  const orm = await MikroORM.init(
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
  if (!preparedStatements) unpreparedStatements(orm.em.getConnection());
  return orm;
}

/**
 * Any fixed number shared by every Tollgate process on a database: the key of the session-level advisory
 * lock that serialises startup (migrations, the first seed) between replicas starting at once.
 */
const STARTUP_LOCK_KEY = 0x7011_6a7e;

/**
 * Runs `fn` while holding the startup lock. Without it, two servers starting together on an empty
 * database would both find the same migrations pending and the second would fail on "already exists".
 * The lock is held on a connection of its own, outside the ORM's pool (which may have a single
 * connection), and PostgreSQL releases it if this process dies.
 */
export async function withStartupLock<T>(orm: Orm, fn: () => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: orm.config.getClientUrl() });
  await client.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [STARTUP_LOCK_KEY]);
    return await fn();
  } finally {
    // Closing the session releases the lock too; the explicit unlock just does not wait for that.
    await client.query('select pg_advisory_unlock($1)', [STARTUP_LOCK_KEY]).catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}

/**
 * Applies every pending migration, all in one transaction (all or nothing), under the startup lock so
 * that concurrent starts apply them once.
 */
export async function migrate(orm: Orm, logger: Logger): Promise<string[]> {
  return withStartupLock(orm, () => migrateLocked(orm, logger));
}

/** `migrate` for a caller that already holds the startup lock (advisory locks do not nest across sessions). */
export async function migrateLocked(orm: Orm, logger: Logger): Promise<string[]> {
  const migrator = orm.getMigrator();
  const pending = await migrator.getPendingMigrations();
  if (pending.length === 0) return [];
  logger.info({ pending: pending.map((m) => m.name) }, 'applying migrations');
  const applied = await migrator.up();
  logger.info({ applied: applied.map((m) => m.name) }, 'migrations applied');
  return applied.map((m) => m.name);
}
