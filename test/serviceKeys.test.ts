import { createApiKey } from '../src/auth/apiKeys';
import { MY_LIMITS, pricingId, SUBSCRIBE } from './support/billing';
import { runScript } from './support/cli';
import { sql } from './support/db';
import { captureLogs } from './support/logs';
import { startTestServer, type TestServer } from './support/server';

const UPSERT = `mutation($input: UpsertUserInput!) { upsertUser(input: $input) { created user { id externalId email name timezone role } } }`;
const RECORD = `mutation($input: RecordUsageInput!) { recordUsage(input: $input) { metric used remaining } }`;
const ME = `query { me { id externalId email } }`;
const CREATE_KEY = `mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { key apiKey { id name prefix scopes lastUsedAt revokedAt } } }`;

/** A key made as `npm run apikey:create` makes it. */
async function newKey(server: TestServer, name: string, scopes: string[]): Promise<string> {
  return (await createApiKey(server.em(), { name, scopes })).key;
}

const actingFor = (externalId: string) => ({ 'tollgate-user': externalId });
const code = (res: { errors?: Array<{ extensions?: Record<string, any> }> }) => res.errors?.[0]?.extensions?.code;

describe('service API keys acting for the product users', () => {
  let server: TestServer;
  let backend: string;
  beforeAll(async () => {
    server = await startTestServer({ stripe: true });
    backend = await newKey(server, 'backend', ['usage', 'billing', 'users']);
  });
  afterAll(() => server.close());

  it('provisions a user, subscribes them, records their usage and reads their limits: a backend needs nothing but its key', async () => {
    const made = await server.gql(
      UPSERT,
      { input: { externalId: 'prod-1', email: 'One@Example.com', timezone: 'europe/berlin', name: 'One' } },
      backend,
    );
    expect(made.data.upsertUser).toMatchObject({
      created: true,
      user: { externalId: 'prod-1', email: 'one@example.com', timezone: 'Europe/Berlin', name: 'One', role: 'USER' },
    });
    const again = await server.gql(UPSERT, { input: { externalId: 'prod-1', email: 'one@example.com' } }, backend);
    expect(again.data.upsertUser).toMatchObject({
      created: false,
      user: { id: made.data.upsertUser.user.id, timezone: 'Europe/Berlin', name: 'One' },
    });

    const premium = await pricingId(server, 'premium');
    const sub = await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_visa' } }, backend, actingFor('prod-1'));
    expect(sub.data.subscribe.subscription).toMatchObject({ status: 'ACTIVE', plan: { code: 'premium' } });

    const used = await server.gql(RECORD, { input: { metric: 'minutes', amount: 12 } }, backend, actingFor('prod-1'));
    expect(used.data.recordUsage).toMatchObject({ metric: 'minutes', used: 12 });
    const limits = await server.gql(MY_LIMITS, {}, backend, actingFor('prod-1'));
    expect(limits.data.myLimits.plan.code).toBe('premium');
    expect(limits.data.myLimits.metrics.find((m: { metric: string }) => m.metric === 'minutes').used).toBe(12);
    expect((await server.gql(ME, {}, backend, actingFor('prod-1'))).data.me).toMatchObject({
      externalId: 'prod-1',
      email: 'one@example.com',
    });

    // The product finds its user's customer in the Stripe dashboard by its own id.
    const [row] = await sql(server.databaseUrl, 'select stripe_customer_id from app_user where external_id = $1', ['prod-1']);
    const customer = await server.stripe.customers.retrieve(row.stripe_customer_id);
    expect(customer).toMatchObject({ metadata: { tollgate_external_id: 'prod-1', tollgate_user_id: made.data.upsertUser.user.id } });
  });

  it('answers for the named user only: two users, two counters', async () => {
    await server.gql(UPSERT, { input: { externalId: 'a-2', email: 'a2@example.com' } }, backend);
    await server.gql(UPSERT, { input: { externalId: 'b-2', email: 'b2@example.com' } }, backend);
    await server.gql(RECORD, { input: { metric: 'minutes', amount: 7 } }, backend, actingFor('a-2'));
    const minutes = async (who: string) =>
      (await server.gql(MY_LIMITS, {}, backend, actingFor(who))).data.myLimits.metrics.find(
        (m: { metric: string }) => m.metric === 'minutes',
      ).used;
    expect(await minutes('a-2')).toBe(7);
    expect(await minutes('b-2')).toBe(0);
    // checkUsage, hasFeature and the history answer for the named user too.
    const check = `query { checkUsage(metric: "minutes", amount: 174) { allowed limiting { period used } } hasFeature(key: "export") }`;
    expect((await server.gql(check, {}, backend, actingFor('a-2'))).data).toEqual({
      checkUsage: { allowed: false, limiting: { period: 'DAY', used: 7 } },
      hasFeature: false,
    });
    expect((await server.gql(check, {}, backend, actingFor('b-2'))).data.checkUsage.allowed).toBe(true);
    const history = await server.gql(
      `query($d: LocalDate!) { myUsageHistory(metric: "minutes", from: $d, to: $d) { used } }`,
      { d: (await server.gql(MY_LIMITS, {}, backend, actingFor('a-2'))).data.myLimits.day },
      backend,
      actingFor('a-2'),
    );
    expect(history.data.myUsageHistory).toEqual([{ used: 7 }]);
  });

  it('without Tollgate-User a my* operation is BAD_USER_INPUT naming the header; an unknown user is NOT_FOUND naming upsertUser', async () => {
    const none = await server.gql(MY_LIMITS, {}, backend);
    expect(code(none)).toBe('BAD_USER_INPUT');
    expect(none.errors?.[0].message).toMatch(/Tollgate-User/);
    const unknown = await server.gql(RECORD, { input: { metric: 'minutes', amount: 1 } }, backend, actingFor('nobody-here'));
    expect(code(unknown)).toBe('NOT_FOUND');
    expect(unknown.errors?.[0].message).toMatch(/upsertUser/);
    const tooLong = await server.gql(MY_LIMITS, {}, backend, actingFor('x'.repeat(201)));
    expect(code(tooLong)).toBe('BAD_USER_INPUT');
  });

  it('each operation needs its scope: FORBIDDEN names the scope that is missing', async () => {
    const usageOnly = await newKey(server, 'meter', ['usage']);
    await server.gql(UPSERT, { input: { externalId: 'scoped', email: 'scoped@example.com' } }, backend);
    expect((await server.gql(MY_LIMITS, {}, usageOnly, actingFor('scoped'))).data.myLimits.plan.code).toBe('free');
    const upsert = await server.gql(UPSERT, { input: { externalId: 'x', email: 'x@example.com' } }, usageOnly);
    expect(code(upsert)).toBe('FORBIDDEN');
    expect(upsert.errors?.[0].message).toMatch(/"meter" lacks the users scope/);
    const premium = await pricingId(server, 'premium');
    const sub = await server.gql(
      SUBSCRIBE,
      { input: { pricingId: premium, paymentMethod: 'pm_card_visa' } },
      usageOnly,
      actingFor('scoped'),
    );
    expect(code(sub)).toBe('FORBIDDEN');
    expect(sub.errors?.[0].message).toMatch(/billing/);
    const billingOnly = await newKey(server, 'billing-only', ['billing']);
    const usage = await server.gql(RECORD, { input: { metric: 'minutes', amount: 1 } }, billingOnly, actingFor('scoped'));
    expect(code(usage)).toBe('FORBIDDEN');
    expect(usage.errors?.[0].message).toMatch(/usage/);
    const keys = await server.gql(`query { apiKeys { name } }`, {}, backend);
    expect(code(keys)).toBe('FORBIDDEN');
    const admin = await newKey(server, 'ops', ['admin']);
    expect((await server.gql(`query { apiKeys { name } }`, {}, admin)).data.apiKeys.map((k: { name: string }) => k.name)).toContain(
      'backend',
    );
    expect((await server.gql(MY_LIMITS, {}, admin, actingFor('scoped'))).data.myLimits.plan.code).toBe('free');
  });

  it('a user token or the header alone cannot act for someone else', async () => {
    const user = await server.createUser();
    await server.gql(UPSERT, { input: { externalId: 'victim', email: 'victim@example.com' } }, backend);
    const res = await server.gql(MY_LIMITS, {}, user.token, actingFor('victim'));
    expect(code(res)).toBe('FORBIDDEN');
    const upsert = await server.gql(UPSERT, { input: { externalId: 'mine', email: 'mine@example.com' } }, user.token);
    expect(code(upsert)).toBe('FORBIDDEN');
    const anonymous = await server.gql(MY_LIMITS, {}, undefined, actingFor('victim'));
    expect(code(anonymous)).toBe('UNAUTHENTICATED');
  });

  it('refuses bad user input with BAD_USER_INPUT and writes nothing', async () => {
    const before = await sql(server.databaseUrl, 'select count(*)::int as n from app_user');
    const bad = [
      { externalId: 'e1', email: 'not-an-email' },
      { externalId: 'e2', email: 'e2@example.com', timezone: 'Mars/Olympus' },
      { externalId: 'e3', email: 'e3@example.com', timezone: '+02:00' },
      { externalId: 'x'.repeat(201), email: 'e4@example.com' },
      { externalId: 'bad\u0000id', email: 'e5@example.com' },
      { externalId: '   ', email: 'e6@example.com' },
      { externalId: 'e7', email: 'e7@example.com', name: 'n'.repeat(201) },
      { externalId: 'e8' },
    ];
    for (const input of bad) {
      const res = await server.gql(UPSERT, { input }, backend);
      expect({ input, code: code(res) }).toEqual({ input, code: 'BAD_USER_INPUT' });
      expect(res.errors?.[0].extensions?.field).toBeDefined();
    }
    const taken = await server.gql(UPSERT, { input: { externalId: 'other', email: 'one@example.com' } }, backend);
    expect(code(taken)).toBe('CONFLICT');
    expect(await sql(server.databaseUrl, 'select count(*)::int as n from app_user')).toEqual(before);
  });

  it('twenty concurrent upserts of a new user make one user', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, () => server.gql(UPSERT, { input: { externalId: 'burst', email: 'burst@example.com' } }, backend)),
    );
    expect(new Set(results.map((r) => r.data.upsertUser.user.id)).size).toBe(1);
    expect(results.filter((r) => r.data.upsertUser.created)).toHaveLength(1);
    expect(await sql(server.databaseUrl, `select count(*)::int as n from app_user where external_id = 'burst'`)).toEqual([{ n: 1 }]);
  });

  it('finds users by either id; admins list and search them page by page', async () => {
    const made = (await server.gql(UPSERT, { input: { externalId: 'find-me', email: 'find@example.com', name: 'Findable' } }, backend)).data
      .upsertUser.user;
    const byExternal = await server.gql(`query($e: String) { user(externalId: $e) { id name } }`, { e: 'find-me' }, backend);
    expect(byExternal.data.user).toEqual({ id: made.id, name: 'Findable' });
    const byId = await server.gql(`query($id: ID) { user(id: $id) { externalId } }`, { id: made.id }, backend);
    expect(byId.data.user).toEqual({ externalId: 'find-me' });
    expect((await server.gql(`query { user(externalId: "missing") { id } }`, {}, backend)).data.user).toBeNull();
    expect(code(await server.gql(`query { user { id } }`, {}, backend))).toBe('BAD_USER_INPUT');

    const LIST = `query($after: String, $q: String) { users(first: 2, after: $after, query: $q) { edges { node { externalId } } pageInfo { hasNextPage endCursor } } }`;
    expect(code(await server.gql(LIST, {}, backend))).toBe('FORBIDDEN');
    const admin = await server.createUser({ admin: true });
    const found = await server.gql(LIST, { q: 'FINDABLE' }, admin.token);
    expect(found.data.users.edges).toEqual([{ node: { externalId: 'find-me' } }]);
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 50; page++) {
      const res: any = await server.gql(LIST, { after }, admin.token);
      seen.push(...res.data.users.edges.map((e: any) => e.node.externalId));
      if (!res.data.users.pageInfo.hasNextPage) break;
      after = res.data.users.pageInfo.endCursor;
    }
    const [{ n }] = await sql(server.databaseUrl, 'select count(*)::int as n from app_user');
    expect(seen).toHaveLength(n);
    expect(code(await server.gql(LIST, { after: 'garbage' }, admin.token))).toBe('BAD_USER_INPUT');
  });
});

