import { createApiKey } from '../src/auth/apiKeys';
import { sql } from './support/db';
import { startTestServer, type TestServer } from './support/server';

const BATCH = `mutation($events: [UsageEventInput!]!) {
  recordUsageBatch(events: $events) { ok usage { metric period used remaining } error { code message extensions } }
}`;
const UPSERT = `mutation($input: UpsertUserInput!) { upsertUser(input: $input) { user { id } } }`;

describe('recordUsageBatch', () => {
  let server: TestServer;
  let key: string;
  const used = async (externalId: string, metric = 'minutes') => {
    const [row] = await sql(
      server.databaseUrl,
      `select coalesce(sum(c.used), 0)::int as used from usage_counter c join app_user u on u.id = c.user_id
        where u.external_id = $1 and c.metric = $2 and c.period = 'day'`,
      [externalId, metric],
    );
    return row.used as number;
  };
  beforeAll(async () => {
    server = await startTestServer();
    key = (await createApiKey(server.em(), { name: 'ingest', scopes: ['usage', 'users'] })).key;
    for (const id of ['batch-a', 'batch-b', 'batch-hot'])
      await server.gql(UPSERT, { input: { externalId: id, email: `${id}@example.com` } }, key);
  });
  afterAll(() => server.close());

  it('answers each event in order, recording the good ones and refusing the others in their place', async () => {
    const events = [
      { user: 'batch-a', metric: 'minutes', amount: 10, idempotencyKey: 'a-1' },
      { user: 'batch-b', metric: 'minutes', amount: 175, idempotencyKey: 'b-1' },
      { user: 'batch-b', metric: 'minutes', amount: 10, idempotencyKey: 'b-2' },
      { user: 'nobody', metric: 'minutes', amount: 1, idempotencyKey: 'n-1' },
      { user: 'batch-a', metric: 'parsecs', amount: 1, idempotencyKey: 'a-2' },
      { metric: 'minutes', amount: 1, idempotencyKey: 'x-1' },
      { user: 'batch-a', metric: 'megabytes', amount: 20, idempotencyKey: 'a-3' },
    ];
    const res = await server.gql(BATCH, { events }, key);
    expect(res.errors).toBeUndefined();
    const answers = res.data.recordUsageBatch;
    expect(answers.map((a: any) => (a.ok ? `ok ${a.usage.metric} ${a.usage.used}` : a.error.code))).toEqual([
      'ok minutes 10',
      'ok minutes 175',
      'LIMIT_EXCEEDED',
      'NOT_FOUND',
      'BAD_USER_INPUT',
      'BAD_USER_INPUT',
      'ok megabytes 20',
    ]);
    expect(answers[2].error.extensions).toMatchObject({ period: 'DAY', remaining: 5, requested: 10 });
    expect(answers[3].error.message).toMatch(/upsertUser/);
    expect(await used('batch-a')).toBe(10);
    expect(await used('batch-b')).toBe(175);

    // The same batch again: every key answers as the first time and nothing is counted twice.
    const again = (await server.gql(BATCH, { events }, key)).data.recordUsageBatch;
    expect(again.map((a: any) => a.ok)).toEqual(answers.map((a: any) => a.ok));
    expect(await used('batch-a')).toBe(10);
    expect(await used('batch-b')).toBe(175);
  });

  it('needs an idempotency key per event, and refuses an empty batch or one over 1,000 events with nothing written', async () => {
    const noKey = await server.gql(BATCH, { events: [{ user: 'batch-a', metric: 'minutes', amount: 1, idempotencyKey: ' ' }] }, key);
    expect(noKey.data.recordUsageBatch[0].error).toMatchObject({ code: 'BAD_USER_INPUT', extensions: { field: 'idempotencyKey' } });
    expect((await server.gql(BATCH, { events: [] }, key)).errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
    const before = await used('batch-a');
    const tooMany = Array.from({ length: 1001 }, (_, i) => ({ user: 'batch-a', metric: 'minutes', amount: 1, idempotencyKey: `big-${i}` }));
    const refused = await server.gql(BATCH, { events: tooMany }, key);
    expect(refused.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
    expect(refused.errors?.[0].message).toMatch(/at most 1000/);
    expect(await used('batch-a')).toBe(before);
  });

  it('lets a user record only their own usage', async () => {
    const user = await server.createUser();
    const res = await server.gql(
      BATCH,
      {
        events: [
          { metric: 'minutes', amount: 2, idempotencyKey: 'self-1' },
          { user: 'batch-a', metric: 'minutes', amount: 2, idempotencyKey: 'other-1' },
        ],
      },
      user.token,
    );
    expect(res.data.recordUsageBatch.map((a: any) => (a.ok ? 'ok' : a.error.code))).toEqual(['ok', 'FORBIDDEN']);
    const noScope = (await createApiKey(server.em(), { name: 'billing-only', scopes: ['billing'] })).key;
    expect(
      (await server.gql(BATCH, { events: [{ user: 'batch-a', metric: 'minutes', amount: 1, idempotencyKey: 'z' }] }, noScope)).errors?.[0]
        .extensions?.code,
    ).toBe('FORBIDDEN');
  });

  it('never lets concurrent batches on one user go over the limit or count an event twice', async () => {
    // 8 batches of 50 one-minute events at once against Free's 180 minutes a day: exactly 180 are accepted.
    const batches = Array.from({ length: 8 }, (_, b) =>
      Array.from({ length: 50 }, (_, i) => ({ user: 'batch-hot', metric: 'minutes', amount: 1, idempotencyKey: `hot-${b}-${i}` })),
    );
    const results = await Promise.all(batches.map((events) => server.gql(BATCH, { events }, key)));
    const accepted = results.flatMap((r) => r.data.recordUsageBatch).filter((a: any) => a.ok).length;
    expect(accepted).toBe(180);
    expect(await used('batch-hot')).toBe(180);
  });
});
