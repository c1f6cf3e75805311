import { DEFAULT_PLAN_GRACE, getLimits, recordUsage } from '../src/billing/limits';
import { sql } from './support/db';
import { MY_LIMITS, pricingId, SUBSCRIBE } from './support/billing';
import { startTestServer, type TestServer } from './support/server';

jest.setTimeout(120_000);

const HOUR = 3600_000;
const DAY = 24 * HOUR;

/**
 * The grace of the plan in force: a renewing subscription past its period end while the renewal is
 * awaited, a past-due one for some days from its period start. No webhook endpoint, so nothing rewrites
 * the rows these tests set.
 */
describe('the plan in force keeps a subscription for its grace', () => {
  let server: TestServer;
  let premium: string;
  let dayPass: string;
  beforeAll(async () => {
    server = await startTestServer({ stripe: true, webhooks: false, env: { RENEWAL_GRACE_SECONDS: '3600', PAST_DUE_GRACE_DAYS: '3' } });
    [premium, dayPass] = await Promise.all([pricingId(server, 'premium'), pricingId(server, 'day_pass')]);
  });
  afterAll(() => server.close());

  const limits = async (token: string) => (await server.gql(MY_LIMITS, undefined, token)).data.myLimits;
  const buy = async (token: string, pricing: string) =>
    (await server.gql(SUBSCRIBE, { input: { pricingId: pricing, paymentMethod: 'pm_card_visa' } }, token)).data.subscribe.subscription;
  /** Sets the stored period (and status) as if Stripe had said so; `start` and `end` relative to now. */
  const setRow = (id: string, startAgo: number, endAgo: number, status = 'active') =>
    sql(
      server.databaseUrl,
      `update subscription set status = $4, current_period_start = date_trunc('milliseconds', now()) - $2 * interval '1 millisecond',
                               current_period_end = date_trunc('milliseconds', now()) - $3 * interval '1 millisecond' where id = $1`,
      [id, startAgo, endAgo, status],
    );

  it('a renewing Premium whose period has just ended stays Premium for the renewal grace, then Free', async () => {
    const user = await server.createUser();
    const sub = await buy(user.token, premium);
    const end = new Date(sub.currentPeriodEnd);
    const owner = { id: user.id, timezone: 'UTC' };
    // Exactly at the boundaries, and the configured grace is what the server uses.
    expect((await getLimits(server.em(), owner, new Date(end.getTime() + HOUR - 1))).plan.code).toBe('premium');
    expect(await getLimits(server.em(), owner, new Date(end.getTime() + HOUR))).toMatchObject({
      plan: { code: 'free' },
      source: 'DEFAULT_PLAN',
    });
    expect(
      (await getLimits(server.em(), owner, new Date(end.getTime() + 2 * HOUR), { ...DEFAULT_PLAN_GRACE, renewalSeconds: 3 * 3600 })).plan
        .code,
    ).toBe('premium');

    // The period ended ten minutes ago and no renewal was reported: reads and consumes still see Premium.
    await setRow(sub.id, 30 * DAY + 10 * 60_000, 10 * 60_000);
    expect(await limits(user.token)).toMatchObject({ plan: { code: 'premium' }, source: 'SUBSCRIPTION' });
    const used = await server.gql(
      `mutation { recordUsage(input: { metric: "minutes", amount: 500 }) { used limit } }`,
      undefined,
      user.token,
    );
    expect(used.data.recordUsage).toEqual({ used: 500, limit: null });
    expect((await server.gql(`query { hasFeature(key: "export") }`, undefined, user.token)).data.hasFeature).toBe(true);

    // Two hours later, still nothing: the default plan applies, to reads and consumes alike.
    await setRow(sub.id, 30 * DAY + 2 * HOUR, 2 * HOUR);
    expect(await limits(user.token)).toMatchObject({ plan: { code: 'free' }, source: 'DEFAULT_PLAN' });
    const refused = await server.gql(`mutation { recordUsage(input: { metric: "minutes", amount: 500 }) { used } }`, undefined, user.token);
    expect(refused.errors?.[0].extensions?.code).toBe('LIMIT_EXCEEDED');
    expect((await server.gql(`query { hasFeature(key: "export") }`, undefined, user.token)).data.hasFeature).toBe(false);
  });

  it('a Day Pass (cancel_at_period_end) gets no renewal grace', async () => {
    const user = await server.createUser();
    const sub = await buy(user.token, dayPass);
    const end = new Date(sub.currentPeriodEnd);
    const owner = { id: user.id, timezone: 'UTC' };
    expect((await getLimits(server.em(), owner, new Date(end.getTime() - 1))).plan.code).toBe('day_pass');
    expect((await getLimits(server.em(), owner, new Date(end.getTime() + 60_000))).plan.code).toBe('free');
    await setRow(sub.id, DAY + 60_000, 60_000);
    expect(await limits(user.token)).toMatchObject({ plan: { code: 'free' }, source: 'DEFAULT_PLAN' });
  });

  it('a PAST_DUE Premium stays Premium for PAST_DUE_GRACE_DAYS from its period start, then Free', async () => {
    const user = await server.createUser();
    const sub = await buy(user.token, premium);
    const owner = { id: user.id, timezone: 'UTC' };

    await setRow(sub.id, 2 * DAY, -28 * DAY, 'past_due');
    expect(await limits(user.token)).toMatchObject({ plan: { code: 'premium' }, source: 'SUBSCRIPTION' });
    const used = await server.gql(
      `mutation { recordUsage(input: { metric: "minutes", amount: 500 }) { used limit } }`,
      undefined,
      user.token,
    );
    expect(used.data.recordUsage).toEqual({ used: 500, limit: null });

    const [{ current_period_start: start }] = await sql(server.databaseUrl, 'select current_period_start from subscription where id = $1', [
      sub.id,
    ]);
    const graceEnd = new Date(start).getTime() + 3 * DAY;
    expect((await getLimits(server.em(), owner, new Date(graceEnd - 1))).plan.code).toBe('premium');
    expect((await getLimits(server.em(), owner, new Date(graceEnd))).plan.code).toBe('free');
    await expect(recordUsage(server.em(), owner, { metric: 'minutes', amount: 500 }, new Date(graceEnd))).rejects.toMatchObject({
      code: 'LIMIT_EXCEEDED',
    });

    await setRow(sub.id, 4 * DAY, -26 * DAY, 'past_due');
    expect(await limits(user.token)).toMatchObject({ plan: { code: 'free' }, source: 'DEFAULT_PLAN' });
  });

  it('an unpaid or canceled subscription gets no grace', async () => {
    const user = await server.createUser();
    const sub = await buy(user.token, premium);
    await setRow(sub.id, HOUR, -29 * DAY, 'unpaid');
    expect(await limits(user.token)).toMatchObject({ plan: { code: 'free' } });
    await setRow(sub.id, HOUR, 10 * 60_000, 'canceled');
    expect(await limits(user.token)).toMatchObject({ plan: { code: 'free' } });
  });
});
