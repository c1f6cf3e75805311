import type Stripe from 'stripe';
import { findPortalConfiguration } from '../src/billing/portalConfiguration';
import { syncStripeCatalog } from '../src/sync/catalog';
import { sql } from './support/db';
import { startTestServer, type TestServer } from './support/server';

jest.setTimeout(120_000);

export const PORTAL = `mutation($returnUrl: String!) { createBillingPortalSession(returnUrl: $returnUrl) { url } }`;
const CREATE_PLAN = `mutation($input: CreatePlanInput!) { createPlan(input: $input) { code pricingOptions { id } } }`;
const ARCHIVE_OPTION = `mutation($id: ID!) { archivePricingOption(id: $id) { id active } }`;

/** The Stripe price id of a pricing option, by lookup key. */
async function priceOf(server: TestServer, lookupKey: string): Promise<{ price: string; product: string }> {
  const [row] = await sql(
    server.databaseUrl,
    `select pp.stripe_price_id as price, p.stripe_product_id as product from plan_pricing pp join plan p on p.id = pp.plan_id where pp.lookup_key = $1`,
    [lookupKey],
  );
  return { price: row.price as string, product: row.product as string };
}

describe('createBillingPortalSession', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ stripe: true });
  });
  afterAll(() => server.close());

  it('answers a link to the portal of the user’s customer, made on first need, returning to returnUrl', async () => {
    const user = await server.createUser();
    const res = await server.gql(PORTAL, { returnUrl: 'https://app.example.com/account' }, user.token);
    expect(res.errors).toBeUndefined();
    const { url } = res.data.createBillingPortalSession;
    expect(url).toMatch(new RegExp(`^${server.emulator.url}/p/session/test_`));

    const [{ stripe_customer_id: customerId }] = await sql(server.databaseUrl, 'select stripe_customer_id from app_user where id = $1', [
      user.id,
    ]);
    expect(customerId).toMatch(/^cus_/);
    const customer = (await server.stripe.customers.retrieve(customerId)) as Stripe.Customer;
    expect(customer).toMatchObject({ email: user.email, metadata: { tollgate_user_id: user.id } });

    const page = await fetch(url);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain(user.email);
    expect(html).toContain('href="https://app.example.com/account"');
    expect(html).toContain('No active subscriptions.');

    // A second link: a new session of the same customer.
    const again = await server.gql(PORTAL, { returnUrl: 'https://app.example.com/account' }, user.token);
    expect(again.data.createBillingPortalSession.url).not.toBe(url);
    expect((await sql(server.databaseUrl, 'select stripe_customer_id from app_user where id = $1', [user.id]))[0].stripe_customer_id).toBe(
      customerId,
    );
  });

  it.each([
    ['an empty URL', ''],
    ['a relative URL', '/account'],
    ['another scheme', 'javascript:alert(1)'],
    ['a URL over 2,048 characters', `https://app.example.com/${'a'.repeat(2048)}`],
  ])('refuses %s with BAD_USER_INPUT and writes nothing', async (_what, returnUrl) => {
    const user = await server.createUser();
    const res = await server.gql(PORTAL, { returnUrl }, user.token);
    expect(res.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'returnUrl' });
    expect(res.data).toBeNull();
    const [row] = await sql(server.databaseUrl, 'select stripe_customer_id from app_user where id = $1', [user.id]);
    expect(row.stripe_customer_id).toBeNull();
  });

  it('needs a user: no credential is UNAUTHENTICATED', async () => {
    const res = await server.gql(PORTAL, { returnUrl: 'https://app.example.com/account' });
    expect(res.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
  });
});

describe('the portal configuration follows the catalog', () => {
  let server: TestServer;
  let admin: string;
  beforeAll(async () => {
    server = await startTestServer({ stripe: true });
    admin = (await server.createUser({ admin: true })).token;
  });
  afterAll(() => server.close());

  it('made at catalog sync: cancel at period end, card, invoices, and changes between the renewing paid plans', async () => {
    const config = await findPortalConfiguration(server.stripe);
    const premium = await priceOf(server, 'premium_monthly');
    expect(config).toMatchObject({
      active: true,
      metadata: { tollgate_portal: 'plans' },
      features: {
        invoice_history: { enabled: true },
        payment_method_update: { enabled: true },
        subscription_cancel: { enabled: true, mode: 'at_period_end', cancellation_reason: { enabled: true } },
        customer_update: { enabled: false },
        subscription_update: {
          enabled: true,
          default_allowed_updates: ['price'],
          // the Day Pass does not renew: it is bought, not switched to
          products: [expect.objectContaining({ product: premium.product, prices: [premium.price] })],
          proration_behavior: 'always_invoice',
          schedule_at_period_end: { conditions: [{ type: 'decreasing_item_amount' }, { type: 'shortening_interval' }] },
        },
      },
    });
    const report = await syncStripeCatalog(server.em(), server.stripe);
    expect(report.portalConfiguration).toBe('unchanged');
    const all = await server.stripe.billingPortal.configurations.list({ limit: 100 });
    expect(all.data.filter((c) => c.metadata?.tollgate_portal)).toHaveLength(1);
  });

  it('a new renewing plan is offered, an archived option no longer, through the same configuration', async () => {
    const before = await findPortalConfiguration(server.stripe);
    const created = await server.gql(
      CREATE_PLAN,
      {
        input: {
          code: 'basic',
          name: 'Basic',
          rank: 1,
          pricingOptions: [{ lookupKey: 'basic_monthly', amount: '50', currency: 'USD', interval: 'MONTH' }],
        },
      },
      admin,
    );
    expect(created.errors).toBeUndefined();
    const basic = await priceOf(server, 'basic_monthly');
    const withBasic = await findPortalConfiguration(server.stripe);
    expect(withBasic!.id).toBe(before!.id);
    expect(withBasic!.features.subscription_update.products!.map((p) => p.prices)).toEqual([
      [basic.price],
      [(await priceOf(server, 'premium_monthly')).price],
    ]);

    const archived = await server.gql(ARCHIVE_OPTION, { id: created.data.createPlan.pricingOptions[0].id }, admin);
    expect(archived.errors).toBeUndefined();
    const after = await findPortalConfiguration(server.stripe);
    expect(after!.features.subscription_update.products!.map((p) => p.product)).toEqual([
      (await priceOf(server, 'premium_monthly')).product,
    ]);
  });

  it('a fresh Stripe account (no configuration): the next sync makes it again', async () => {
    const config = await findPortalConfiguration(server.stripe);
    await server.stripe.billingPortal.configurations.update(config!.id, { active: false });
    expect(await findPortalConfiguration(server.stripe)).toBeNull();
    const user = await server.createUser();
    const refused = await server.gql(PORTAL, { returnUrl: 'https://app.example.com/' }, user.token);
    expect(refused.errors?.[0].extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    expect(
      (await sql(server.databaseUrl, 'select stripe_customer_id from app_user where id = $1', [user.id]))[0].stripe_customer_id,
    ).toBeNull();
    expect((await syncStripeCatalog(server.em(), server.stripe)).portalConfiguration).toBe('created');
    const made = await server.gql(PORTAL, { returnUrl: 'https://app.example.com/' }, user.token);
    expect(made.errors).toBeUndefined();
  });
});
