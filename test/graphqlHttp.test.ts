import { startTestServer, type TestServer } from './support/server';

/** The GraphQL endpoint over HTTP: what clients other than well-behaved ones send. */
describe('GraphQL over HTTP', () => {
  let server: TestServer;
  let token: string;

  beforeAll(async () => {
    server = await startTestServer();
    token = (await server.createUser()).token;
  });
  afterAll(() => server.close());

  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${server.url}/graphql`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });

  it('answers a POST with a JSON body, a charset and a trailing slash alike', async () => {
    const body = JSON.stringify({ query: '{ me { email } }' });
    for (const [path, type] of [
      ['/graphql', 'application/json'],
      ['/graphql/', 'application/json; charset=utf-8'],
    ]) {
      const res = await fetch(`${server.url}${path}`, {
        method: 'POST',
        body,
        headers: { 'content-type': type, authorization: `Bearer ${token}` },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(((await res.json()) as any).data.me.email).toMatch(/@example\.com$/);
    }
  });

  it('answers a GET with the query in the URL (with a header that rules out a cross-site request)', async () => {
    const query = encodeURIComponent('{ plans { code } }');
    const res = await fetch(`${server.url}/graphql?query=${query}`, { headers: { 'apollo-require-preflight': 'true' } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).data.plans.map((p: { code: string }) => p.code)).toEqual(['free', 'day_pass', 'premium']);
  });

  it('refuses a GET that a browser could send from another site', async () => {
    const res = await fetch(`${server.url}/graphql?query=${encodeURIComponent('{ plans { code } }')}`);
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/CSRF/);
  });

  it('refuses a body that is not JSON with 400 and a code, without a stack', async () => {
    const res = await post('{"query": "{ plans { code } }"');
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body).toEqual({ errors: [{ message: 'The request body is not valid JSON', extensions: { code: 'BAD_REQUEST' } }] });
  });

  it('refuses a JSON body that is not a GraphQL request', async () => {
    for (const body of ['[]', '"just a string"', '{}', '{"query": 42}']) {
      const res = await post(body);
      expect(res.status).toBe(400);
    }
  });

  it('refuses a body of another content type', async () => {
    const res = await post(JSON.stringify({ query: '{ plans { code } }' }), { 'content-type': 'text/plain' });
    expect(res.status).toBe(400);
  });

  it('refuses a body over 1 MB with 413 and a code', async () => {
    const huge = JSON.stringify({ query: '{ plans { code } }', variables: { pad: 'x'.repeat(1_100_000) } });
    const res = await post(huge);
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({
      errors: [{ message: 'The request body is larger than 1mb', extensions: { code: 'PAYLOAD_TOO_LARGE' } }],
    });
    // The connection is still usable for the next request.
    const next = await post(JSON.stringify({ query: '{ plans { code } }' }));
    expect(next.status).toBe(200);
  });

  it('leaves every other path to the REST routes', async () => {
    for (const path of ['/graphqlx', '/graphql/more', '/nope']) {
      const res = await fetch(`${server.url}${path}`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'No such route' } });
    }
  });
});