describe('managing API keys', () => {
  let server: TestServer;
  let admin: { token: string };
  beforeAll(async () => {
    server = await startTestServer({ seed: false });
    admin = await server.createUser({ admin: true });
  });
  afterAll(() => server.close());

  it('admins create a key (shown once), list it without the key, and revoke it: it stops working at once', async () => {
    const made = await server.gql(CREATE_KEY, { input: { name: 'reporting', scopes: ['USAGE', 'USERS'] } }, admin.token);
    const { key, apiKey } = made.data.createApiKey;
    expect(key).toMatch(/^tg_sk_[A-Za-z0-9_-]{43}$/);
    expect(apiKey).toMatchObject({
      name: 'reporting',
      prefix: key.slice(0, 14),
      scopes: ['USAGE', 'USERS'],
      lastUsedAt: null,
      revokedAt: null,
    });

    expect(code(await server.gql(`query { user(externalId: "n") { id } }`, {}, key))).toBeUndefined();
    const listed = await server.gql(`query { apiKeys { name prefix lastUsedAt } }`, {}, admin.token);
    expect(listed.data.apiKeys).toEqual([{ name: 'reporting', prefix: apiKey.prefix, lastUsedAt: expect.any(String) }]);
    expect(JSON.stringify(listed)).not.toContain(key);
    const [stored] = await sql(server.databaseUrl, 'select key_hash from api_key where name = $1', ['reporting']);
    expect(stored.key_hash).toMatch(/^[0-9a-f]{64}$/);

    const dup = await server.gql(CREATE_KEY, { input: { name: 'reporting', scopes: ['USAGE'] } }, admin.token);
    expect(code(dup)).toBe('CONFLICT');
    const revoked = await server.gql(`mutation { revokeApiKey(key: "reporting") { name revokedAt } }`, {}, admin.token);
    expect(revoked.data.revokeApiKey.revokedAt).toEqual(expect.any(String));
    const refused = await server.gql(`query { user(externalId: "n") { id } }`, {}, key);
    expect(code(refused)).toBe('UNAUTHENTICATED');
    expect(refused.errors?.[0].message).toMatch(/revoked/);
    // The name is free again once its key is revoked.
    expect((await server.gql(CREATE_KEY, { input: { name: 'reporting', scopes: ['USAGE'] } }, admin.token)).data.createApiKey.key).not.toBe(
      key,
    );
  });

  it('only admins manage keys; bad input is refused with nothing written', async () => {
    const user = await server.createUser();
    expect(code(await server.gql(CREATE_KEY, { input: { name: 'mine', scopes: ['ADMIN'] } }, user.token))).toBe('FORBIDDEN');
    const usersKey = await newKey(server, 'provisioner', ['users']);
    expect(code(await server.gql(CREATE_KEY, { input: { name: 'escalate', scopes: ['ADMIN'] } }, usersKey))).toBe('FORBIDDEN');
    for (const input of [
      { name: '', scopes: ['USAGE'] },
      { name: 'n'.repeat(101), scopes: ['USAGE'] },
      { name: 'empty', scopes: [] },
    ]) {
      expect(code(await server.gql(CREATE_KEY, { input }, admin.token))).toBe('BAD_USER_INPUT');
    }
    expect(await sql(server.databaseUrl, `select name from api_key where name in ('mine', 'escalate', 'empty', '')`)).toEqual([]);
  });

  it('records when a key was last used', async () => {
    const key = await newKey(server, 'last-used', ['usage']);
    expect(await sql(server.databaseUrl, `select last_used_at from api_key where name = 'last-used'`)).toEqual([{ last_used_at: null }]);
    await server.gql(`query { plans { code } }`, {}, key);
    const [row] = await sql(server.databaseUrl, `select last_used_at from api_key where name = 'last-used'`);
    expect(Date.now() - new Date(row.last_used_at).getTime()).toBeLessThan(60_000);
  });

  it('never logs a key or a token, and logs what a key changed with its name and the user', async () => {
    const logs = captureLogs();
    const traced = await startTestServer({ seed: false, logStream: logs.stream, env: { LOG_LEVEL: 'trace' } });
    try {
      const key = await newKey(traced, 'audited', ['users', 'usage']);
      await traced.gql(UPSERT, { input: { externalId: 'logged-user', email: 'logged@example.com' } }, key, actingFor('logged-user'));
      await traced.gql(MY_LIMITS, {}, key, actingFor('logged-user'));
      await traced.gql(MY_LIMITS, {}, 'tg_sk_this-key-does-not-exist-and-must-not-be-logged');
      expect(logs.text()).not.toContain(key);
      expect(logs.text()).not.toContain('this-key-does-not-exist');
      expect(logs.lines().find((l) => l.msg === 'service key mutation')).toMatchObject({
        apiKey: 'audited',
        actingFor: 'logged-user',
        fields: ['upsertUser'],
      });
    } finally {
      await traced.close();
    }
  });
});

