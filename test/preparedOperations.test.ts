import { createApiKey } from '../src/auth/apiKeys';
import { loadConfig } from '../src/config';
import { createFormatError } from '../src/graphql/errors';
import { operationLimitRules } from '../src/graphql/operationLimits';
import { preparedOperations, type OperationRunner } from '../src/graphql/preparedOperations';
import { getSchema } from '../src/graphql/schema';
import type { Context } from '../src/graphql/context';
import { createLogger } from '../src/logger';
import { graphqlRequests } from '../src/metrics';
import { MY_LIMITS } from './support/billing';
import { serverUrl, sql } from './support/db';
import { captureLogs } from './support/logs';
import { startTestServer, type TestServer } from './support/server';

const RECORD = `mutation($input: RecordUsageInput!) { recordUsage(input: $input) { metric limit used remaining } }`;
/** Fragment G spreads F ten times; F's fields follow. */
const TEN_BY_TEN = `fragment G on User { ${'...F '.repeat(10)}} fragment F on User { `;
const TWO_OPERATIONS = 'query Plans { plans { code } } query Me { me { email } }';

let runner: OperationRunner<Context>;
beforeAll(async () => {
  const { graphql } = loadConfig({});
  runner = preparedOperations({
    schema: await getSchema(),
    validationRules: operationLimitRules(graphql),
    maxTokens: graphql.maxTokens,
    formatError: createFormatError(createLogger('silent')),
  });
});
/** Whether a request runs here once its document is prepared (the second time it comes). */
const runsHere = (body: unknown, accept?: string) => {
  runner.prepare(body, accept);
  return runner.prepare(body, accept) !== undefined;
};

describe('prepared operations: what runs without Apollo', () => {
  it('takes an ordinary query or mutation, with variables, an operation name and the JSON types a client accepts', () => {
    expect(runsHere({ query: '{ plans { code } }' })).toBe(true);
    expect(runsHere({ query: '{ plans { code } }', variables: null, operationName: null, extensions: null })).toBe(true);
    expect(runsHere({ query: TWO_OPERATIONS, operationName: 'Me' })).toBe(true);
    expect(runsHere({ query: RECORD, variables: { input: { metric: 'minutes', amount: 1 } } })).toBe(true);
    for (const accept of [
      'application/json',
      '*/*',
      'application/graphql-response+json',
      'application/graphql-response+json,application/json;q=0.9',
    ]) {
      expect([accept, runsHere({ query: '{ plans { code } }' }, accept)]).toEqual([accept, true]);
    }
    const answer = runner.prepare({ query: '{ plans { code } }' }, 'application/graphql-response+json');
    expect(answer?.compiled).toBeDefined();
    expect(answer?.contentType).toBe('application/graphql-response+json; charset=utf-8');
  });

  it('leaves to Apollo, before anything runs, every request Apollo refuses or treats specially', () => {
    const deep = `{ ${'myLimits { plan { limits { '.repeat(8)} metric ${' } } }'.repeat(8)} }`;
    const cases: Array<[string, unknown, string?]> = [
      ['no body', undefined],
      ['a list (batching)', [{ query: '{ plans { code } }' }]],
      ['a query that is not a string', { query: 42 }],
      ['no query (a persisted query)', { extensions: { persistedQuery: { version: 1, sha256Hash: 'a'.repeat(64) } } }],
      ['extensions of any kind', { query: '{ plans { code } }', extensions: {} }],
      ['a syntax error', { query: '{ plans { code }' }],
      ['an unknown field', { query: '{ plans { nonsense } }' }],
      ['a query past the depth limit', { query: deep }],
      ['an operation name that is not there', { query: TWO_OPERATIONS, operationName: 'Other' }],
      ['two operations and no name', { query: TWO_OPERATIONS }],
      ['an operation name that is not a string', { query: '{ plans { code } }', operationName: 7 }],
      ['a subscription', { query: 'subscription { limitsChanged { plan { code } } }' }],
      ['variables as a string', { query: RECORD, variables: '{"input":{}}' }],
      ['a missing variable', { query: RECORD }],
      ['a variable of the wrong type', { query: RECORD, variables: { input: { metric: 'minutes', amount: 'five' } } }],
      ['a document over 16 KiB', { query: `{ plans { code } }${' '.repeat(16 * 1024)}` }],
      ['an Accept header for HTML', { query: '{ plans { code } }' }, 'text/html'],
      ['an Accept header for JSONP', { query: '{ plans { code } }' }, 'application/json; callbackSpec=1.0'],
      ['introspection', { query: '{ __schema { queryType { name } } }' }],
      ['a type asked for by name', { query: '{ plans { code } __type(name: "Plan") { name } }' }],
      ['over 1,000 fields', { query: `{ me { ${'...G '.repeat(10)}} } ${TEN_BY_TEN}${'id '.repeat(10)}}` }],
    ];
    for (const [what, body, accept] of cases) expect([what, runsHere(body, accept)]).toEqual([what, false]);
  });

  it('prepares a document the second time it comes, once, and remembers a bounded number of them', () => {
    const query = '{ plans { code name } }';
    expect(runner.prepare({ query }, undefined)).toBeUndefined();
    const first = runner.prepare({ query }, undefined);
    expect(first?.compiled).toBeDefined();
    expect(runner.prepare({ query }, undefined)?.compiled).toBe(first?.compiled);
    // 200 documents at most (and 10,000 fields between them): the oldest is forgotten, and seen afresh.
    for (let i = 0; i < 200; i++) expect(runsHere({ query: `{ plans { code } a${i}: plans { name } }` })).toBe(true);
    expect(runner.prepare({ query }, undefined)).toBeUndefined();
    expect(runner.prepare({ query }, undefined)?.compiled).not.toBe(first?.compiled);
  });

  it('remembers at most 10,000 fields of compiled documents', () => {
    // 901 fields each, as compiled: fragments count where they are spread.
    const big = (i: number) => `{ me { ${'...G '.repeat(10)}} a${i}: me { id } } ${TEN_BY_TEN}${'id '.repeat(9)}}`;
    for (let i = 0; i < 12; i++) expect(runsHere({ query: big(i) })).toBe(true);
    // Eleven fit in the budget: the first has been forgotten, the last is still there.
    expect(runner.prepare({ query: big(0) }, undefined)).toBeUndefined();
    expect(runner.prepare({ query: big(11) }, undefined)).toBeDefined();
  });
});

