import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { EntityManager } from '@mikro-orm/postgresql';
import { catalogDefinition, seedCatalog } from '../src/billing/catalog';
import { createOrm, migrate, type Orm } from '../src/db/orm';
import { createLogger } from '../src/logger';
import { ROOT, runScript } from './support/cli';
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
    await expect(
      sql(
        url,
        `insert into plan (id, created_at, updated_at, code, name, is_default) values (gen_random_uuid(), now(), now(), 'gold', 'Gold', true)`,
      ),
    ).rejects.toThrow(/plan_single_default/);
  });

  it('requires a default plan whenever plans exist', async () => {
    await expect(sql(url, `update plan set is_default = false where code = 'free'`)).rejects.toThrow(
      /exactly one plan must be the default/,
    );
    await expect(sql(url, `delete from plan where code = 'free'`)).rejects.toThrow(/exactly one plan must be the default/);
    const rows = await sql(url, `select code from plan where is_default`);
    expect(rows).toEqual([{ code: 'free' }]);
  });

  it('can move the default from one plan to another in one transaction', async () => {
    await sql(
      url,
      `begin; update plan set is_default = false where code = 'free'; update plan set is_default = true where code = 'premium'; commit;`,
    );
    expect(await sql(url, `select code from plan where is_default`)).toEqual([{ code: 'premium' }]);
    await sql(
      url,
      `begin; update plan set is_default = false where code = 'premium'; update plan set is_default = true where code = 'free'; commit;`,
    );
  });

  it('stores every point in time as timestamptz', async () => {
    const columns = await sql(
      url,
      `select table_name, column_name, data_type from information_schema.columns where table_schema = 'public' and data_type like 'timestamp%' order by 1, 2`,
    );
    expect(columns.length).toBeGreaterThan(10);
    expect(columns.filter((c) => c.data_type !== 'timestamp with time zone')).toEqual([]);
    // and nothing time-like hides in another type (the one date is a usage record's local day)
    const others = await sql(
      url,
      `select table_name, column_name, data_type from information_schema.columns where table_schema = 'public' and (column_name like '%\\_at' or data_type in ('date', 'time without time zone', 'time with time zone')) and data_type <> 'timestamp with time zone' order by 1, 2`,
    );
    expect(others.map((c) => `${c.table_name}.${c.column_name} ${c.data_type}`)).toEqual(['usage_record.day date']);
  });

  it('keeps money as integer minor units next to a three-letter currency', async () => {
    const inexact = await sql(
      url,
      `select table_name, column_name from information_schema.columns where table_schema = 'public' and data_type in ('numeric', 'real', 'double precision', 'money')`,
    );
    expect(inexact).toEqual([]);
    const amounts = await sql(
      url,
      `select table_name, column_name, data_type from information_schema.columns where table_schema = 'public' and column_name like '%amount\\_minor' order by 1, 2`,
    );
    expect(amounts.map((c) => `${c.table_name}.${c.column_name} ${c.data_type}`)).toEqual([
      'invoice.due_amount_minor integer',
      'invoice.paid_amount_minor integer',
      'invoice.remaining_amount_minor integer',
      'invoice.total_amount_minor integer',
      'payment.amount_minor integer',
      'payment.captured_amount_minor integer',
      'payment.refunded_amount_minor integer',
      'plan_pricing.amount_minor integer',
    ]);
    const currencies = await sql(
      url,
      `select table_name, data_type, character_maximum_length as len from information_schema.columns where table_schema = 'public' and column_name = 'currency' order by 1`,
    );
    expect(currencies).toEqual([
      { table_name: 'invoice', data_type: 'character', len: 3 },
      { table_name: 'payment', data_type: 'character', len: 3 },
      { table_name: 'plan_pricing', data_type: 'character', len: 3 },
    ]);
  });

  it('has a unique index on every column that holds a Stripe id', async () => {
    const stripeColumns = await sql(
      url,
      `select table_name || '.' || column_name as col from information_schema.columns where table_schema = 'public' and column_name like 'stripe\\_%\\_id' order by 1`,
    );
    expect(stripeColumns.map((c) => c.col)).toEqual(
      expect.arrayContaining([
        'app_user.stripe_customer_id',
        'invoice.stripe_invoice_id',
        'payment.stripe_checkout_session_id',
        'payment.stripe_payment_intent_id',
        'plan.stripe_product_id',
        'plan_pricing.stripe_price_id',
        'subscription.stripe_checkout_session_id',
        'subscription.stripe_subscription_id',
      ]),
    );
    // Single-column unique indexes (unique constraints and primary keys included), by table.column.
    const unique = await sql(
      url,
      `select t.relname || '.' || a.attname as col
         from pg_index i
         join pg_class t on t.oid = i.indrelid
         join pg_namespace n on n.oid = t.relnamespace and n.nspname = 'public'
         join pg_attribute a on a.attrelid = t.oid and a.attnum = i.indkey[0]
        where i.indisunique and i.indnkeyatts = 1 and i.indpred is null`,
    );
    const uniqueCols = new Set(unique.map((u) => u.col));
    // The webhook inbox is keyed by Stripe's event id.
    expect([...stripeColumns.map((c) => c.col), 'stripe_event.id'].filter((c) => !uniqueCols.has(c))).toEqual([]);
  });

  it('has the indexes later lookups need', async () => {
    const rows = await sql(url, `select indexdef from pg_indexes where schemaname = 'public'`);
    const defs = rows.map((r) =>
      String(r.indexdef)
        .replace(/ USING btree/, '')
        .replace(/public\./g, ''),
    );
    expect(defs).toEqual(
      expect.arrayContaining([
        // a user's subscriptions by status
        'CREATE INDEX subscription_user_id_status_index ON subscription (user_id, status)',
        // payments by PaymentIntent id and by Checkout Session id
        'CREATE UNIQUE INDEX payment_stripe_payment_intent_id_unique ON payment (stripe_payment_intent_id)',
        'CREATE UNIQUE INDEX payment_stripe_checkout_session_id_unique ON payment (stripe_checkout_session_id)',
        // the webhook workers' queue: events to do, the first due first
        "CREATE INDEX stripe_event_due_idx ON stripe_event (next_attempt_at) WHERE (status = ANY (ARRAY['pending'::text, 'failed'::text]))",
        // exactly one default plan (with the deferred trigger)
        'CREATE UNIQUE INDEX plan_single_default ON plan ((true)) WHERE is_default',
      ]),
    );
  });

  it('keeps every Stripe id unique', async () => {
    await sql(url, `update plan set stripe_product_id = 'prod_same' where code = 'free'`);
    await expect(sql(url, `update plan set stripe_product_id = 'prod_same' where code = 'premium'`)).rejects.toThrow(/unique/);
  });
});