describe('command line: tokens and keys', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ seed: false });
  });
  afterAll(() => server.close());
  const run = (name: string, args: string[]) => runScript(name, args, { DATABASE_URL: server.databaseUrl });

  it('apikey:create prints the key alone; apikey:list shows it without the key; apikey:revoke by name or prefix', async () => {
    const made = await run('apikeyCreate', ['--name', 'cli-backend', '--scopes', 'usage,billing']);
    expect(made).toMatchObject({ code: 0, stderr: '' });
    const key = made.stdout.trim();
    expect(made.stdout).toMatch(/^tg_sk_[A-Za-z0-9_-]{43}\n$/);
    const other = (await run('apikeyCreate', ['--name', 'cli-other', '--scopes', 'usage'])).stdout.trim();

    const list = await run('apikeyList', []);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^NAME\s+PREFIX\s+SCOPES\s+CREATED\s+LAST USED\s+STATUS$/m);
    expect(list.stdout).toMatch(new RegExp(`^cli-backend\\s+${key.slice(0, 14)}\\s+billing,usage\\s+\\S+\\s+-\\s+active$`, 'm'));
    expect(list.stdout).not.toContain(key);

    expect(await run('apikeyRevoke', ['--name', 'cli-backend'])).toMatchObject({ code: 0 });
    expect(await run('apikeyRevoke', ['--prefix', other.slice(0, 14)])).toMatchObject({ code: 0 });
    expect(code(await server.gql(MY_LIMITS, {}, key, actingFor('x')))).toBe('UNAUTHENTICATED');
    expect(code(await server.gql(MY_LIMITS, {}, other, actingFor('x')))).toBe('UNAUTHENTICATED');
    expect((await run('apikeyList', ['--all'])).stdout).toMatch(/^cli-backend\s.*revoked/m);

    const bad = await run('apikeyCreate', ['--name', 'x', '--scopes', 'everything']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/scopes must be one or more of usage, billing, users, admin/);
    expect((await run('apikeyRevoke', ['--name', 'no-such-key'])).stderr).toMatch(/not found/);
  });

  it('user:token issues another token that works beside the first; --revoke-others and user:revoke end them', async () => {
    const user = await server.createUser();
    const second = await run('userToken', ['--email', user.email]);
    expect(second).toMatchObject({ code: 0, stderr: '' });
    expect(second.stdout).toMatch(/^tg_[A-Za-z0-9_-]{43}\n$/);
    const token2 = second.stdout.trim();
    expect((await server.gql(ME, {}, user.token)).data.me.id).toBe(user.id);
    expect((await server.gql(ME, {}, token2)).data.me.id).toBe(user.id);

    const third = (await run('userToken', ['--email', user.email, '--revoke-others'])).stdout.trim();
    expect(code(await server.gql(ME, {}, user.token))).toBe('UNAUTHENTICATED');
    expect(code(await server.gql(ME, {}, token2))).toBe('UNAUTHENTICATED');
    expect((await server.gql(ME, {}, third)).data.me.id).toBe(user.id);

    expect((await run('userRevoke', ['--email', user.email])).stdout).toBe(`revoked 1 token of ${user.email}\n`);
    const revoked = await server.gql(ME, {}, third);
    expect(code(revoked)).toBe('UNAUTHENTICATED');
    expect(revoked.errors?.[0].message).toMatch(/revoked/);
    expect((await run('userToken', ['--email', 'nobody@example.com'])).code).not.toBe(0);
  });
});
