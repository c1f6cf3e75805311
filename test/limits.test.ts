import { getLimits, localDay, recordUsage } from '../src/billing/limits';
import { sql } from './support/db';
import { startTestServer, type TestServer } from './support/server';

const MY_LIMITS = `query { myLimits { plan { code } source day resetsAt metrics { metric limit used remaining } } }`;
const RECORD = `mutation($input: RecordUsageInput!) { recordUsage(input: $input) { metric limit used remaining } }`;

describe('daily limits and usage', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  /** An active subscription row of the plan, as the webhook would leave it (no Stripe needed for limits). */
  async function subscribeInDatabase(userId: string, planCode: string): Promise<void> {
    const [plan] = await sql(
      server.databaseUrl,
      `select p.id as plan_id, pp.id as pricing_id from plan p join plan_pricing pp on pp.plan_id = p.id where p.code = $1`,
      [planCode],
    );
    await sql(
      server.databaseUrl,
      `insert into subscription (id, created_at, updated_at, user_id, plan_id, pricing_id, status, current_period_start, current_period_end)
       values (gen_random_uuid(), now(), now(), $1, $2, $3, 'active', now() - interval '1 day', now() + interval '29 days')`,
      [userId, plan.plan_id, plan.pricing_id],
    );
  }

  it('gives a user without a subscription the default plan (Free) for their local day', async () => {
    const user = await server.createUser({ timezone: 'Europe/Berlin' });
    const res = await server.gql(MY_LIMITS, undefined, user.token);
    expect(res.errors).toBeUndefined();
    const limits = res.data.myLimits;
    expect(limits.plan.code).toBe('free');
    expect(limits.source).toBe('DEFAULT_PLAN');
    const expected = localDay('Europe/Berlin');
    expect(limits.day).toBe(expected.day);
    expect(new Date(limits.resetsAt).getTime()).toBe(expected.resetsAt.getTime());
    expect(limits.metrics).toEqual([
      { metric: 'megabytes', limit: 300, used: 0, remaining: 300 },
      { metric: 'minutes', limit: 180, used: 0, remaining: 180 },
      { metric: 'minutes', limit: 3000, used: 0, remaining: 3000 },
    ]);
  });

  it('needs a token', async () => {
    expect((await server.gql(MY_LIMITS)).errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
    expect((await server.gql(RECORD, { input: { metric: 'minutes', amount: 1 } })).errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('records usage, and refuses to go over the limit without consuming anything', async () => {
    const user = await server.createUser();
    const ok = await server.gql(RECORD, { input: { metric: 'minutes', amount: 150 } }, user.token);
    expect(ok.data.recordUsage).toEqual({ metric: 'minutes', limit: 180, used: 150, remaining: 30 });

    const over = await server.gql(RECORD, { input: { metric: 'minutes', amount: 31 } }, user.token);
    expect(over.data).toBeNull();
    expect(over.errors?.[0].message).toBe('Not enough minutes left today: 31 requested, 30 of 180 left; nothing was recorded');
    expect(over.errors?.[0].extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', remaining: 30, limit: 180, metric: 'minutes' });

    const exact = await server.gql(RECORD, { input: { metric: 'minutes', amount: 30 } }, user.token);
    expect(exact.data.recordUsage).toMatchObject({ used: 180, remaining: 0 });
    const spent = await server.gql(RECORD, { input: { metric: 'minutes', amount: 1 } }, user.token);
    expect(spent.errors?.[0].message).toBe('Daily minutes limit of 180 reached: nothing left today, 1 requested');
    const limits = await server.gql(MY_LIMITS, undefined, user.token);
    expect(limits.data.myLimits.metrics.find((m: any) => m.metric === 'minutes')).toEqual({
      metric: 'minutes',
      limit: 180,
      used: 180,
      remaining: 0,
    });
  });

  it.each([
    [{ metric: 'minutes', amount: 0 }, /positive whole number/],
    [{ metric: 'minutes', amount: -5 }, /positive whole number/],
    [{ metric: 'gigawatts', amount: 1 }, /Unknown metric "gigawatts"/],
  ])('refuses %j as BAD_USER_INPUT and writes nothing', async (input, message) => {
    const user = await server.createUser();
    const res = await server.gql(RECORD, { input }, user.token);
    expect(res.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
    expect(res.errors?.[0].message).toMatch(message);
    expect(await sql(server.databaseUrl, 'select * from usage_counter where user_id = $1', [user.id])).toEqual([]);
  });

  it('counts the same idempotency key once and returns the same answer', async () => {
    const user = await server.createUser();
    const input = { metric: 'megabytes', amount: 40, idempotencyKey: 'upload-1' };
    const first = await server.gql(RECORD, { input }, user.token);
    await server.gql(RECORD, { input: { metric: 'megabytes', amount: 10 } }, user.token);
    const again = await server.gql(RECORD, { input }, user.token);
    expect(first.data.recordUsage).toEqual({ metric: 'megabytes', limit: 300, used: 40, remaining: 260 });
    expect(again.data.recordUsage).toEqual(first.data.recordUsage);
    const [{ used }] = await sql(server.databaseUrl, `select used from usage_counter where user_id = $1 and metric = 'megabytes'`, [
      user.id,
    ]);
    expect(used).toBe(50);

    const parallel = await Promise.all(
      Array.from({ length: 10 }, () =>
        server.gql(RECORD, { input: { metric: 'megabytes', amount: 5, idempotencyKey: 'burst' } }, user.token),
      ),
    );
    expect(parallel.every((r) => r.data?.recordUsage.used === 55)).toBe(true);

    const reused = await server.gql(RECORD, { input: { ...input, amount: 41 } }, user.token);
    expect(reused.errors?.[0].extensions?.code).toBe('CONFLICT');
  });

  it('answers a retried key exactly as the first time, even after the plan in force has changed', async () => {
    const user = await server.createUser();
    const input = { metric: 'minutes', amount: 20, idempotencyKey: 'before-upgrade' };
    const first = await server.gql(RECORD, { input }, user.token);
    expect(first.data.recordUsage).toEqual({ metric: 'minutes', limit: 180, used: 20, remaining: 160 });
    await subscribeInDatabase(user.id, 'premium');
    const again = await server.gql(RECORD, { input }, user.token);
    expect(again.data.recordUsage).toEqual(first.data.recordUsage);
    // A new use is answered from the plan in force now.
    const later = await server.gql(RECORD, { input: { metric: 'minutes', amount: 1 } }, user.token);
    expect(later.data.recordUsage).toEqual({ metric: 'minutes', limit: null, used: 21, remaining: null });
  });

  it('stops an unlimited counter at the largest count it holds with BAD_USER_INPUT, counting nothing', async () => {
    const user = await server.createUser();
    await subscribeInDatabase(user.id, 'premium');
    const max = 2_147_483_647;
    const full = await server.gql(RECORD, { input: { metric: 'megabytes', amount: max } }, user.token);
    expect(full.data.recordUsage).toEqual({ metric: 'megabytes', limit: null, used: max, remaining: null });
    for (const amount of [1, max]) {
      const more = await server.gql(RECORD, { input: { metric: 'megabytes', amount, idempotencyKey: `more-${amount}` } }, user.token);
      expect(more.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'amount', used: max, requested: amount });
      expect(more.errors?.[0].message).toMatch(/cannot go past 2147483647/);
    }
    expect(await sql(server.databaseUrl, `select used from usage_counter where user_id = $1 and metric = 'megabytes'`, [user.id])).toEqual([
      { used: max },
    ]);
    expect(await sql(server.databaseUrl, 'select idempotency_key from usage_record where user_id = $1', [user.id])).toEqual([]);
  });

  it('with an idempotency key, a refused use (over the limit, unknown metric, bad amount) keeps nothing, and the key stays free', async () => {
    const user = await server.createUser();
    await server.gql(RECORD, { input: { metric: 'minutes', amount: 175 } }, user.token);
    const over = await server.gql(RECORD, { input: { metric: 'minutes', amount: 6, idempotencyKey: 'call-1' } }, user.token);
    expect(over.errors?.[0].extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', remaining: 5 });
    const unknown = await server.gql(RECORD, { input: { metric: 'gigawatts', amount: 1, idempotencyKey: 'call-2' } }, user.token);
    expect(unknown.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
    const zero = await server.gql(RECORD, { input: { metric: 'minutes', amount: 0, idempotencyKey: 'call-3' } }, user.token);
    expect(zero.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
    expect(await sql(server.databaseUrl, 'select idempotency_key from usage_record where user_id = $1', [user.id])).toEqual([]);
    expect(
      await sql(server.databaseUrl, 'select metric, period, used from usage_counter where user_id = $1 order by period', [user.id]),
    ).toEqual([
      { metric: 'minutes', period: 'day', used: 175 },
      { metric: 'minutes', period: 'month', used: 175 },
    ]);
    // The refused call can be made again with its key once it fits.
    const fits = await server.gql(RECORD, { input: { metric: 'minutes', amount: 5, idempotencyKey: 'call-1' } }, user.token);
    expect(fits.data.recordUsage).toEqual({ metric: 'minutes', limit: 180, used: 180, remaining: 0 });
  });

  it('lets exactly 180 of 200 parallel uses of 1 minute through', async () => {
    const user = await server.createUser();
    const results = await Promise.all(
      Array.from({ length: 200 }, () => server.gql(RECORD, { input: { metric: 'minutes', amount: 1 } }, user.token)),
    );
    const ok = results.filter((r) => r.data?.recordUsage);
    const exceeded = results.filter((r) => r.errors?.[0].extensions?.code === 'LIMIT_EXCEEDED');
    expect(ok).toHaveLength(180);
    expect(exceeded).toHaveLength(20);
    // Uses that arrive together are consumed together (joined), yet each answers its own place in line.
    expect(ok.map((r) => r.data.recordUsage.used).sort((a: number, b: number) => a - b)).toEqual(
      Array.from({ length: 180 }, (_, i) => i + 1),
    );
    const [{ used }] = await sql(
      server.databaseUrl,
      `select used from usage_counter where user_id = $1 and metric = 'minutes' and period = 'day'`,
      [user.id],
    );
    expect(used).toBe(180);
    expect(new Set(ok.map((r) => r.data.recordUsage.used)).size).toBe(180);
  });

  it('keeps separate days and counters for Pacific/Auckland and America/Los_Angeles at the same instant', async () => {
    const auckland = await server.createUser({ timezone: 'Pacific/Auckland' });
    const la = await server.createUser({ timezone: 'America/Los_Angeles' });
    const instant = new Date('2026-11-22T20:00:00Z'); // Auckland: Nov 23 09:00; Los Angeles: Nov 22 12:00
    const em = server.em();
    await recordUsage(em, { id: auckland.id, timezone: 'Pacific/Auckland' }, { metric: 'minutes', amount: 10 }, instant);
    await recordUsage(em, { id: la.id, timezone: 'America/Los_Angeles' }, { metric: 'minutes', amount: 20 }, instant);

    const a = await getLimits(em, { id: auckland.id, timezone: 'Pacific/Auckland' }, instant);
    const l = await getLimits(em, { id: la.id, timezone: 'America/Los_Angeles' }, instant);
    expect(a.day).toBe('2026-11-23');
    expect(l.day).toBe('2026-11-22');
    expect(a.resetsAt.toISOString()).toBe('2026-11-23T11:00:00.000Z');
    expect(l.resetsAt.toISOString()).toBe('2026-11-23T08:00:00.000Z');
    expect(a.metrics.find((m) => m.metric === 'minutes')!.used).toBe(10);
    expect(l.metrics.find((m) => m.metric === 'minutes')!.used).toBe(20);

    // Auckland's next day starts at 11:00 UTC: a fresh counter without any reset job.
    const later = new Date('2026-11-23T11:00:00Z');
    const next = await getLimits(em, { id: auckland.id, timezone: 'Pacific/Auckland' }, later);
    expect(next.day).toBe('2026-11-24');
    expect(next.metrics.find((m) => m.metric === 'minutes')!.used).toBe(0);
    // Los Angeles is still on Nov 22 until 08:00 UTC, then starts afresh too.
    const laEvening = await getLimits(em, { id: la.id, timezone: 'America/Los_Angeles' }, new Date('2026-11-23T07:59:00Z'));
    expect([laEvening.day, laEvening.metrics.find((m) => m.metric === 'minutes')!.used]).toEqual(['2026-11-22', 20]);
    const laNextDay = await getLimits(em, { id: la.id, timezone: 'America/Los_Angeles' }, later);
    expect([laNextDay.day, laNextDay.metrics.find((m) => m.metric === 'minutes')!.used]).toEqual(['2026-11-23', 0]);
  });

  it('through GraphQL, Pacific/Auckland and America/Los_Angeles users each get their own local day, reset time and counter', async () => {
    const auckland = await server.createUser({ timezone: 'Pacific/Auckland' });
    const la = await server.createUser({ timezone: 'America/Los_Angeles' });
    /** The local date in a zone, by Intl (independent of the server's own computation). */
    const dateIn = (timeZone: string, at: Date) =>
      new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(at);
    const before = new Date();
    const [a, l] = await Promise.all([auckland, la].map(async (u) => (await server.gql(MY_LIMITS, undefined, u.token)).data.myLimits));
    const after = new Date();
    // Each answer is that user's own date (either side of the request, should a midnight fall in between).
    expect([dateIn('Pacific/Auckland', before), dateIn('Pacific/Auckland', after)]).toContain(a.day);
    expect([dateIn('America/Los_Angeles', before), dateIn('America/Los_Angeles', after)]).toContain(l.day);
    // resetsAt is the next local midnight: strictly ahead, at most a day ahead, and a midnight there.
    for (const [limits, zone] of [
      [a, 'Pacific/Auckland'],
      [l, 'America/Los_Angeles'],
    ] as const) {
      const resets = new Date(limits.resetsAt);
      expect(resets.getTime()).toBeGreaterThan(before.getTime());
      expect(resets.getTime() - before.getTime()).toBeLessThanOrEqual(25 * 3600 * 1000);
      expect(
        new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(resets),
      ).toBe('00:00');
      expect(dateIn(zone, resets) > limits.day).toBe(true);
    }

    await server.gql(RECORD, { input: { metric: 'minutes', amount: 10 } }, auckland.token);
    await server.gql(RECORD, { input: { metric: 'minutes', amount: 20 } }, la.token);
    const minutes = async (token: string) =>
      (await server.gql(MY_LIMITS, undefined, token)).data.myLimits.metrics.find((m: any) => m.metric === 'minutes');
    expect(await minutes(auckland.token)).toMatchObject({ used: 10, remaining: 170 });
    expect(await minutes(la.token)).toMatchObject({ used: 20, remaining: 160 });
    const rows = await sql(
      server.databaseUrl,
      `select c.user_id, to_char(c.window_start at time zone u.timezone, 'YYYY-MM-DD') as day, c.used
         from usage_counter c join app_user u on u.id = c.user_id where c.user_id = any($1) and c.period = 'day'`,
      [[auckland.id, la.id]],
    );
    expect(rows).toEqual(
      expect.arrayContaining([
        { user_id: auckland.id, day: a.day, used: 10 },
        { user_id: la.id, day: l.day, used: 20 },
      ]),
    );
    expect(rows).toHaveLength(2);
  });

  it("takes limits from an active subscription, keeps the day's usage across a plan change, and falls back when the period ends", async () => {
    const user = await server.createUser();
    await server.gql(RECORD, { input: { metric: 'minutes', amount: 170 } }, user.token);
    await subscribeInDatabase(user.id, 'premium');
    const withSub = (await server.gql(MY_LIMITS, undefined, user.token)).data.myLimits;
    expect(withSub).toMatchObject({ plan: { code: 'premium' }, source: 'SUBSCRIPTION' });
    expect(withSub.metrics.find((m: any) => m.metric === 'minutes')).toEqual({
      metric: 'minutes',
      limit: null,
      used: 170,
      remaining: null,
    });
    const big = await server.gql(RECORD, { input: { metric: 'minutes', amount: 500 } }, user.token);
    expect(big.data.recordUsage).toEqual({ metric: 'minutes', limit: null, used: 670, remaining: null });

    // The period ended and its renewal grace (an hour) is over: Free again, no job or webhook needed, and today's usage still counts.
    await sql(server.databaseUrl, `update subscription set current_period_end = now() - interval '1 hour 1 second' where user_id = $1`, [
      user.id,
    ]);
    const after = (await server.gql(MY_LIMITS, undefined, user.token)).data.myLimits;
    expect(after).toMatchObject({ plan: { code: 'free' }, source: 'DEFAULT_PLAN' });
    expect(after.metrics.find((m: any) => m.metric === 'minutes')).toEqual({ metric: 'minutes', limit: 180, used: 670, remaining: 0 });
    const refused = await server.gql(RECORD, { input: { metric: 'minutes', amount: 1 } }, user.token);
    expect(refused.errors?.[0].extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', remaining: 0 });
  });
});
