import type { EntityManager } from '@mikro-orm/postgresql';
import { checkUsage, getLimits, recordUsage, type LimitOwner } from '../src/billing/limits';
import { usageHistory } from '../src/billing/usageHistory';
import { DomainError } from '../src/errors';
import { sql } from './support/db';
import { startTestServer, type TestServer } from './support/server';

jest.setTimeout(60_000);

const MY_LIMITS = `query { myLimits { plan { code features } features metrics { metric period limit used remaining resetsAt } } }`;
const RECORD = `mutation($input: RecordUsageInput!) { recordUsage(input: $input) { metric period limit used remaining resetsAt } }`;
const CHECK = `query($metric: String!, $amount: Int!) { checkUsage(metric: $metric, amount: $amount) { allowed limiting { period limit used remaining resetsAt } } }`;
const HAS = `query($key: String!) { hasFeature(key: $key) }`;
const HISTORY = `query($metric: String!, $from: LocalDate!, $to: LocalDate!) { myUsageHistory(metric: $metric, from: $from, to: $to) { day used } }`;

describe('limits with periods', () => {
  let server: TestServer;
  let em: EntityManager;
  let planSeq = 0;
  beforeAll(async () => {
    server = await startTestServer();
    em = server.em() as EntityManager;
  });
  afterAll(() => server.close());

  async function owner(timezone: string): Promise<LimitOwner & { token: string }> {
    const user = await server.createUser({ timezone });
    return { id: user.id, timezone, token: user.token };
  }

  /** A plan of its own with these limits, and an active subscription row to it (as a webhook would leave it). */
  async function subscribeToPlan(
    userId: string,
    limits: Array<[string, string, number | null]>,
    period: { start: string; end: string } = { start: '2000-01-01T00:00:00Z', end: '2100-01-01T00:00:00Z' },
  ): Promise<void> {
    const code = `periods_${++planSeq}`;
    const [plan] = await sql(
      server.databaseUrl,
      `insert into plan (id, created_at, updated_at, code, name) values (gen_random_uuid(), now(), now(), $1, $1) returning id`,
      [code],
    );
    for (const [metric, p, allowance] of limits) {
      await sql(
        server.databaseUrl,
        `insert into plan_limit (id, created_at, updated_at, plan_id, metric, period, allowance) values (gen_random_uuid(), now(), now(), $1, $2, $3, $4)`,
        [plan.id, metric, p, allowance],
      );
    }
    const [pricing] = await sql(
      server.databaseUrl,
      `insert into plan_pricing (id, created_at, updated_at, plan_id, lookup_key, amount_minor, currency, interval)
       values (gen_random_uuid(), now(), now(), $1, $2, 100, 'usd', 'month') returning id`,
      [plan.id, `${code}_monthly`],
    );
    await sql(
      server.databaseUrl,
      `insert into subscription (id, created_at, updated_at, user_id, plan_id, pricing_id, status, current_period_start, current_period_end)
       values (gen_random_uuid(), now(), now(), $1, $2, $3, 'active', $4, $5)`,
      [userId, plan.id, pricing.id, period.start, period.end],
    );
  }

  const entry = async (user: LimitOwner, now: Date, period: string, metric = 'minutes') =>
    (await getLimits(em, user, now)).metrics.find((m) => m.metric === metric && m.period === period)!;

  async function refusal(promise: Promise<unknown>): Promise<DomainError> {
    const err = await promise.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DomainError);
    return err as DomainError;
  }

  it('Free counts a day and a month at once; the month starts afresh at local midnight in Pacific/Auckland', async () => {
    const user = await owner('Pacific/Auckland');
    const lastMinute = new Date('2026-01-31T10:59:00Z'); // Auckland (NZDT, +13): Jan 31 23:59
    const used = await recordUsage(em, user, { metric: 'minutes', amount: 170 }, lastMinute);
    // The answer is the tightest window: the day.
    expect(used).toMatchObject({ period: 'day', limit: 180, used: 170, remaining: 10 });
    expect(await entry(user, lastMinute, 'month')).toEqual({
      metric: 'minutes',
      period: 'month',
      limit: 3000,
      used: 170,
      remaining: 2830,
      resetsAt: new Date('2026-01-31T11:00:00Z'),
    });
    const midnight = new Date('2026-01-31T11:00:00Z'); // Feb 1 00:00 in Auckland
    expect(await entry(user, midnight, 'month')).toMatchObject({ used: 0, resetsAt: new Date('2026-02-28T11:00:00Z') });
    expect(await entry(user, midnight, 'day')).toMatchObject({ used: 0, resetsAt: new Date('2026-02-01T11:00:00Z') });
  });

  it('refuses when the month is used up even though the day has room, naming the month and its reset', async () => {
    const user = await owner('America/Los_Angeles');
    // 16 days of 180 minutes in May (Los Angeles, PDT -7): 2,880 of the 3,000 used.
    for (let d = 1; d <= 16; d++) {
      await recordUsage(em, user, { metric: 'minutes', amount: 180 }, new Date(Date.UTC(2026, 4, d, 19)));
    }
    const may20 = new Date('2026-05-20T19:00:00Z');
    const err = await refusal(recordUsage(em, user, { metric: 'minutes', amount: 121 }, may20));
    expect(err.code).toBe('LIMIT_EXCEEDED');
    expect(err.message).toBe('Not enough minutes left this month: 121 requested, 120 of 3000 left; nothing was recorded');
    expect(err.extensions).toMatchObject({
      metric: 'minutes',
      period: 'MONTH',
      limit: 3000,
      used: 2880,
      remaining: 120,
      requested: 121,
      resetsAt: '2026-06-01T07:00:00.000Z',
    });
    // Nothing consumed in part: the day's counter did not move either.
    expect(await entry(user, may20, 'day')).toMatchObject({ used: 0 });
    expect(await entry(user, may20, 'month')).toMatchObject({ used: 2880 });
    expect(await recordUsage(em, user, { metric: 'minutes', amount: 120 }, may20)).toMatchObject({
      period: 'month',
      used: 3000,
      remaining: 0,
    });
  });

  it('follows the local day across the DST changes of America/Los_Angeles (a 23-hour and a 25-hour day)', async () => {
    const user = await owner('America/Los_Angeles');
    const springDay = new Date('2026-03-08T12:00:00Z'); // Mar 8, clocks go forward at 02:00
    await recordUsage(em, user, { metric: 'minutes', amount: 50 }, springDay);
    expect(await entry(user, springDay, 'day')).toMatchObject({ used: 50, resetsAt: new Date('2026-03-09T07:00:00Z') });
    expect(await entry(user, new Date('2026-03-09T06:59:59Z'), 'day')).toMatchObject({ used: 50 });
    expect(await entry(user, new Date('2026-03-09T07:00:00Z'), 'day')).toMatchObject({ used: 0 });

    const fallDay = new Date('2026-11-01T12:00:00Z'); // Nov 1, clocks go back at 02:00: 25 hours
    await recordUsage(em, user, { metric: 'minutes', amount: 60 }, fallDay);
    expect(await entry(user, fallDay, 'day')).toMatchObject({ used: 60, resetsAt: new Date('2026-11-02T08:00:00Z') });
    expect(await entry(user, new Date('2026-11-02T07:30:00Z'), 'day')).toMatchObject({ used: 60 });
    expect(await entry(user, new Date('2026-11-02T08:00:00Z'), 'day')).toMatchObject({ used: 0 });
  });

  it('counts ISO weeks from local Monday midnight in Pacific/Auckland, across the April DST change', async () => {
    const user = await owner('Pacific/Auckland');
    await subscribeToPlan(user.id, [
      ['minutes', 'week', 500],
      ['minutes', 'day', 300],
    ]);
    const sunday = new Date('2026-04-05T10:00:00Z'); // Sunday Apr 5, 22:00 NZST: the last day of the week
    await recordUsage(em, user, { metric: 'minutes', amount: 250 }, new Date('2026-03-29T11:00:00Z')); // Monday 00:00 NZDT
    await recordUsage(em, user, { metric: 'minutes', amount: 200 }, sunday);
    expect(await entry(user, sunday, 'week')).toEqual({
      metric: 'minutes',
      period: 'week',
      limit: 500,
      used: 450,
      remaining: 50,
      resetsAt: new Date('2026-04-05T12:00:00Z'),
    });
    const err = await refusal(recordUsage(em, user, { metric: 'minutes', amount: 51 }, sunday));
    expect(err.extensions).toMatchObject({ period: 'WEEK', remaining: 50, resetsAt: '2026-04-05T12:00:00.000Z' });
    // The previous Sunday belongs to the week before.
    expect(await entry(user, new Date('2026-03-29T10:59:00Z'), 'week')).toMatchObject({ used: 0 });
    // Monday 00:00 NZST: a new week, and the 51 fit.
    const monday = new Date('2026-04-05T12:00:00Z');
    expect(await recordUsage(em, user, { metric: 'minutes', amount: 51 }, monday)).toMatchObject({ used: 51 });
    expect(await entry(user, monday, 'week')).toMatchObject({ used: 51, resetsAt: new Date('2026-04-12T12:00:00Z') });
  });

  it('counts TOTAL forever and the billing period of the subscription in force', async () => {
    const user = await owner('UTC');
    await subscribeToPlan(
      user.id,
      [
        ['exports', 'total', 10],
        ['exports', 'billing_period', 4],
      ],
      { start: '2026-06-15T09:30:00Z', end: '2026-07-15T09:30:00Z' },
    );
    const inPeriod = new Date('2026-06-20T00:00:00Z');
    await recordUsage(em, user, { metric: 'exports', amount: 4 }, inPeriod);
    const err = await refusal(recordUsage(em, user, { metric: 'exports', amount: 1 }, inPeriod));
    expect(err.extensions).toMatchObject({ period: 'BILLING_PERIOD', resetsAt: '2026-07-15T09:30:00.000Z' });
    const limits = (await getLimits(em, user, inPeriod)).metrics;
    expect(limits.map((m) => [m.period, m.used, m.remaining, m.resetsAt?.toISOString() ?? null])).toEqual([
      ['billing_period', 4, 0, '2026-07-15T09:30:00.000Z'],
      ['total', 4, 6, null],
    ]);
  });

  it('with two limits on one metric, 200 concurrent consumers neither overshoot one nor consume in part', async () => {
    const user = await owner('Europe/Berlin');
    await subscribeToPlan(user.id, [
      ['minutes', 'day', 150],
      ['minutes', 'week', 400],
    ]);
    const monday = new Date('2026-09-07T08:00:00Z');
    await recordUsage(em, user, { metric: 'minutes', amount: 150 }, monday);
    await recordUsage(em, user, { metric: 'minutes', amount: 150 }, new Date('2026-09-08T08:00:00Z'));
    // Wednesday: the day allows 150, the week only 100 more.
    const wednesday = new Date('2026-09-09T08:00:00Z');
    const amounts = Array.from({ length: 200 }, (_, i) => 1 + (i % 3));
    const results = await Promise.allSettled(amounts.map((amount) => recordUsage(em, user, { metric: 'minutes', amount }, wednesday)));
    const accepted = amounts.filter((_, i) => results[i].status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason);
    expect(refused.every((e) => e instanceof DomainError && e.code === 'LIMIT_EXCEEDED')).toBe(true);
    const sum = accepted.reduce((a, b) => a + b, 0);
    const day = await entry(user, wednesday, 'day');
    const week = await entry(user, wednesday, 'week');
    expect(week.used).toBeLessThanOrEqual(400);
    expect(week.used).toBeGreaterThanOrEqual(398); // it stopped only when nothing more fitted
    expect(day.used).toBe(sum);
    expect(week.used).toBe(300 + sum);
  });

  it('checkUsage answers what recordUsage would, and consumes nothing', async () => {
    const user = await owner('UTC');
    await server.gql(RECORD, { input: { metric: 'minutes', amount: 100 } }, user.token);
    const ok = await server.gql(CHECK, { metric: 'minutes', amount: 80 }, user.token);
    expect(ok.errors).toBeUndefined();
    expect(ok.data.checkUsage).toMatchObject({ allowed: true, limiting: { period: 'DAY', limit: 180, used: 100, remaining: 80 } });
    const no = await server.gql(CHECK, { metric: 'minutes', amount: 81 }, user.token);
    expect(no.data.checkUsage).toMatchObject({ allowed: false, limiting: { period: 'DAY', remaining: 80 } });
    expect(new Date(no.data.checkUsage.limiting.resetsAt).getTime()).toBeGreaterThan(Date.now());
    const unknown = await server.gql(CHECK, { metric: 'gigawatts', amount: 1 }, user.token);
    expect(unknown.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
    const negative = await server.gql(CHECK, { metric: 'minutes', amount: -1 }, user.token);
    expect(negative.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
    const counters = await sql(server.databaseUrl, 'select period, used from usage_counter where user_id = $1 order by period', [user.id]);
    expect(counters).toEqual([
      { period: 'day', used: 100 },
      { period: 'month', used: 100 },
    ]);
    expect(await checkUsage(em, user, { metric: 'megabytes', amount: 300 })).toMatchObject({ allowed: true });
  });

  it('shows every (metric, period) and the features in myLimits; hasFeature answers from the plan in force', async () => {
    const user = await owner('UTC');
    const res = await server.gql(MY_LIMITS, undefined, user.token);
    expect(res.errors).toBeUndefined();
    const limits = res.data.myLimits;
    expect(limits.features).toEqual([]);
    expect(limits.metrics.map((m: any) => [m.metric, m.period, m.limit])).toEqual([
      ['megabytes', 'DAY', 300],
      ['minutes', 'DAY', 180],
      ['minutes', 'MONTH', 3000],
    ]);
    expect((await server.gql(HAS, { key: 'export' }, user.token)).data.hasFeature).toBe(false);
    const [premium] = await sql(
      server.databaseUrl,
      `select p.id, pp.id as pricing_id from plan p join plan_pricing pp on pp.plan_id = p.id where code = 'premium'`,
    );
    await sql(
      server.databaseUrl,
      `insert into subscription (id, created_at, updated_at, user_id, plan_id, pricing_id, status, current_period_start, current_period_end)
       values (gen_random_uuid(), now(), now(), $1, $2, $3, 'active', now() - interval '1 day', now() + interval '29 days')`,
      [user.id, premium.id, premium.pricing_id],
    );
    expect((await server.gql(HAS, { key: 'export' }, user.token)).data.hasFeature).toBe(true);
    const after = (await server.gql(MY_LIMITS, undefined, user.token)).data.myLimits;
    expect(after.features).toEqual(['priority_support', 'export']);
    expect(after.plan.features).toEqual(after.features);
    const long = await server.gql(HAS, { key: 'x'.repeat(101) }, user.token);
    expect(long.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('gives the usage history per local day over a month, zero where nothing was used', async () => {
    const user = await owner('Pacific/Auckland');
    // 23:30 local on Mar 1, 3, 31 (NZDT, +13).
    for (const [day, amount] of [
      ['2026-03-01', 10],
      ['2026-03-03', 20],
      ['2026-03-31', 30],
    ] as const) {
      const instant = new Date(new Date(`${day}T23:30:00+13:00`).getTime());
      await recordUsage(em, user, { metric: 'minutes', amount }, instant);
    }
    await recordUsage(em, user, { metric: 'minutes', amount: 5 }, new Date('2026-04-01T00:30:00+13:00'));
    const history = await usageHistory(em, user, { metric: 'minutes', from: '2026-03-01', to: '2026-03-31' });
    expect(history).toHaveLength(31);
    expect(history.filter((d) => d.used > 0)).toEqual([
      { day: '2026-03-01', used: 10 },
      { day: '2026-03-03', used: 20 },
      { day: '2026-03-31', used: 30 },
    ]);
    expect(history[1]).toEqual({ day: '2026-03-02', used: 0 });

    const overHttp = await server.gql(HISTORY, { metric: 'minutes', from: '2026-03-31', to: '2026-04-01' }, user.token);
    expect(overHttp.data.myUsageHistory).toEqual([
      { day: '2026-03-31', used: 30 },
      { day: '2026-04-01', used: 5 },
    ]);
    for (const [from, to, message] of [
      ['2026-03-02', '2026-03-01', /from must not be after to/],
      ['2025-01-01', '2026-03-01', /at most 400 days/],
      ['2026-02-30', '2026-03-01', /not a valid LocalDate/],
    ]) {
      const bad = await server.gql(HISTORY, { metric: 'minutes', from, to }, user.token);
      expect(bad.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
      expect(bad.errors?.[0].message).toMatch(message);
    }
    const err = await refusal(usageHistory(em, user, { metric: 'minutes', from: '2026-02-30', to: '2026-03-01' }));
    expect([err.code, err.message]).toEqual(['BAD_USER_INPUT', 'must be a real calendar date']);
  });
});
