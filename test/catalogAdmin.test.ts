import { createApiKey } from '../src/auth/apiKeys';
import { sql } from './support/db';
import { SUBSCRIBE } from './support/billing';
import { startTestServer, type TestServer } from './support/server';

jest.setTimeout(120_000);

const PLAN_FIELDS = `code name description isDefault features limits { metric period limit }
  pricingOptions { id lookupKey active interval intervalCount autoRenew amount { amount amountMinor currency } }`;
const PLANS = `query { plans { ${PLAN_FIELDS} } }`;
const CREATE_PLAN = `mutation($input: CreatePlanInput!) { createPlan(input: $input) { ${PLAN_FIELDS} } }`;
const UPDATE_PLAN = `mutation($code: String!, $input: UpdatePlanInput!) { updatePlan(code: $code, input: $input) { ${PLAN_FIELDS} } }`;
const OPTION_FIELDS = `id lookupKey active interval intervalCount autoRenew amount { amount amountMinor currency }`;
const ADD_OPTION = `mutation($planCode: String!, $input: PricingOptionInput!) { addPricingOption(planCode: $planCode, input: $input) { ${OPTION_FIELDS} } }`;
const UPDATE_OPTION = `mutation($id: ID!, $input: PricingOptionChangeInput!) { updatePricingOption(id: $id, input: $input) { ${OPTION_FIELDS} } }`;
const ARCHIVE_OPTION = `mutation($id: ID!) { archivePricingOption(id: $id) { ${OPTION_FIELDS} } }`;

const monthly = (lookupKey: string, amount: string) => ({ lookupKey, amount, currency: 'USD', interval: 'MONTH' });

