import type { EntityManager } from '@mikro-orm/postgresql';
import { recordUsage } from '../src/billing/limits';
import { recordUsageBatch, type UsageEventInput, type UsageEventResult } from '../src/billing/usageBatch';
import { DomainError } from '../src/errors';
import { CONSUME_SQL, consumeParams, DEFAULT_PLAN_GRACE } from '../src/billing/limitsSql';
import pg from 'pg';
import { sql } from './support/db';
import { startTestServer, type TestServer } from './support/server';

/** The rules of a batch are recordUsage's, event by event, in order (Free: 180 minutes a day, 3,000 a month, 300 MB a day). */
describe('recordUsageBatch follows recordUsage event by event', () => {
  let server: TestServer;
  let em: EntityManager;
  let seq = 0;
  const service = { kind: 'service' } as const;
  const now = new Date();
  beforeAll(async () => {
    server = await startTestServer();
    em = server.em() as EntityManager;
  });
  afterAll(() => server.close());

  /** A user with an externalId a service key can name. */
  async function person(timezone = 'UTC'): Promise<{ id: string; timezone: string; externalId: string }> {
    const user = await server.createUser({ timezone });
    const externalId = `rules-${++seq}`;
    await sql(server.databaseUrl, 'update app_user set external_id = $1 where id = $2', [externalId, user.id]);
    return { id: user.id, timezone, externalId };
  }

  /** What an answer says, without the user: "ok minutes day 100/180" or the error's code and message. */
  const said = (r: UsageEventResult) =>
    r.ok ? `ok ${r.usage.metric} ${r.usage.period} ${r.usage.used}/${r.usage.limit}` : `${r.error.code} ${r.error.message}`;

  const dayUsed = async (userId: string, metric = 'minutes') =>
    (
      await sql(
        server.databaseUrl,
        `select coalesce(sum(used), 0)::int as used from usage_counter where user_id = $1 and metric = $2 and period = 'day'`,
        [userId, metric],
      )
    )[0].used as number;

  it('answers a batch over several users exactly as the same uses recorded one by one, refusals in the middle included', async () => {
    const [a, b, c, d] = [await person(), await person('Asia/Tokyo'), await person(), await person('Asia/Tokyo')];
    // a gets 100, 90 (refused: 80 left), 80 (fits exactly), 1 (refused: nothing left); b 170, 20 (refused), 10, and megabytes.
    const plan: Array<[0 | 1, string, number]> = [
      [0, 'minutes', 100],
      [1, 'minutes', 170],
      [0, 'minutes', 90],
      [1, 'minutes', 20],
      [0, 'minutes', 80],
      [1, 'megabytes', 300],
      [1, 'minutes', 10],
      [0, 'minutes', 1],
      [1, 'megabytes', 1],
      [0, 'parsecs', 1],
    ];
    const batch: UsageEventInput[] = plan.map(([who, metric, amount], i) => ({
      user: [a, b][who].externalId,
      metric,
      amount,
      idempotencyKey: `mixed-${i}`,
    }));
    const batched = await recordUsageBatch(em, service, batch, now);

    const alone: UsageEventResult[] = [];
    for (const [i, [who, metric, amount]] of plan.entries()) {
      const owner = [c, d][who];
      alone.push(
        await recordUsage(em, owner, { metric, amount, idempotencyKey: `alone-${i}` }, now).then(
          (usage) => ({ ok: true as const, usage }),
          (error: DomainError) => ({ ok: false as const, error }),
        ),
      );
    }
    expect(batched.map(said)).toEqual(alone.map(said));
    expect(batched.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual([
      'ok',
      'ok',
      'LIMIT_EXCEEDED',
      'LIMIT_EXCEEDED',
      'ok',
      'ok',
      'ok',
      'LIMIT_EXCEEDED',
      'LIMIT_EXCEEDED',
      'BAD_USER_INPUT',
    ]);
    expect(batched.map((r) => (r.ok ? null : r.error.extensions))).toEqual(alone.map((r) => (r.ok ? null : r.error.extensions)));
    expect([await dayUsed(a.id), await dayUsed(b.id), await dayUsed(b.id, 'megabytes')]).toEqual([180, 180, 300]);
    expect([await dayUsed(c.id), await dayUsed(d.id), await dayUsed(d.id, 'megabytes')]).toEqual([180, 180, 300]);
  });

  it('answers a key repeated inside a batch as a retry (or CONFLICT), and lets a key whose use was refused be used again', async () => {
    const a = await person();
    const results = await recordUsageBatch(
      em,
      service,
      [
        { user: a.externalId, metric: 'minutes', amount: 5, idempotencyKey: 'dup-1' },
        { user: a.externalId, metric: 'minutes', amount: 5, idempotencyKey: 'dup-1' },
        { user: a.externalId, metric: 'minutes', amount: 6, idempotencyKey: 'dup-1' },
        { user: a.externalId, metric: 'minutes', amount: 500, idempotencyKey: 'dup-2' },
        { user: a.externalId, metric: 'minutes', amount: 7, idempotencyKey: 'dup-2' },
        { user: a.externalId, metric: 'minutes', amount: 7, idempotencyKey: 'dup-2' },
      ],
      now,
    );
    expect(results.map(said)).toEqual([
      'ok minutes day 5/180',
      'ok minutes day 5/180',
      'CONFLICT idempotencyKey "dup-1" was already used for 5 minutes',
      expect.stringMatching(/^LIMIT_EXCEEDED Not enough minutes left today: 500 requested, 175 of 180 left/),
      'ok minutes day 12/180',
      'ok minutes day 12/180',
    ]);
    expect(await dayUsed(a.id)).toBe(12);
    const records = await sql(
      server.databaseUrl,
      'select idempotency_key, amount, used_after from usage_record where user_id = $1 order by idempotency_key',
      [a.id],
    );
    expect(records).toEqual([
      { idempotency_key: 'dup-1', amount: 5, used_after: 5 },
      { idempotency_key: 'dup-2', amount: 7, used_after: 12 },
    ]);
    // The same keys in a later batch and alone: the first answers again, nothing counted.
    const again = await recordUsageBatch(em, service, [{ user: a.externalId, metric: 'minutes', amount: 7, idempotencyKey: 'dup-2' }], now);
    expect(again.map(said)).toEqual(['ok minutes day 12/180']);
    expect(await recordUsage(em, a, { metric: 'minutes', amount: 5, idempotencyKey: 'dup-1' }, now)).toMatchObject({ used: 5 });
    expect(await dayUsed(a.id)).toBe(12);
  });

  it("counts a batch against the plan a subscription keeps during its renewal grace, and Free's once the grace is over", async () => {
    const a = await person();
    const [premium] = await sql(
      server.databaseUrl,
      `select p.id, pp.id as pricing_id from plan p join plan_pricing pp on pp.plan_id = p.id where p.code = 'premium'`,
    );
    // The period ended ten minutes ago and the renewal webhook has not come yet.
    await sql(
      server.databaseUrl,
      `insert into subscription (id, created_at, updated_at, user_id, plan_id, pricing_id, status, current_period_start, current_period_end)
       values (gen_random_uuid(), now(), now(), $1, $2, $3, 'active', $4::timestamptz - interval '30 days 10 minutes', $4::timestamptz - interval '10 minutes')`,
      [a.id, premium.id, premium.pricing_id, now.toISOString()],
    );
    const use = (key: string) => [{ user: a.externalId, metric: 'minutes', amount: 500, idempotencyKey: key }];
    const inGrace = await recordUsageBatch(em, service, use('grace-1'), now, { renewalSeconds: 3600, pastDueDays: 3 });
    expect(inGrace.map(said)).toEqual(['ok minutes day 500/null']);
    const after = await recordUsageBatch(em, service, use('grace-2'), now, { renewalSeconds: 60, pastDueDays: 3 });
    expect(after.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual(['LIMIT_EXCEEDED']);
    expect(await dayUsed(a.id)).toBe(500);
  });

  it('writes the usage events a batch crosses once each, in order, with the consumes', async () => {
    const a = await person();
    const events = [100, 50, 30, 1].map((amount, i) => ({ user: a.externalId, metric: 'minutes', amount, idempotencyKey: `ev-${i}` }));
    const results = await recordUsageBatch(em, service, events, now, undefined, 80);
    expect(results.map((r) => r.ok)).toEqual([true, true, true, false]);
    const rows = await sql(
      server.databaseUrl,
      `select type, data->'object'->>'period' as period, (data->'object'->>'used')::int as used from outbox_event
        where user_id = $1 and type like 'usage.%' order by seq`,
      [a.id],
    );
    // 80% of the day's 180 is 144: crossed by the second use; the third fills the day.
    expect(rows).toEqual([
      { type: 'usage.threshold', period: 'day', used: 150 },
      { type: 'usage.limit_reached', period: 'day', used: 180 },
    ]);
  });

  it('lets concurrent batches naming the same users in opposite orders finish without deadlock or overshoot', async () => {
    const people = [await person(), await person(), await person(), await person()];
    // 8 batches of 100 one-minute uses, half naming the users forwards and half backwards: 200 asked per user, 180 fit.
    const batches = Array.from({ length: 8 }, (_, b) =>
      Array.from({ length: 100 }, (_, i) => {
        const who = b % 2 === 0 ? i % 4 : 3 - (i % 4);
        return { user: people[who].externalId, metric: 'minutes', amount: 1, idempotencyKey: `order-${b}-${i}` };
      }),
    );
    const results = await Promise.all(batches.map((events) => recordUsageBatch(em, service, events, now)));
    expect(results.flat().filter((r) => r.ok)).toHaveLength(4 * 180);
    for (const p of people) expect(await dayUsed(p.id)).toBe(180);
  });
  describe('a key another call is recording at the same moment', () => {
    /** Records `use` with `key` in a transaction of its own and keeps it open (holding its counters and record). */
    async function openCall(owner: { id: string; timezone: string }, metric: string, amount: number, key: string) {
      const client = new pg.Client({ connectionString: server.databaseUrl });
      await client.connect();
      await client.query('begin');
      await client.query(CONSUME_SQL, consumeParams([{ owner, metric, amount, key }], now, DEFAULT_PLAN_GRACE, 80));
      return {
        async commit() {
          await client.query('commit');
          await client.end();
        },
      };
    }

    /** Resolves once some statement waits for a lock another transaction holds. */
    async function someoneWaits() {
      for (;;) {
        const [{ waiting }] = await sql(
          server.databaseUrl,
          `select count(*)::int as waiting from pg_stat_activity where wait_event_type = 'Lock'`,
        );
        if (waiting > 0) return;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }

    it('answers the same use as a retry once that call commits, counted once', async () => {
      const a = await person();
      const other = await openCall(a, 'minutes', 7, 'race-1');
      const retried = recordUsage(em, a, { metric: 'minutes', amount: 7, idempotencyKey: 'race-1' }, now);
      await someoneWaits();
      await other.commit();
      expect(await retried).toMatchObject({ metric: 'minutes', used: 7 });
      expect(await dayUsed(a.id)).toBe(7);
      expect(await sql(server.databaseUrl, 'select metric, amount from usage_record where user_id = $1', [a.id])).toEqual([
        { metric: 'minutes', amount: 7 },
      ]);
    });

    it('refuses the key for another use with CONFLICT once that call commits, writing nothing of its own', async () => {
      const a = await person();
      const other = await openCall(a, 'minutes', 7, 'race-2');
      const reused = recordUsage(em, a, { metric: 'megabytes', amount: 3, idempotencyKey: 'race-2' }, now).catch((err: unknown) => err);
      await someoneWaits();
      await other.commit();
      const err = await reused;
      expect(err).toBeInstanceOf(DomainError);
      expect(err).toMatchObject({ code: 'CONFLICT' });
      expect(await dayUsed(a.id, 'megabytes')).toBe(0);
      expect(await dayUsed(a.id)).toBe(7);
    });
  });
});
