import { runScript } from './support/cli';
import { sql } from './support/db';
import { startReceiver, type Receiver } from './support/receiver';
import { startTestServer, type TestServer } from './support/server';

jest.setTimeout(120_000);

const RECORD = `mutation($input: RecordUsageInput!) { recordUsage(input: $input) { used } }`;

/** usage.threshold and usage.limit_reached: written by the consume that crosses, delivered once. */
describe('usage events', () => {
  let server: TestServer;
  let receiver: Receiver;
  const of = (userId: string) => receiver.received.filter((r) => r.json.user.id === userId);
  const typesOf = (userId: string) => of(userId).map((r) => `${r.json.type} ${r.json.data.object.metric ?? ''}`.trim());

  beforeAll(async () => {
    // A share of 50% (not the default 80%) shows EVENTS_USAGE_THRESHOLD reaches the consume.
    server = await startTestServer({ env: { EVENTS_DELIVERY: 'on', EVENTS_POLL_MS: '100', EVENTS_USAGE_THRESHOLD: '50' } });
    receiver = await startReceiver();
    const added = await runScript('eventsEndpoint', ['add', '--url', receiver.url, '--events', 'user.*,usage.*'], {
      DATABASE_URL: server.databaseUrl,
      LOG_LEVEL: 'silent',
    });
    expect(added.code).toBe(0);
  });

  afterAll(async () => {
    await server?.close();
    await receiver?.close();
  });

  it('crossing the share and reaching the limit each emit one event; later consumes in the window emit none', async () => {
    const user = await server.createUser();
    const record = async (metric: string, amount: number) =>
      (await server.gql(RECORD, { input: { metric, amount } }, user.token)).data?.recordUsage?.used ?? null;
    // The free plan: minutes 180 a day and 3000 a month, megabytes 300 a day.
    expect(await record('minutes', 80)).toBe(80); // below 90: nothing
    expect(await record('minutes', 20)).toBe(100); // 80 -> 100 crosses 90 (50% of the daily 180)
    expect(await record('minutes', 30)).toBe(130); // above the share already: nothing
    expect(await record('minutes', 100)).toBeNull(); // refused: nothing consumed, nothing emitted
    expect(await record('minutes', 50)).toBe(180); // the daily limit exactly
    expect(await record('minutes', 1)).toBeNull(); // refused
    // Both at once, in one consume; arriving last (events of a user are delivered in order), so nothing else is pending.
    expect(await record('megabytes', 300)).toBe(300);
    await receiver.waitFor(() => of(user.id).length >= 5);
    await new Promise((r) => setTimeout(r, 500));
    expect(typesOf(user.id)).toEqual([
      'user.created',
      'usage.threshold minutes',
      'usage.limit_reached minutes',
      'usage.threshold megabytes',
      'usage.limit_reached megabytes',
    ]);
    const [threshold, reached] = of(user.id).slice(1);
    const [{ ends }] = await sql(
      server.databaseUrl,
      `select max(window_start) + interval '1 day' as ends from usage_counter where user_id = $1 and period = 'day'`,
      [user.id],
    );
    expect(threshold.json).toEqual({
      id: expect.stringMatching(/^evt_[0-9a-f]{24}$/),
      type: 'usage.threshold',
      created: expect.any(Number),
      user: { id: user.id, externalId: null },
      data: { object: { metric: 'minutes', period: 'DAY', limit: 180, used: 100, remaining: 80, resetsAt: ends.toISOString() } },
    });
    expect(reached.json.data.object).toEqual({
      metric: 'minutes',
      period: 'DAY',
      limit: 180,
      used: 180,
      remaining: 0,
      resetsAt: ends.toISOString(),
    });
    const [{ count }] = await sql(server.databaseUrl, `select count(*)::int as count from outbox_event where user_id = $1`, [user.id]);
    expect(count).toBe(5);
  });

  it('a retried consume (same idempotency key) emits nothing again', async () => {
    const user = await server.createUser();
    const input = { metric: 'megabytes', amount: 200, idempotencyKey: 'usage-events-retry' };
    await server.gql(RECORD, { input }, user.token);
    await server.gql(RECORD, { input }, user.token);
    const rows = await sql(server.databaseUrl, `select type from outbox_event where user_id = $1 order by seq`, [user.id]);
    expect(rows.map((r) => r.type)).toEqual(['user.created', 'usage.threshold']);
  });
});
