import { startTestServer, type TestServer } from './support/server';

const ME = `query { me { id email timezone role } }`;

describe('authentication', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ seed: false });
  });
  afterAll(() => server.close());

  it('rejects me without a token as UNAUTHENTICATED', async () => {
    const res = await server.gql(ME);
    expect(res.data).toBeNull();
    expect(res.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('rejects a wrong token and a malformed header as UNAUTHENTICATED', async () => {
    const bad = await server.gql(ME, undefined, 'tg_not-a-real-token');
    expect(bad.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
    expect(bad.errors?.[0].message).toMatch(/invalid/i);
    const malformed = await server.gql(ME, undefined, undefined, { authorization: 'Basic abc:def' });
    expect(malformed.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
    expect(JSON.stringify(bad)).not.toContain('tg_not-a-real-token');
  });

  it('accepts "Bearer <token>" and "Token <token>"', async () => {
    const user = await server.createUser({ timezone: 'Europe/Berlin', admin: true });
    const bearer = await server.gql(ME, undefined, user.token);
    expect(bearer.data.me).toEqual({ id: user.id, email: user.email, timezone: 'Europe/Berlin', role: 'ADMIN' });
    const legacy = await server.gql(ME, undefined, undefined, { authorization: `Token ${user.token}` });
    expect(legacy.data.me.id).toBe(user.id);
  });

  it('stores only a hash of the token', async () => {
    const user = await server.createUser();
    const rows = await server.em().getConnection().execute('select token_hash from app_user where id = ?', [user.id]);
    expect(rows[0].token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(rows[0].token_hash).not.toContain(user.token);
  });
});
