import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { createApiKey } from '../src/auth/apiKeys';
import { upsertUser } from '../src/auth/users';
import { ApiKeyScope } from '../src/entities';
import { issueUserToken } from '../src/auth/userTokens';
import { pricingId, SUBSCRIBE } from './support/billing';
import { startAppProcess, type ServerProcess } from './support/process';
import { startTestServer, type TestServer } from './support/server';

jest.setTimeout(120_000);

const LIMITS_CHANGED = `subscription { limitsChanged { plan { code } metrics { metric period limit used remaining } } }`;
const SUBSCRIPTION_CHANGED = `subscription { subscriptionChanged { id status cancelAtPeriodEnd plan { code } pricing { id } } }`;
const RECORD = `mutation($input: RecordUsageInput!) { recordUsage(input: $input) { used } }`;

/** One subscription's results as they arrive, and how it ended. */
interface Feed {
  values: any[];
  errors: unknown[];
  /** Resolves with the first value (from `from` on) that satisfies `predicate`, or rejects after `ms`. */
  next(predicate: (value: any) => boolean, ms?: number, from?: number): Promise<any>;
  ended: Promise<unknown>;
  dispose(): void;
}

function follow(client: Client, query: string): Feed {
  const values: any[] = [];
  const errors: unknown[] = [];
  let ended!: (reason: unknown) => void;
  const done = new Promise<unknown>((resolve) => (ended = resolve));
  const dispose = client.subscribe(
    { query },
    {
      next: (result) => {
        if (result.errors) errors.push(...result.errors);
        else values.push(result.data);
      },
      error: (err) => {
        errors.push(err);
        ended(err);
      },
      complete: () => ended(null),
    },
  );
  return {
    values,
    errors,
    ended: done,
    dispose,
    async next(predicate, ms = 10_000, from = 0) {
      const until = Date.now() + ms;
      for (;;) {
        const found = values.slice(from).find(predicate);
        if (found) return found;
        if (Date.now() > until)
          throw new Error(`no matching value within ${ms} ms; got ${JSON.stringify(values)} ${JSON.stringify(errors)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
}

describe('live GraphQL subscriptions (graphql-ws on /graphql)', () => {
  let server: TestServer;
  let other: ServerProcess & { url: string };
  const clients: Client[] = [];
  const connect = (url: string, connectionParams: Record<string, string>) => {
    const client = createClient({
      url: `${url.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams,
      retryAttempts: 0,
    });
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    server = await startTestServer({ stripe: true });
    // A second server process on the same database: changes made there must reach subscribers here.
    other = await startAppProcess({
      DATABASE_URL: server.databaseUrl,
      EMULATOR_URL: server.emulator.url,
      WEBHOOK_SECRET: server.webhookSecret,
    });
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.dispose()));
    await other?.stop();
    await server?.close();
  });

  /** A GraphQL request over HTTP to the other process. */
  async function gqlOther(query: string, variables: Record<string, unknown>, token: string): Promise<any> {
    const res = await fetch(`${other.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
    return res.json();
  }

  it('limitsChanged: the current limits, then the new ones within a second of a recordUsage made through another process', async () => {
    const user = await server.createUser();
    const feed = follow(connect(server.url, { authorization: `Bearer ${user.token}` }), LIMITS_CHANGED);
    const first = await feed.next(() => true);
    expect(first.limitsChanged.plan.code).toBe('free');
    expect(first.limitsChanged.metrics).toContainEqual({ metric: 'minutes', period: 'DAY', limit: 180, used: 0, remaining: 180 });

    const started = Date.now();
    const recorded = await gqlOther(RECORD, { input: { metric: 'minutes', amount: 7 } }, user.token);
    expect(recorded.data.recordUsage.used).toBe(7);
    const minutes = (v: any) => v.limitsChanged.metrics.find((m: any) => m.metric === 'minutes' && m.period === 'DAY');
    const seen = await feed.next((v) => minutes(v).used === 7, 1000);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(minutes(seen)).toEqual({ metric: 'minutes', period: 'DAY', limit: 180, used: 7, remaining: 173 });

    // Another user's use is not this subscriber's business.
    const stranger = await server.createUser();
    const count = feed.values.length;
    await gqlOther(RECORD, { input: { metric: 'minutes', amount: 3 } }, stranger.token);
    await server.gql(RECORD, { input: { metric: 'minutes', amount: 2 } }, user.token);
    await feed.next((v) => minutes(v).used === 9, 1000, count);
    expect(feed.values.slice(count).every((v) => [7, 9].includes(minutes(v).used))).toBe(true);
    expect(feed.errors).toEqual([]);
  });

  it('subscriptionChanged: the subscription as GraphQL shows it, after a subscribe through another process', async () => {
    const user = await server.createUser();
    const client = connect(server.url, { authorization: `Bearer ${user.token}` });
    const changes = follow(client, SUBSCRIPTION_CHANGED);
    // The limits' first answer comes after the subscription above was set up (it needs a query; that one none).
    await follow(client, LIMITS_CHANGED).next(() => true);

    const premium = await pricingId(server, 'premium');
    const res = await gqlOther(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_visa' } }, user.token);
    const sub = res.data.subscribe.subscription;
    const active = await changes.next((v) => v.subscriptionChanged.status === 'ACTIVE');
    expect(active.subscriptionChanged).toEqual({
      id: sub.id,
      status: 'ACTIVE',
      cancelAtPeriodEnd: false,
      plan: { code: 'premium' },
      pricing: { id: premium },
    });
    expect(changes.errors).toEqual([]);
  });

  it('a service key acting for a user subscribes for them, with the scope the field needs', async () => {
    const { user } = await upsertUser(server.em(), { externalId: 'live-ext-1', email: 'live-ext-1@example.com' });
    const usageKey = (await createApiKey(server.em(), { name: 'live-usage', scopes: [ApiKeyScope.USAGE] })).key;
    const billingKey = (await createApiKey(server.em(), { name: 'live-billing', scopes: [ApiKeyScope.BILLING] })).key;

    const feed = follow(connect(server.url, { authorization: `Bearer ${usageKey}`, 'tollgate-user': 'live-ext-1' }), LIMITS_CHANGED);
    await feed.next(() => true);
    await gqlOther(RECORD, { input: { metric: 'megabytes', amount: 5 } }, await issueUserToken(server.em(), user.id));
    await feed.next((v) => v.limitsChanged.metrics.some((m: any) => m.metric === 'megabytes' && m.used === 5), 1000);

    const refused = follow(connect(server.url, { authorization: `Bearer ${billingKey}`, 'tollgate-user': 'live-ext-1' }), LIMITS_CHANGED);
    await refused.ended;
    expect(refused.errors).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'FORBIDDEN' }) })]);

    const noUser = follow(connect(server.url, { authorization: `Bearer ${usageKey}` }), LIMITS_CHANGED);
    await noUser.ended;
    expect(noUser.errors).toEqual([expect.objectContaining({ message: expect.stringMatching(/Tollgate-User/) })]);
  });

  it('refuses a connection without good credentials, saying why in the close reason', async () => {
    const closed = async (params: Record<string, string>) => {
      const feed = follow(connect(server.url, params), LIMITS_CHANGED);
      const event = (await feed.ended) as { code: number; reason: string };
      return { code: event.code, reason: event.reason };
    };
    expect(await closed({ authorization: 'Bearer tg_not_a_token' })).toEqual({
      code: 4401,
      reason: 'UNAUTHENTICATED: Invalid or revoked token',
    });
    expect(await closed({})).toEqual({
      code: 4401,
      reason: expect.stringMatching(/^Unauthorized: send \{ authorization: 'Bearer <token>' \}/),
    });
    const user = await server.createUser();
    expect(await closed({ authorization: `Bearer ${user.token}`, 'tollgate-user': 'someone' })).toEqual({
      code: 4403,
      reason: expect.stringMatching(/^FORBIDDEN: Only a service API key may act for another user/),
    });
  });

  it('serves only subscriptions over WebSocket', async () => {
    const user = await server.createUser();
    const feed = follow(connect(server.url, { authorization: `Bearer ${user.token}` }), `query { myLimits { day } }`);
    await feed.ended;
    expect(feed.errors.flat()).toEqual([
      expect.objectContaining({
        message: expect.stringMatching(/^Only subscriptions are served over WebSocket/),
        extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
      }),
    ]);
  });
});
