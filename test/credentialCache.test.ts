import { createApiKey } from '../src/auth/apiKeys';
import { revokeUserTokens } from '../src/auth/userTokens';
import { MY_LIMITS } from './support/billing';
import { runScript } from './support/cli';
import { sql } from './support/db';
import { startTestServer, type TestServer } from './support/server';

/**
 * Server processes remember who a credential is; a revocation, or any change to who a credential is, must
 * still take effect in every process on the database as soon as PostgreSQL's notice reaches it
 * (milliseconds; longer on a loaded machine, so the other app is asked until it answers, for up to 5 s).
 * Two apps share one database here: what is changed through one (or by a command, or by hand) is refused or
 * seen by the other.
 */

const ME = `query { me { email timezone role } }`;
const USERS = `query { users(first: 1) { edges { node { id } } } }`;
const code = (res: { errors?: Array<{ extensions?: Record<string, any> }> }) => res.errors?.[0]?.extensions?.code;

describe('credentials remembered by two servers on one database', () => {
  let one: TestServer;
  let other: TestServer;
  const otherStatements: string[] = [];
  const lookups = () => otherStatements.filter((q) => /from user_token|from api_key/.test(q)).length;

  /** Until `other` answers `token` without looking it up: it remembers it (so what follows tests forgetting). */
  async function remembered(token: string, headers?: Record<string, string>): Promise<void> {
    for (let i = 0; i < 50; i++) {
      expect((await other.gql(ME, {}, token, headers)).errors).toBeUndefined();
      const before = lookups();
      expect((await other.gql(ME, {}, token, headers)).errors).toBeUndefined();
      if (lookups() === before) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('the other server never remembered the credential');
  }

  /** The other server's answer once `done` holds for it: the notice has reached it. */
  async function once<T extends { errors?: unknown }>(ask: () => Promise<T>, done: (res: T) => boolean): Promise<T> {
    for (let i = 0; ; i++) {
      const res = await ask();
      if (done(res) || i === 50) return res;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const refused = (res: { errors?: Array<{ extensions?: Record<string, any> }> }) => code(res) !== undefined;

  beforeAll(async () => {
    one = await startTestServer();
    other = await startTestServer({ databaseUrl: one.databaseUrl, seed: false, onQuery: (q) => otherStatements.push(q) });
  });
  afterAll(async () => {
    await other?.close();
    await one?.close();
  });

  it('looks a busy token up once, not on every request', async () => {
    const user = await one.createUser();
    await remembered(user.token);
    const before = lookups();
    for (let i = 0; i < 5; i++) expect((await other.gql(MY_LIMITS, {}, user.token)).data.myLimits.plan.code).toBe('free');
    expect(lookups()).toBe(before);
  });

  it('refuses a user token once it is revoked elsewhere, as `npm run user:revoke` does', async () => {
    const user = await one.createUser();
    await remembered(user.token);
    expect(await revokeUserTokens(one.em(), user.id)).toBe(1);
    const res = await once(() => other.gql(MY_LIMITS, {}, user.token), refused);
    expect(code(res)).toBe('UNAUTHENTICATED');
    expect(res.errors?.[0].message).toBe('Invalid or revoked token');
  });

  it('refuses a user token revoked by the command in a process of its own', async () => {
    const user = await one.createUser();
    await remembered(user.token);
    const revoked = await runScript('userRevoke', ['--email', user.email], { DATABASE_URL: one.databaseUrl });
    expect(revoked).toMatchObject({ code: 0, stdout: `revoked 1 token of ${user.email}\n` });
    expect(code(await once(() => other.gql(ME, {}, user.token), refused))).toBe('UNAUTHENTICATED');
  });

  it('refuses a service key once revokeApiKey went through the other server', async () => {
    const admin = await one.createUser({ admin: true });
    const { key } = await createApiKey(one.em(), { name: 'revoked-elsewhere', scopes: ['usage', 'users'] });
    await one.gql(
      `mutation($input: UpsertUserInput!) { upsertUser(input: $input) { created } }`,
      {
        input: { externalId: 'remembered-1', email: 'remembered-1@example.com' },
      },
      key,
    );
    await remembered(key, { 'tollgate-user': 'remembered-1' });
    const revoke = await one.gql(`mutation { revokeApiKey(key: "revoked-elsewhere") { revokedAt } }`, {}, admin.token);
    expect(revoke.data.revokeApiKey.revokedAt).toEqual(expect.any(String));
    const res = await once(() => other.gql(MY_LIMITS, {}, key, { 'tollgate-user': 'remembered-1' }), refused);
    expect(code(res)).toBe('UNAUTHENTICATED');
    expect(res.errors?.[0].message).toBe('Invalid or revoked API key');
  });

  it('sees a changed role and time zone, whoever changed them', async () => {
    const admin = await one.createUser({ admin: true, timezone: 'UTC' });
    await remembered(admin.token);
    expect((await other.gql(USERS, {}, admin.token)).errors).toBeUndefined();
    await sql(one.databaseUrl, `update app_user set role = 'user', timezone = 'Europe/Berlin' where id = $1`, [admin.id]);
    expect(code(await once(() => other.gql(USERS, {}, admin.token), refused))).toBe('FORBIDDEN');
    expect((await other.gql(ME, {}, admin.token)).data.me).toMatchObject({ role: 'USER', timezone: 'Europe/Berlin' });
  });

  it('answers for a user created elsewhere after a key named them before they existed', async () => {
    const { key } = await createApiKey(one.em(), { name: 'early-caller', scopes: ['usage', 'users'] });
    const acting = { 'tollgate-user': 'not-yet-1' };
    for (let i = 0; i < 3; i++) expect(code(await other.gql(MY_LIMITS, {}, key, acting))).toBe('NOT_FOUND');
    const made = await one.gql(
      `mutation($input: UpsertUserInput!) { upsertUser(input: $input) { created } }`,
      {
        input: { externalId: 'not-yet-1', email: 'not-yet-1@example.com' },
      },
      key,
    );
    expect(made.data.upsertUser.created).toBe(true);
    const res = await once(
      () => other.gql(MY_LIMITS, {}, key, acting),
      (r) => !refused(r),
    );
    expect(res.data.myLimits.plan.code).toBe('free');
  });
});
