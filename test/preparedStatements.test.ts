import type { EntityManager } from '@mikro-orm/postgresql';
import { createOrm, type Orm } from '../src/db/orm';
import { query } from '../src/db/sql';
import { createLogger } from '../src/logger';
import { createTestDatabase } from './support/db';

/** How many statements the connection that runs this has prepared (the view shows the session's own). */
const PREPARED_HERE = 'select count(*)::int as prepared, $1::int as probe from pg_prepared_statements';

describe('hand-written statements', () => {
  let url: string;
  const orms: Orm[] = [];
  beforeAll(async () => {
    url = await createTestDatabase('prepared');
  });
  afterAll(async () => {
    for (const orm of orms) await orm.close();
  });

  async function ormWith(preparedStatements: boolean | undefined): Promise<EntityManager> {
    const orm = await createOrm(url, { logger: createLogger('silent'), poolMax: 1, preparedStatements });
    orms.push(orm);
    return orm.em as EntityManager;
  }

  it('are prepared once per connection and then only bound, by default', async () => {
    const em = await ormWith(undefined);
    const [first] = await query<{ prepared: number; probe: number }>(em, PREPARED_HERE, [1]);
    const [again] = await query<{ prepared: number; probe: number }>(em, PREPARED_HERE, [2]);
    expect(first).toEqual({ prepared: 1, probe: 1 });
    expect(again).toEqual({ prepared: 1, probe: 2 });
  });

  it('run unnamed, parsed on every call, with DATABASE_PREPARED_STATEMENTS=off (for a pooler in transaction mode)', async () => {
    const em = await ormWith(false);
    const [row] = await query<{ prepared: number; probe: number }>(em, PREPARED_HERE, [3]);
    expect(row).toEqual({ prepared: 0, probe: 3 });
  });

  it('are prepared afresh when what they read changes shape meanwhile (a migration run by another process)', async () => {
    const em = await ormWith(undefined);
    await query(em, 'create table shape (a int)');
    await query(em, 'insert into shape values (1)');
    expect(await query(em, 'select * from shape')).toEqual([{ a: 1 }]);
    await query(em, 'alter table shape add column b int default 2');
    expect(await query(em, 'select * from shape')).toEqual([{ a: 1, b: 2 }]);
    expect(await query(em, 'select * from shape')).toEqual([{ a: 1, b: 2 }]);
  });
});
