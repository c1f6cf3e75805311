import type { EntityManager } from '@mikro-orm/postgresql';
import { catalogDefinition, seedCatalog } from '../src/billing/catalog';
import { ensureCustomer } from '../src/billing/customers';
import { syncStripeCatalog } from '../src/sync/catalog';
import { sql } from './support/db';
import { startTestServer, type TestServer } from './support/server';

/** A write (POST) the emulator answered, with the Idempotency-Key it carried. */
interface Write {
  path: string;
  key: string | null;
}

describe('Stripe catalog and customers', () => {
  let server: TestServer;
  const writes: Write[] = [];
  beforeAll(async () => {
    server = await startTestServer({
      stripe: true,
      webhooks: false,
      emulatorLog: (msg, fields: any) => {
        if (msg === 'request' && fields.method === 'POST') writes.push({ path: fields.path, key: fields.idempotency_key });
      },
    });
  });
  afterAll(() => server.close());

  const stripePrices = async () => (await server.stripe.prices.list({ limit: 100 })).data;

  it('makes one Product per plan and one Price per paid pricing option, with ids stored on our rows', async () => {
    const prices = await stripePrices();
    expect(prices.map((p) => p.lookup_key).sort()).toEqual(['day_pass_daily', 'premium_monthly']);
    const premium = prices.find((p) => p.lookup_key === 'premium_monthly')!;
    expect(premium).toMatchObject({
      unit_amount: 20000,
      currency: 'usd',
      active: true,
      recurring: expect.objectContaining({ interval: 'month', interval_count: 1 }),
    });
    expect(prices.find((p) => p.lookup_key === 'day_pass_daily')).toMatchObject({
      unit_amount: 500,
      recurring: expect.objectContaining({ interval: 'day' }),
    });

    const rows = await sql(
      server.databaseUrl,
      `select p.code, p.stripe_product_id, pp.stripe_price_id from plan p join plan_pricing pp on pp.plan_id = p.id order by p.sort_order`,
    );
    expect(rows[0]).toMatchObject({ code: 'free', stripe_price_id: null });
    const products = (await server.stripe.products.list({ limit: 100 })).data;
    expect(products.map((p) => p.metadata.tollgate_plan_code).sort()).toEqual(['day_pass', 'free', 'premium']);
    expect(rows.map((r) => r.stripe_product_id)).toEqual(
      ['free', 'day_pass', 'premium'].map((code) => products.find((p) => p.metadata.tollgate_plan_code === code)!.id),
    );
    expect(rows[2]).toMatchObject({ code: 'premium', stripe_price_id: premium.id });
    expect(rows[2].stripe_product_id).toBe(premium.product);
  });

  it('creates nothing on a second run', async () => {
    const before = await stripePrices();
    const products = (await server.stripe.products.list({ limit: 100 })).data.length;
    const report = await syncStripeCatalog(server.em(), server.stripe);
    expect(report).toEqual({
      productsCreated: [],
      pricesCreated: [],
      pricesReplaced: [],
      pricesDeactivated: [],
      unchanged: ['day_pass_daily', 'premium_monthly'],
      portalConfiguration: 'unchanged',
    });
    expect(await stripePrices()).toHaveLength(before.length);
    expect((await server.stripe.products.list({ limit: 100 })).data).toHaveLength(products);
  });

  it('finds the products of an earlier run when our rows lost their ids, and creates none', async () => {
    const products = (await server.stripe.products.list({ limit: 100 })).data.map((p) => p.id).sort();
    await sql(server.databaseUrl, 'update plan set stripe_product_id = null');
    const report = await syncStripeCatalog(server.em(), server.stripe);
    expect(report.productsCreated).toEqual([]);
    expect((await server.stripe.products.list({ limit: 100 })).data.map((p) => p.id).sort()).toEqual(products);
    const rows = await sql(server.databaseUrl, 'select stripe_product_id from plan order by stripe_product_id');
    expect(rows.map((r) => r.stripe_product_id)).toEqual(products);
  });

  it('replaces a Price whose amount changed: the lookup key moves, the old Price is deactivated', async () => {
    const old = (await server.stripe.prices.list({ lookup_keys: ['day_pass_daily'] })).data[0];
    writes.length = 0;
    await seedCatalog(server.em() as EntityManager, catalogDefinition({ dayPass: '6' }));
    const report = await syncStripeCatalog(server.em(), server.stripe);
    expect(report.pricesReplaced).toEqual(['day_pass_daily']);

    const current = (await server.stripe.prices.list({ lookup_keys: ['day_pass_daily'] })).data;
    expect(current).toHaveLength(1);
    expect(current[0]).toMatchObject({ unit_amount: 600, active: true });
    expect(current[0].id).not.toBe(old.id);
    expect(current[0].product).toBe(old.product);
    expect(await server.stripe.prices.retrieve(old.id)).toMatchObject({ active: false, lookup_key: null });
    const [row] = await sql(server.databaseUrl, `select stripe_price_id from plan_pricing where lookup_key = 'day_pass_daily'`);
    expect(row.stripe_price_id).toBe(current[0].id);

    // Back to the first amount: a new Price again, never the deactivated one.
    await seedCatalog(server.em() as EntityManager, catalogDefinition());
    await syncStripeCatalog(server.em(), server.stripe);
    const back = (await server.stripe.prices.list({ lookup_keys: ['day_pass_daily'] })).data[0];
    expect(back).toMatchObject({ unit_amount: 500, active: true });
    expect([old.id, current[0].id]).not.toContain(back.id);

    // Every write of the sync carried an idempotency key made from our pricing's id.
    const [{ id: pricingId }] = await sql(server.databaseUrl, `select id from plan_pricing where lookup_key = 'day_pass_daily'`);
    expect(writes.map((w) => w.path)).toEqual(['/v1/prices', `/v1/prices/${old.id}`, '/v1/prices', `/v1/prices/${current[0].id}`]);
    for (const w of writes) expect(w.key).toMatch(new RegExp(`^tollgate:price:${pricingId}:`));
  });

  it('renames a Product whose plan was renamed, with an idempotency key', async () => {
    const [plan] = await sql(server.databaseUrl, `select id, stripe_product_id from plan where code = 'premium'`);
    await sql(server.databaseUrl, `update plan set name = 'Premium Plus' where id = $1`, [plan.id]);
    writes.length = 0;
    await syncStripeCatalog(server.em(), server.stripe);
    expect((await server.stripe.products.retrieve(plan.stripe_product_id)).name).toBe('Premium Plus');
    expect(writes).toEqual([
      { path: `/v1/products/${plan.stripe_product_id}`, key: expect.stringMatching(new RegExp(`^tollgate:product:${plan.id}:update:`)) },
    ]);
    writes.length = 0;
    await syncStripeCatalog(server.em(), server.stripe);
    expect(writes).toEqual([]);
    await sql(server.databaseUrl, `update plan set name = 'Premium' where id = $1`, [plan.id]);
    await syncStripeCatalog(server.em(), server.stripe);
    expect((await server.stripe.products.retrieve(plan.stripe_product_id)).name).toBe('Premium');
  });

  it('creates one Stripe customer for two concurrent first calls of one user', async () => {
    const user = await server.createUser();
    const [a, b] = await Promise.all([
      ensureCustomer(server.em(), server.stripe, user.id),
      ensureCustomer(server.em(), server.stripe, user.id),
    ]);
    expect(a).toBe(b);
    const customers = await server.stripe.customers.list({ email: user.email });
    expect(customers.data.map((c) => c.id)).toEqual([a]);
    expect(customers.data[0].metadata).toEqual({ tollgate_user_id: user.id });
    const [row] = await sql(server.databaseUrl, 'select stripe_customer_id from app_user where id = $1', [user.id]);
    expect(row.stripe_customer_id).toBe(a);
  });
});