describe('npm run migration:create', () => {
  it('writes nothing when the schema matches the entities, and the missing difference to src/db/migrations when not', async () => {
    const url = await createTestDatabase('migcreate');
    const none = await runScript('migrationCreate', [], { DATABASE_URL: url });
    expect(none).toEqual({ code: 0, stdout: 'no changes: the schema matches the entities\n', stderr: '' });

    // A schema that lags behind the entities: the next migration puts the column back.
    await sql(url, 'alter table plan drop column description');
    const made = await runScript('migrationCreate', [], { DATABASE_URL: url });
    const name = /^created (Migration\d{14}\.ts)\n$/.exec(made.stdout)?.[1];
    expect({ code: made.code, name: name !== undefined }).toEqual({ code: 0, name: true });
    const file = join(ROOT, 'src', 'db', 'migrations', name!);
    try {
      expect(readFileSync(file, 'utf8')).toMatch(/alter table "plan" add column "description" text not null default ''/);
    } finally {
      rmSync(file, { force: true });
    }
    expect(existsSync(file)).toBe(false);
  });
});

describe('migrations at startup', () => {
  it('are applied once when two servers start together on an empty database (replicas)', async () => {
    const url = await createTestDatabase('concurrent_migrate');
    const logger = createLogger('silent');
    const [a, b] = await Promise.all([createOrm(url, { logger }), createOrm(url, { logger })]);
    try {
      const results = await Promise.all([migrate(a, logger), migrate(b, logger)]);
      const all = (await a.getMigrator().getExecutedMigrations()).map((m) => m.name);
      expect(all.length).toBeGreaterThan(0);
      // One start applied every migration, the other waited and found none pending.
      expect(results.map((r) => r.length).sort((x, y) => x - y)).toEqual([0, all.length]);
      expect(await a.getMigrator().getPendingMigrations()).toEqual([]);
      expect(await sql(url, `select count(*)::int as n from mikro_orm_migrations`)).toEqual([{ n: all.length }]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