describe('prepared operations answer as Apollo does', () => {
  let server: TestServer;
  let user: string;
  beforeAll(async () => {
    server = await startTestServer();
    user = (await server.createUser()).token;
  });
  afterAll(() => server.close());

  /** Status, the headers a client reads, and the body byte for byte. */
  async function answer(body: Record<string, unknown>, headers: Record<string, string>) {
    const res = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', ...headers },
    });
    return {
      status: res.status,
      type: res.headers.get('content-type'),
      retryAfter: res.headers.get('retry-after'),
      body: await res.text(),
    };
  }

  // Each is sent as it is (it runs here) and with `extensions: {}` (which sends it through Apollo).
  const cases: Array<[string, Record<string, unknown>, Record<string, string>]> = [
    ['the catalog, anonymously', { query: '{ plans { code name limits { metric period limit } } }' }, {}],
    ["a user's limits", { query: MY_LIMITS }, { authorization: `Bearer USER` }],
    ['a field that needs a caller, without one', { query: '{ me { email } }' }, {}],
    ['a revoked or unknown token', { query: '{ me { email } }' }, { authorization: 'Bearer tg_nonsense' }],
    ['a malformed Authorization header', { query: '{ me { email } }' }, { authorization: 'Basic abc' }],
    ['an admin field asked for by a user', { query: '{ users { edges { node { email } } } }' }, { authorization: `Bearer USER` }],
    [
      'usage refused over the limit (nothing written)',
      { query: RECORD, variables: { input: { metric: 'minutes', amount: 100000 } } },
      { authorization: `Bearer USER` },
    ],
    [
      'usage refused for bad input',
      { query: RECORD, variables: { input: { metric: 'minutes', amount: -1 } } },
      { authorization: `Bearer USER` },
    ],
    ['one operation of two, by name', { query: TWO_OPERATIONS, operationName: 'Me' }, { authorization: `Bearer USER` }],
    [
      'fragments, aliases and __typename',
      { query: '{ __typename free: plans { ...P } } fragment P on Plan { __typename code limits { metric } }' },
      {},
    ],
    [
      '@include and @skip from variables',
      { query: 'query($with: Boolean!) { plans { code name @include(if: $with) rank @skip(if: $with) } }', variables: { with: false } },
      {},
    ],
    ['the GraphQL response media type', { query: '{ me { email } }' }, { accept: 'application/graphql-response+json' }],
  ];

  it.each(cases)('%s', async (_what, body, headers) => {
    expect(runsHere(body, headers.accept)).toBe(true);
    const withToken = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, v.replace('USER', user)]));
    await answer(body, withToken); // the server prepares a document the second time it comes
    const here = await answer(body, withToken);
    const apollo = await answer({ ...body, extensions: {} }, withToken);
    expect(here).toEqual(apollo);
    expect(here.body).not.toBe('');
  });
});

