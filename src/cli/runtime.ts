import type { EntityManager } from '@mikro-orm/postgresql';
import { ConfigError, loadConfig, type Config } from '../config';
import { openDatabase } from '../db/embedded';
import { createOrm, migrate, type Orm } from '../db/orm';
import { createLogger, type Logger } from '../logger';

/**
 * Shared start-up of the command-line scripts: the same configuration as the server, the same database
 * (the running embedded PostgreSQL, or one started for the script's duration), migrations applied.
 * Logs go to stderr so that stdout carries only the script's result.
 */
export interface Runtime {
  config: Config;
  logger: Logger;
  orm: Orm;
  em: EntityManager;
}

export class UsageError extends Error {}

export async function withRuntime<T>(fn: (rt: Runtime) => Promise<T>, options: { migrate?: boolean } = {}): Promise<T> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, { destination: 2, name: 'tollgate-cli' });
  const db = await openDatabase(config, logger);
  let orm: Orm | undefined;
  try {
    orm = await createOrm(db.url, { logger, preparedStatements: config.preparedStatements });
    if (options.migrate !== false) await migrate(orm, logger);
    return await fn({ config, logger, orm, em: orm.em.fork() as EntityManager });
  } finally {
    await orm?.close();
    await db.stop();
  }
}

/** Runs a script's main function: prints a failure's message (never a stack for expected errors) and sets the exit code. */
export function runCli(main: () => Promise<void>): void {
  main().then(
    () => process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0),
    (err: unknown) => {
      const known = err instanceof ConfigError || err instanceof UsageError || (err as { name?: string })?.name === 'DomainError';
      process.stderr.write(`error: ${known ? (err as Error).message : ((err as Error)?.stack ?? String(err))}\n`);
      process.exit(err instanceof UsageError ? 2 : 1);
    },
  );
}
