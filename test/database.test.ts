import type { EntityManager } from '@mikro-orm/postgresql';
import { catalogDefinition, seedCatalog } from '../src/billing/catalog';
import { createOrm, migrate, type Orm } from '../src/db/orm';
import { createLogger } from '../src/logger';
import { createTestDatabase, sql } from './support/db';

describe('database schema', () => {
  let url: string;
  let orm: Orm;
  beforeAll(async () => {
    url = await createTestDatabase('schema');
    orm = await createOrm(url, { logger: createLogger('silent') });
    await migrate(orm, createLogger('silent'));
    await seedCatalog(orm.em.fork() as EntityManager, catalogDefinition());
  });
  afterAll(() => orm.close());

  it('has migrations that match the entities exactly (migration:create would find nothing)', async () => {
    expect(await orm.getMigrator().checkMigrationNeeded()).toBe(false);
    expect(await orm.getMigrator().getPendingMigrations()).toEqual([]);
  });

  it('allows at most one default plan', async () => {
    await expect(sql(url, `update plan set is_default = true where code = 'premium'`)).rejects.toThrow(/plan_single_default/);
  });

  it('requires a default plan whenever plans exist', async () => {
    await expect(sql(url, `update plan set is_default = false where code = 'free'`)).rejects.toThrow(/exactly one plan must be the default/);
    const rows = await sql(url, `select code from plan where is_default`);
    expect(rows).toEqual([{ code: 'free' }]);
  });

  it('can move the default from one plan to another in one transaction', async () => {
    await sql(url, `begin; update plan set is_default = false where code = 'free'; update plan set is_default = true where code = 'premium'; commit;`);
    expect(await sql(url, `select code from plan where is_default`)).toEqual([{ code: 'premium' }]);
    await sql(url, `begin; update plan set is_default = false where code = 'premium'; update plan set is_default = true where code = 'free'; commit;`);
  });

  it('keeps every Stripe id unique', async () => {
    await sql(url, `update plan set stripe_product_id = 'prod_same' where code = 'free'`);
    await expect(sql(url, `update plan set stripe_product_id = 'prod_same' where code = 'premium'`)).rejects.toThrow(/unique/);
  });
});
