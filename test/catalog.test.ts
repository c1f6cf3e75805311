import { getIntrospectionQuery } from 'graphql';
import { LimitPeriod, Plan, PlanLimit, PlanPricing, PricingInterval } from '../src/entities';
import { sql } from './support/db';
import { startTestServer, type TestServer } from './support/server';

const PLANS = /* GraphQL */ `
  query {
    plans {
      id
      code
      name
      description
      isDefault
      limits {
        metric
        perDay
      }
      pricingOptions {
        id
        amount {
          amount
          amountMinor
          currency
        }
        interval
        intervalCount
        autoRenew
      }
    }
  }
`;

describe('plan catalog over GraphQL', () => {
  let server: TestServer;
  const statements: string[] = [];

  beforeAll(async () => {
    server = await startTestServer({ onQuery: (q) => statements.push(q) });
  });
  afterAll(() => server.close());

  it('lists the three seeded plans in display order with amounts and limits', async () => {
    const res = await server.gql(PLANS);
    expect(res.errors).toBeUndefined();
    const plans = res.data.plans;
    expect(plans.map((p: any) => p.code)).toEqual(['free', 'day_pass', 'premium']);

    const [free, dayPass, premium] = plans;
    expect(free).toMatchObject({ name: 'Free', isDefault: true });
    expect(free.limits).toEqual(
      expect.arrayContaining([
        { metric: 'minutes', perDay: 180 },
        { metric: 'megabytes', perDay: 300 },
      ]),
    );
    expect(free.pricingOptions).toEqual([
      expect.objectContaining({
        amount: { amount: '0.00', amountMinor: 0, currency: 'usd' },
        interval: 'MONTH',
        intervalCount: 1,
        autoRenew: true,
      }),
    ]);
    expect(dayPass).toMatchObject({ name: 'Day Pass', isDefault: false });
    expect(dayPass.pricingOptions).toEqual([
      expect.objectContaining({ amount: { amount: '5.00', amountMinor: 500, currency: 'usd' }, interval: 'DAY', autoRenew: false }),
    ]);
    expect(premium).toMatchObject({ name: 'Premium', isDefault: false });
    expect(premium.pricingOptions).toEqual([
      expect.objectContaining({ amount: { amount: '200.00', amountMinor: 20000, currency: 'usd' }, interval: 'MONTH', autoRenew: true }),
    ]);
    expect(premium.limits).toEqual(
      expect.arrayContaining([
        { metric: 'minutes', perDay: null },
        { metric: 'megabytes', perDay: null },
      ]),
    );
  });

  it('finds one plan by code and answers null for an unknown code', async () => {
    const res = await server.gql(`query($c: String!) { plan(code: $c) { code name } }`, { c: 'premium' });
    expect(res.data.plan).toEqual({ code: 'premium', name: 'Premium' });
    const missing = await server.gql(`query { plan(code: "gold") { code } }`);
    expect(missing.errors).toBeUndefined();
    expect(missing.data.plan).toBeNull();
  });

  it('runs the same number of SQL statements for 3 plans as for 30', async () => {
    statements.length = 0;
    await server.gql(PLANS);
    const withThree = statements.length;

    const em = server.em();
    for (let i = 0; i < 27; i++) {
      const plan = em.create(Plan, { code: `extra_${i}`, name: `Extra ${i}`, sortOrder: 10 + i });
      em.create(PlanLimit, { plan, metric: 'minutes', period: LimitPeriod.DAY, allowance: i });
      em.create(PlanPricing, {
        plan,
        lookupKey: `extra_${i}_monthly`,
        amountMinor: 100 * i + 1,
        currency: 'usd',
        interval: PricingInterval.MONTH,
      });
    }
    await em.flush();

    statements.length = 0;
    const res = await server.gql(PLANS);
    expect(res.data.plans).toHaveLength(30);
    expect(res.data.plans[29].pricingOptions[0].amount.amount).toBe('26.01');
    expect(statements.length).toBe(withThree);
    expect(withThree).toBeLessThanOrEqual(3);
  });

  it('shows active plans and pricing options only', async () => {
    await sql(server.databaseUrl, `update plan set active = false where code = 'day_pass'`);
    await sql(
      server.databaseUrl,
      `insert into plan_pricing (id, created_at, updated_at, plan_id, lookup_key, amount_minor, currency, interval, active)
      select gen_random_uuid(), now(), now(), id, 'premium_yearly_retired', 200000, 'usd', 'year', false from plan where code = 'premium'`,
    );
    try {
      const res = await server.gql(
        `query { plans { code } dayPass: plan(code: "day_pass") { code } premium: plan(code: "premium") { pricingOptions { interval } } }`,
      );
      expect(res.data.plans.map((p: any) => p.code)).not.toContain('day_pass');
      expect(res.data.plans.slice(0, 2).map((p: any) => p.code)).toEqual(['free', 'premium']);
      expect(res.data.dayPass).toBeNull();
      expect(res.data.premium.pricingOptions).toEqual([{ interval: 'MONTH' }]);
    } finally {
      await sql(server.databaseUrl, `update plan set active = true where code = 'day_pass'`);
      await sql(server.databaseUrl, `delete from plan_pricing where lookup_key = 'premium_yearly_retired'`);
    }
  });

  it('answers each request from an EntityManager and DataLoaders of its own: nothing is cached across requests', async () => {
    const q = `query { plan(code: "free") { name limits { metric perDay } } }`;
    const minutes = (res: any) => res.data.plan.limits.find((l: any) => l.metric === 'minutes').perDay;
    expect(minutes(await server.gql(q))).toBe(180);
    await sql(
      server.databaseUrl,
      `update plan_limit set allowance = 181 where metric = 'minutes' and period = 'day' and plan_id = (select id from plan where code = 'free')`,
    );
    await sql(server.databaseUrl, `update plan set name = 'Free!' where code = 'free'`);
    try {
      const after = await server.gql(q);
      expect(after.data.plan.name).toBe('Free!');
      expect(minutes(after)).toBe(181);
    } finally {
      await sql(
        server.databaseUrl,
        `update plan_limit set allowance = 180 where metric = 'minutes' and period = 'day' and plan_id = (select id from plan where code = 'free')`,
      );
      await sql(server.databaseUrl, `update plan set name = 'Free' where code = 'free'`);
    }
  });

  describe('with tight query limits', () => {
    let limited: TestServer;
    const limitedStatements: string[] = [];
    beforeAll(async () => {
      limited = await startTestServer({
        env: { GRAPHQL_MAX_DEPTH: '3', GRAPHQL_MAX_COST: '60' },
        onQuery: (q) => limitedStatements.push(q),
      });
    });
    beforeEach(() => {
      limitedStatements.length = 0;
    });
    afterAll(() => limited.close());

    it('refuses a query deeper than the limit with a coded error and no data', async () => {
      const res = await limited.gql(`query { plans { pricingOptions { amount { amount } } } }`);
      expect(res.errors?.[0].extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(res.errors?.[0].message).toBe('Query depth limit of 3 exceeded, found 4.');
      expect(res.data).toBeUndefined();
      expect(limitedStatements).toEqual([]); // refused before any work
    });

    it('refuses a query above the cost limit with a coded error', async () => {
      const fields = Array.from({ length: 20 }, (_, i) => `p${i}: plans { id code name }`).join('\n');
      const res = await limited.gql(`query { ${fields} }`);
      expect(res.errors?.[0].extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(res.errors?.[0].message).toMatch(/^Query Cost limit of 60 exceeded, found \d+/);
      expect(res.data).toBeUndefined();
      expect(limitedStatements).toEqual([]);
    });

    it('still serves a query within both limits', async () => {
      const res = await limited.gql(`query { plans { code } }`);
      expect(res.errors).toBeUndefined();
      expect(res.data.plans).toHaveLength(3);
      expect(limitedStatements).toHaveLength(1);
    });

    it('serves the introspection query tools such as Apollo Sandbox send, whatever the limits', async () => {
      const res = await limited.gql(getIntrospectionQuery());
      expect(res.errors).toBeUndefined();
      expect(res.data.__schema.queryType.name).toBe('Query');
    });

    it('counts a fragment as the fields it holds, so fragments neither hide depth nor add to it', async () => {
      const withFragments = `query { plans { ...A } } fragment A on Plan { pricingOptions { ...B } } fragment B on PricingOption { amount { ...C } } fragment C on Money { amount }`;
      // depth 4 (plans > pricingOptions > amount > amount), as written out: within the default limit of 8 ...
      const res = await server.gql(withFragments);
      expect(res.errors).toBeUndefined();
      expect(res.data.plans[2].pricingOptions[0].amount.amount).toBe('200.00');
      // ... and over a limit of 3, with the depth the query really has
      const deep = await limited.gql(withFragments);
      expect(deep.errors?.[0]).toMatchObject({
        message: 'Query depth limit of 3 exceeded, found 4.',
        extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
      });
      const inline = await limited.gql(`query { plans { ... on Plan { pricingOptions { ... on PricingOption { amount { amount } } } } } }`);
      expect(inline.errors?.[0].message).toBe('Query depth limit of 3 exceeded, found 4.');
      expect(limitedStatements).toEqual([]);
    });
  });

  it('masks internal errors: no SQL, no stack, a generic message', async () => {
    await sql(server.databaseUrl, 'alter table plan_limit rename to plan_limit_moved');
    try {
      const res = await server.gql(`query { plans { code limits { metric } } }`);
      expect(res.errors?.[0]).toEqual(
        expect.objectContaining({ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }),
      );
      expect(JSON.stringify(res)).not.toMatch(/plan_limit|select|stack/i);
    } finally {
      await sql(server.databaseUrl, 'alter table plan_limit_moved rename to plan_limit');
    }
  });

  it('answers /healthz and /readyz', async () => {
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', checks: { database: 'ok' } });
  });

  it('serves the Apollo Sandbox landing page to a browser', async () => {
    const res = await fetch(`${server.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/sandbox/i);
  });
});