describe('catalog administration through GraphQL, synced to the Stripe emulator', () => {
  let server: TestServer;
  let admin: string;
  let adminKey: string;
  beforeAll(async () => {
    server = await startTestServer({ stripe: true });
    admin = (await server.createUser({ admin: true })).token;
    adminKey = (await createApiKey(server.em(), { name: 'catalog', scopes: ['admin'] })).key;
  });
  afterAll(() => server.close());

  const priceByKey = async (lookupKey: string) => (await server.stripe.prices.list({ lookup_keys: [lookupKey], limit: 1 })).data[0];
  const optionId = async (lookupKey: string) =>
    (await sql(server.databaseUrl, 'select id from plan_pricing where lookup_key = $1', [lookupKey]))[0].id as string;

  it('creates a plan with limits, features and a pricing option: listed in plans, with its Product and Price in Stripe', async () => {
    const input = {
      code: 'team',
      name: 'Team',
      description: 'For small teams.',
      rank: 5,
      limits: [
        { metric: 'minutes', period: 'DAY', limit: 600 },
        { metric: 'minutes', period: 'MONTH', limit: 10000 },
        { metric: 'megabytes', period: 'TOTAL', limit: null },
      ],
      features: ['export', 'sso'],
      pricingOptions: [monthly('team_monthly', '49.90')],
    };
    const res = await server.gql(CREATE_PLAN, { input }, adminKey);
    expect(res.errors).toBeUndefined();

    const plans = (await server.gql(PLANS)).data.plans;
    expect(plans.map((p: any) => p.code)).toEqual(['free', 'day_pass', 'premium', 'team']);
    expect(plans[3]).toMatchObject({
      code: 'team',
      isDefault: false,
      features: ['export', 'sso'],
      limits: [
        { metric: 'megabytes', period: 'TOTAL', limit: null },
        { metric: 'minutes', period: 'DAY', limit: 600 },
        { metric: 'minutes', period: 'MONTH', limit: 10000 },
      ],
      pricingOptions: [
        {
          lookupKey: 'team_monthly',
          active: true,
          interval: 'MONTH',
          intervalCount: 1,
          autoRenew: true,
          amount: { amount: '49.90', currency: 'usd' },
        },
      ],
    });

    const price = await priceByKey('team_monthly');
    expect(price).toMatchObject({
      unit_amount: 4990,
      currency: 'usd',
      active: true,
      recurring: expect.objectContaining({ interval: 'month' }),
    });
    const product = await server.stripe.products.retrieve(price.product as string);
    expect(product).toMatchObject({ name: 'Team', active: true, metadata: expect.objectContaining({ tollgate_plan_code: 'team' }) });
    const [row] = await sql(server.databaseUrl, `select stripe_price_id from plan_pricing where lookup_key = 'team_monthly'`);
    expect(row.stripe_price_id).toBe(price.id);
  });

  it('updates a plan: name (renames the Product), rank, limits and features replaced as a whole', async () => {
    const res = await server.gql(
      UPDATE_PLAN,
      { code: 'team', input: { name: 'Team Plus', rank: 0, limits: [{ metric: 'minutes', period: 'WEEK', limit: 2000 }], features: [] } },
      admin,
    );
    expect(res.errors).toBeUndefined();
    expect(res.data.updatePlan).toMatchObject({
      name: 'Team Plus',
      features: [],
      limits: [{ metric: 'minutes', period: 'WEEK', limit: 2000 }],
    });
    // Rank 0 ties with Free; ties are ordered by code.
    expect((await server.gql(PLANS)).data.plans.map((p: any) => p.code)).toEqual(['free', 'team', 'day_pass', 'premium']);
    const price = await priceByKey('team_monthly');
    expect((await server.stripe.products.retrieve(price.product as string)).name).toBe('Team Plus');
  });

  it('a changed amount makes a new Price and deactivates the old; a subscriber keeps the Price they bought', async () => {
    const old = await priceByKey('team_monthly');
    const user = await server.createUser();
    const bought = await server.gql(
      SUBSCRIBE,
      { input: { pricingId: await optionId('team_monthly'), paymentMethod: 'pm_card_visa' } },
      user.token,
    );
    expect(bought.errors).toBeUndefined();
    const stripeSubscriptionId = bought.data.subscribe.subscription.stripeSubscriptionId;

    const res = await server.gql(UPDATE_OPTION, { id: await optionId('team_monthly'), input: { amount: '59.90' } }, admin);
    expect(res.errors).toBeUndefined();
    expect(res.data.updatePricingOption.amount).toEqual({ amount: '59.90', amountMinor: 5990, currency: 'usd' });

    const current = await priceByKey('team_monthly');
    expect(current.id).not.toBe(old.id);
    expect(current).toMatchObject({ unit_amount: 5990, active: true, product: old.product });
    expect((await server.stripe.prices.retrieve(old.id)).active).toBe(false);
    const subscription = await server.stripe.subscriptions.retrieve(stripeSubscriptionId);
    expect(subscription.items.data[0].price.id).toBe(old.id);
    expect(subscription.status).toBe('active');
  });

  it('adds a pricing option and archives it: no longer offered, its Price inactive', async () => {
    const added = await server.gql(ADD_OPTION, { planCode: 'team', input: { ...monthly('team_yearly', '499'), interval: 'YEAR' } }, admin);
    expect(added.errors).toBeUndefined();
    const price = await priceByKey('team_yearly');
    expect(price).toMatchObject({ unit_amount: 49900, active: true, recurring: expect.objectContaining({ interval: 'year' }) });

    const archived = await server.gql(ARCHIVE_OPTION, { id: added.data.addPricingOption.id }, admin);
    expect(archived.data.archivePricingOption).toMatchObject({ lookupKey: 'team_yearly', active: false });
    const team = (await server.gql(PLANS)).data.plans.find((p: any) => p.code === 'team');
    expect(team.pricingOptions.map((o: any) => o.lookupKey)).toEqual(['team_monthly']);
    expect((await server.stripe.prices.retrieve(price.id)).active).toBe(false);
    const [row] = await sql(server.databaseUrl, `select active, stripe_price_id from plan_pricing where lookup_key = 'team_yearly'`);
    expect(row).toEqual({ active: false, stripe_price_id: null });
  });

  it('a price set to zero deactivates its Price; a paid amount again makes a new one', async () => {
    await server.gql(ADD_OPTION, { planCode: 'team', input: monthly('team_promo', '9') }, admin);
    const paid = await priceByKey('team_promo');
    const id = await optionId('team_promo');
    const res = await server.gql(UPDATE_OPTION, { id, input: { amount: '0' } }, admin);
    expect(res.data.updatePricingOption.amount.amountMinor).toBe(0);
    expect((await server.stripe.prices.retrieve(paid.id)).active).toBe(false);

    await server.gql(UPDATE_OPTION, { id, input: { amount: '9' } }, admin);
    const again = await priceByKey('team_promo');
    expect(again).toMatchObject({ unit_amount: 900, active: true });
    expect(again.id).not.toBe(paid.id);
  });

  it('moves the default with updatePlan; unsetting the only default is refused', async () => {
    const moved = await server.gql(UPDATE_PLAN, { code: 'team', input: { isDefault: true } }, admin);
    expect(moved.errors).toBeUndefined();
    const defaults = (await server.gql(PLANS)).data.plans.filter((p: any) => p.isDefault).map((p: any) => p.code);
    expect(defaults).toEqual(['team']);

    const unset = await server.gql(UPDATE_PLAN, { code: 'team', input: { isDefault: false } }, admin);
    expect(unset.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'isDefault' });
    expect(unset.errors?.[0].message).toMatch(/Exactly one plan must be the default/);
    await server.gql(UPDATE_PLAN, { code: 'free', input: { isDefault: true } }, admin);
    expect((await server.gql(PLANS)).data.plans.filter((p: any) => p.isDefault).map((p: any) => p.code)).toEqual(['free']);
  });

  it('refuses callers who are not admins, and writes nothing', async () => {
    const user = await server.createUser();
    const billingKey = (await createApiKey(server.em(), { name: 'billing', scopes: ['billing', 'users'] })).key;
    const before = await counts();
    for (const token of [user.token, billingKey]) {
      const res = await server.gql(CREATE_PLAN, { input: { code: 'sneaky', name: 'Sneaky' } }, token);
      expect(res.errors?.[0].extensions?.code).toBe('FORBIDDEN');
      const archived = await server.gql(ARCHIVE_OPTION, { id: await optionId('premium_monthly') }, token);
      expect(archived.errors?.[0].extensions?.code).toBe('FORBIDDEN');
    }
    expect((await server.gql(CREATE_PLAN, { input: { code: 'anon', name: 'Anon' } })).errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
    expect(await counts()).toEqual(before);
  });

  const counts = async () =>
    (
      await sql(
        server.databaseUrl,
        `select (select count(*) from plan)::int as plans, (select count(*) from plan_limit)::int as limits,
                (select count(*) from plan_pricing)::int as pricings, (select count(*) from plan where is_default)::int as defaults,
                (select json_agg(p order by p.code) from (select code, name, sort_order, features from plan) p) as plan_rows,
                (select json_agg(pp order by pp.lookup_key) from (select lookup_key, amount_minor, active from plan_pricing) pp) as pricing_rows`,
      )
    )[0];

  const base = { code: 'bad_one', name: 'Bad' };
  it.each<[string, Record<string, unknown>, string, RegExp]>([
    ['a negative limit', { ...base, limits: [{ metric: 'minutes', period: 'DAY', limit: -1 }] }, 'BAD_USER_INPUT', /cannot be negative/],
    [
      'a limit over the bound',
      { ...base, limits: [{ metric: 'minutes', period: 'DAY', limit: 1_000_000_001 }] },
      'BAD_USER_INPUT',
      /cannot be above/,
    ],
    ['an unknown period', { ...base, limits: [{ metric: 'minutes', period: 'FORTNIGHT', limit: 1 }] }, 'BAD_USER_INPUT', /FORTNIGHT/],
    [
      'a limit given twice',
      {
        ...base,
        limits: [
          { metric: 'minutes', period: 'DAY', limit: 1 },
          { metric: 'minutes', period: 'DAY', limit: 2 },
        ],
      },
      'BAD_USER_INPUT',
      /given twice/,
    ],
    ['a code with capitals', { ...base, code: 'Gold' }, 'BAD_USER_INPUT', /a-z, 0-9 and _/],
    ['a code too long', { ...base, code: 'x'.repeat(51) }, 'BAD_USER_INPUT', /longer than 50/],
    ['a bad metric', { ...base, limits: [{ metric: 'min utes', period: 'DAY', limit: 1 }] }, 'BAD_USER_INPUT', /Metric/],
    ['a bad feature key', { ...base, features: ['Export!'] }, 'BAD_USER_INPUT', /Feature/],
    ['too many features', { ...base, features: Array.from({ length: 51 }, (_, i) => `f${i}`) }, 'BAD_USER_INPUT', /at most 50 features/],
    ['an empty name', { ...base, name: '  ' }, 'BAD_USER_INPUT', /Name must not be empty/],
    ['a negative rank', { ...base, rank: -1 }, 'BAD_USER_INPUT', /Rank cannot be negative/],
    ['a negative amount', { ...base, pricingOptions: [monthly('bad_one_m', '-5')] }, 'BAD_USER_INPUT', /amount "-5"/],
    ['too many decimals', { ...base, pricingOptions: [monthly('bad_one_m', '1.234')] }, 'BAD_USER_INPUT', /at most 2 decimal places/],
    [
      'an unknown currency',
      { ...base, pricingOptions: [{ ...monthly('bad_one_m', '5'), currency: 'ABC' }] },
      'BAD_USER_INPUT',
      /Unknown currency/,
    ],
    [
      'over a year per period',
      { ...base, pricingOptions: [{ ...monthly('bad_one_m', '5'), intervalCount: 13 }] },
      'BAD_USER_INPUT',
      /at most 12/,
    ],
    ['a duplicate code', { ...base, code: 'premium' }, 'CONFLICT', /code "premium" already exists/],
    ['a taken lookup key', { ...base, pricingOptions: [monthly('premium_monthly', '5')] }, 'CONFLICT', /lookup key "premium_monthly"/],
    ['a second default', { ...base, isDefault: true }, 'CONFLICT', /already the default/],
  ])('createPlan refuses %s and writes nothing', async (_what, input, code, message) => {
    const before = await counts();
    const products = (await server.stripe.products.list({ limit: 100 })).data.length;
    const res = await server.gql(CREATE_PLAN, { input }, admin);
    expect(res.errors?.[0].extensions?.code).toBe(code);
    expect(res.errors?.[0].message).toMatch(message);
    expect(await counts()).toEqual(before);
    expect((await server.stripe.products.list({ limit: 100 })).data).toHaveLength(products);
  });

  it.each<[string, string, Record<string, unknown>, string, RegExp]>([
    ['a negative amount', 'premium_monthly', { amount: '-1' }, 'BAD_USER_INPUT', /amount "-1"/],
    ['a new currency without an amount', 'premium_monthly', { currency: 'EUR' }, 'BAD_USER_INPUT', /amount in the new currency/],
    ['more days than a year', 'day_pass_daily', { intervalCount: 366 }, 'BAD_USER_INPUT', /at most 365/],
  ])('updatePricingOption refuses %s and writes nothing', async (_what, lookupKey, input, code, message) => {
    const before = await counts();
    const res = await server.gql(UPDATE_OPTION, { id: await optionId(lookupKey), input }, admin);
    expect(res.errors?.[0].extensions).toMatchObject({ code });
    expect(res.errors?.[0].message).toMatch(message);
    expect(await counts()).toEqual(before);
  });

  it('refuses unknown plans and options, a malformed id, and a taken lookup key on add, writing nothing', async () => {
    const before = await counts();
    const cases: Array<[string, Record<string, unknown>, string]> = [
      [UPDATE_PLAN, { code: 'nope', input: { name: 'X' } }, 'NOT_FOUND'],
      [UPDATE_PLAN, { code: 'premium', input: { limits: [{ metric: 'minutes', period: 'DAY', limit: -5 }] } }, 'BAD_USER_INPUT'],
      [ADD_OPTION, { planCode: 'nope', input: monthly('nope_m', '5') }, 'NOT_FOUND'],
      [ADD_OPTION, { planCode: 'premium', input: monthly('day_pass_daily', '5') }, 'CONFLICT'],
      [ARCHIVE_OPTION, { id: 'not-a-uuid' }, 'BAD_USER_INPUT'],
      [ARCHIVE_OPTION, { id: '00000000-0000-4000-8000-000000000000' }, 'NOT_FOUND'],
    ];
    for (const [query, variables, code] of cases) {
      const res = await server.gql(query, variables, admin);
      expect([JSON.stringify(variables), res.errors?.[0].extensions?.code]).toEqual([JSON.stringify(variables), code]);
    }
    expect(await counts()).toEqual(before);
  });
});
