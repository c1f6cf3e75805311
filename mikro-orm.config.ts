import { join } from 'node:path';
import { Migrator } from '@mikro-orm/migrations';
import { defineConfig, type Options } from '@mikro-orm/postgresql';
import { SeedManager } from '@mikro-orm/seeder';
import { OutboxSubscriber } from './src/db/outbox';
import { ENTITIES } from './src/entities';

/**
 * MikroORM options shared by the server, the command-line scripts and the tests. The connection URL
 * comes from src/config.ts (or the embedded PostgreSQL), never from here.
 *
 * This file is compiled to dist/mikro-orm.config.js; migrations run from dist/src/db/migrations and
 * `npm run migration:create` writes new TypeScript migrations to src/db/migrations.
 */
const compiledRoot = __dirname; // dist/ once compiled
const sourceRoot = join(__dirname, '..');

export function ormOptions(clientUrl: string, overrides: Partial<Options> = {}): Options {
  return defineConfig({
    clientUrl,
    entities: ENTITIES,
    extensions: [Migrator, SeedManager],
    // Events to the product are written in the flush of the change they report (src/db/outbox.ts).
    subscribers: [new OutboxSubscriber()],
    discovery: { disableDynamicFileAccess: true, requireEntitiesArray: true },
    migrations: {
      tableName: 'mikro_orm_migrations',
      path: join(compiledRoot, 'src/db/migrations'),
      pathTs: join(sourceRoot, 'src/db/migrations'),
      glob: '!(*.d).js',
      transactional: true,
      allOrNothing: true,
      snapshot: false,
      emit: 'ts',
    },
    seeder: {
      path: join(compiledRoot, 'seeds'),
      pathTs: join(sourceRoot, 'seeds'),
      defaultSeeder: 'DatabaseSeeder',
      emit: 'ts',
    },
    pool: { min: 0, max: 20 },
    // Our own ids are uuids generated in code; timestamps are timestamptz and stay UTC in JS.
    forceUtcTimezone: true,
    ...overrides,
  });
}

export default ormOptions;
