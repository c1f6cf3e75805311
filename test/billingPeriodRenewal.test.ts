import { advanceClock, SUBSCRIBE, unix, userOnTestClock } from './support/billing';
import { sql } from './support/db';
import { startTestServer, type TestServer } from './support/server';

const CREATE_PLAN = `mutation($input: CreatePlanInput!) { createPlan(input: $input) { code } }`;
const RECORD = `mutation($input: RecordUsageInput!) { recordUsage(input: $input) { period used remaining } }`;
const LIMITS = `query { myLimits { plan { code } metrics { metric period limit used remaining resetsAt } } }`;
const PERIOD = `query { mySubscriptions { status currentPeriodStart currentPeriodEnd } }`;

describe('a BILLING_PERIOD limit across a renewal driven by a test clock', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ stripe: true });
    const admin = (await server.createUser({ admin: true })).token;
    const made = await server.gql(
      CREATE_PLAN,
      {
        input: {
          code: 'metered',
          name: 'Metered',
          description: '100 minutes per billing period.',
          rank: 3,
          limits: [{ metric: 'minutes', period: 'BILLING_PERIOD', limit: 100 }],
          features: [],
          pricingOptions: [{ lookupKey: 'metered_monthly', amount: '10.00', currency: 'USD', interval: 'MONTH' }],
        },
      },
      admin,
    );
    expect(made.errors).toBeUndefined();
  });
  afterAll(() => server.close());

  it('refuses past the allowance until the period ends, and starts the next period with the whole allowance', async () => {
    const user = await userOnTestClock(server);
    const [{ id: pricingId }] = await sql(server.databaseUrl, `select id from plan_pricing where lookup_key = 'metered_monthly'`);
    const sub = await server.gql(SUBSCRIBE, { input: { pricingId, paymentMethod: 'pm_card_visa' } }, user.token);
    expect(sub.data.subscribe.subscription).toMatchObject({ status: 'ACTIVE', plan: { code: 'metered' } });
    const first = (await server.gql(PERIOD, {}, user.token)).data.mySubscriptions[0];

    expect((await server.gql(RECORD, { input: { metric: 'minutes', amount: 80 } }, user.token)).data.recordUsage).toEqual({
      period: 'BILLING_PERIOD',
      used: 80,
      remaining: 20,
    });
    const over = await server.gql(RECORD, { input: { metric: 'minutes', amount: 30 } }, user.token);
    expect(over.errors?.[0].extensions).toMatchObject({
      code: 'LIMIT_EXCEEDED',
      period: 'BILLING_PERIOD',
      remaining: 20,
      resetsAt: new Date(first.currentPeriodEnd).toISOString(),
    });

    // Stripe renews the subscription at the period's end; its webhook moves our period forward.
    await advanceClock(server, user.clock.id, unix(first.currentPeriodEnd) + 3600);
    const renewed = (await server.gql(PERIOD, {}, user.token)).data.mySubscriptions[0];
    expect(renewed).toMatchObject({ status: 'ACTIVE', currentPeriodStart: first.currentPeriodEnd });

    const window = (await server.gql(LIMITS, {}, user.token)).data.myLimits.metrics.find(
      (m: { period: string }) => m.period === 'BILLING_PERIOD',
    );
    expect(window).toMatchObject({ used: 0, remaining: 100, resetsAt: new Date(renewed.currentPeriodEnd).toISOString() });
    expect((await server.gql(RECORD, { input: { metric: 'minutes', amount: 30 } }, user.token)).data.recordUsage).toMatchObject({
      used: 30,
      remaining: 70,
    });
  });
});