/** What Apollo's plugins do for an executed operation, the prepared path does too: each is asked twice (Apollo, then prepared). */
describe('prepared operations do what Apollo plugins do', () => {
  let server: TestServer;
  const logs = captureLogs();
  beforeAll(async () => {
    server = await startTestServer({ seed: true, logStream: logs.stream, env: { LOG_LEVEL: 'info' } });
  });
  afterAll(() => server.close());

  const post = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    fetch(`${server.url}/graphql`, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', ...headers },
    });

  it('logs what a service key changes, with its name and the user it acts for', async () => {
    const { key } = await createApiKey(server.em(), { name: 'prepared-audit', scopes: ['users'] });
    const upsert = {
      query: 'mutation($input: UpsertUserInput!) { upsertUser(input: $input) { created } }',
      variables: { input: { externalId: 'prepared-1', email: 'prepared-1@example.com' } },
    };
    expect(runsHere(upsert)).toBe(true);
    for (let i = 0; i < 2; i++)
      expect((await post(upsert, { authorization: `Bearer ${key}`, 'tollgate-user': 'prepared-1' })).status).toBe(200);
    const audits = logs.lines().filter((l) => l.msg === 'service key mutation');
    expect(audits).toHaveLength(2);
    for (const audit of audits) expect(audit).toMatchObject({ apiKey: 'prepared-audit', actingFor: 'prepared-1', fields: ['upsertUser'] });
  });

  it('counts each request in the metrics, by root field and outcome', async () => {
    const count = async (outcome: string) =>
      (await graphqlRequests.get()).values.find((v) => v.labels.operation === 'me' && v.labels.outcome === outcome)?.value ?? 0;
    const [ok, refused] = [await count('ok'), await count('UNAUTHENTICATED')];
    const { token } = await server.createUser();
    for (let i = 0; i < 2; i++) await post({ query: '{ me { email } }' }, { authorization: `Bearer ${token}` });
    for (let i = 0; i < 2; i++) await post({ query: '{ me { email } }' });
    expect([await count('ok'), await count('UNAUTHENTICATED')]).toEqual([ok + 2, refused + 2]);
  });

  it('answers 503 with Retry-After when the database cannot be reached, as Apollo does', async () => {
    const query = { query: '{ plans { code } }' };
    for (let i = 0; i < 2; i++) expect((await post(query)).status).toBe(200);
    const name = new URL(server.databaseUrl).pathname.slice(1);
    await sql(serverUrl(), `alter database "${name}" with allow_connections false`);
    try {
      await sql(serverUrl(), `select pg_terminate_backend(pid) from pg_stat_activity where datname = $1`, [name]);
      const answers = [];
      for (const body of [query, { ...query, extensions: {} }]) {
        const res = await post(body);
        answers.push({ status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() });
      }
      expect(answers[0]).toEqual({
        status: 503,
        retryAfter: '5',
        body: { errors: [expect.objectContaining({ extensions: { code: 'SERVICE_UNAVAILABLE' } })], data: null },
      });
      expect(answers[1]).toEqual(answers[0]);
    } finally {
      await sql(serverUrl(), `alter database "${name}" with allow_connections true`);
    }
  });
});
