import { getIntrospectionQuery } from 'graphql';
import { startTestServer, type GqlResponse, type TestServer } from './support/server';

/** The README's myPayments query (Payments), on the largest page. */
const README_MY_PAYMENTS = `query {
  myPayments(first: 100) {
    edges { cursor node { id status amount { amount amountMinor currency } failureCode failureMessage logs { event message createdAt } } }
    pageInfo { hasNextPage endCursor }
  }
}`;

const aliases = (n: number, field: string) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: ${field}`).join(' ')} }`;

/** Aliases, root fields, directives, tokens and introspection are bounded before anything runs (README, Errors). */
describe('query limits', () => {
  let server: TestServer;
  let user: { token: string };
  const statements: string[] = [];
  const limitReads = () => statements.filter((q) => q.includes('usage_counter')).length;
  beforeAll(async () => {
    server = await startTestServer({ onQuery: (q) => statements.push(q) });
    user = await server.createUser();
  });
  afterAll(() => server.close());

  const refusal = (res: GqlResponse) => ({ code: res.errors?.[0].extensions?.code, message: res.errors?.[0].message });

  it('refuses 1,000 aliases of myLimits without running one statement for them', async () => {
    const before = limitReads();
    const res = await server.gql(aliases(1000, 'myLimits { day }'), undefined, user.token);
    expect(res.data).toBeUndefined();
    expect(['GRAPHQL_PARSE_FAILED', 'GRAPHQL_VALIDATION_FAILED']).toContain(refusal(res).code);
    expect(limitReads()).toBe(before);
  });

  it('refuses more aliases than GRAPHQL_MAX_ALIASES, and accepts that many', async () => {
    expect(refusal(await server.gql(aliases(16, 'myLimits { day }'), undefined, user.token))).toEqual({
      code: 'GRAPHQL_VALIDATION_FAILED',
      message: 'Aliases limit of 15 exceeded, found 16.',
    });
    const ok = await server.gql(
      `{ ${Array.from({ length: 5 }, (_, i) => `a${i}: me { email } b${i}: plans { code }`).join(' ')} }`,
      undefined,
      user.token,
    );
    expect(ok.errors).toBeUndefined();
  });

  it('refuses more root fields than GRAPHQL_MAX_ROOT_FIELDS, fragments included', async () => {
    const res = await server.gql(
      `query { ...F } fragment F on Query { ${aliases(11, 'plans { code }').slice(1, -1)} }`,
      undefined,
      user.token,
    );
    expect(refusal(res)).toEqual({ code: 'GRAPHQL_VALIDATION_FAILED', message: 'Root fields limit of 10 exceeded, found 11.' });
  });

  it('counts introspection: __schema once per operation, its aliases count; the full introspection query passes', async () => {
    const twice = await server.gql('{ a: __schema { queryType { name } } b: __schema { queryType { name } } }');
    expect(refusal(twice)).toEqual({
      code: 'GRAPHQL_VALIDATION_FAILED',
      message: '__schema may be asked for once per operation, found 2.',
    });

    const many = await server.gql(aliases(800, '__schema { types { name } }'));
    expect(many.data).toBeUndefined();
    expect(['GRAPHQL_PARSE_FAILED', 'GRAPHQL_VALIDATION_FAILED']).toContain(refusal(many).code);

    const full = getIntrospectionQuery({
      descriptions: true,
      specifiedByUrl: true,
      directiveIsRepeatable: true,
      schemaDescription: true,
      inputValueDeprecation: true,
    });
    const res = await server.gql(full);
    expect(res.errors).toBeUndefined();
    expect(res.data.__schema.queryType.name).toBe('Query');
  });

  it('refuses more directives than GRAPHQL_MAX_DIRECTIVES', async () => {
    const res = await server.gql(
      `{ me { ${Array.from({ length: 21 }, () => 'email @include(if: true)').join(' ')} } }`,
      undefined,
      user.token,
    );
    expect(refusal(res)).toEqual({ code: 'GRAPHQL_VALIDATION_FAILED', message: 'Directives limit of 20 exceeded, found 21.' });
  });

  it('refuses a document of more than GRAPHQL_MAX_TOKENS tokens while parsing it', async () => {
    const res = await server.gql(`{ me { ${'email '.repeat(2000)} } }`, undefined, user.token);
    expect(refusal(res).code).toBe('GRAPHQL_PARSE_FAILED');
    expect(refusal(res).message).toMatch(/2000 tokens/);
  });

  it("keeps the README's myPayments(first: 100) query within every limit", async () => {
    const res = await server.gql(README_MY_PAYMENTS, undefined, user.token);
    expect(res.errors).toBeUndefined();
    expect(res.data.myPayments).toEqual({ edges: [], pageInfo: { hasNextPage: false, endCursor: null } });

    // Two such pages in one request are over GRAPHQL_MAX_COST: `first` multiplies what a list costs.
    const page = README_MY_PAYMENTS.slice(README_MY_PAYMENTS.indexOf('{') + 1, README_MY_PAYMENTS.lastIndexOf('}'));
    const twice = `{ a: ${page} b: ${page} }`;
    expect(refusal(await server.gql(twice, undefined, user.token)).message).toMatch(/^Query Cost limit of 10000 exceeded/);
  });
});
