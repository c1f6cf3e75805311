import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportSPKI, type JWTPayload } from 'jose';
import pg from 'pg';
import { userFromJwt } from '../src/auth/users';
import { localDay } from '../src/billing/limits';
import { ConfigError, loadConfig } from '../src/config';
import { sql } from './support/db';
import { nowSeconds, signingKey, signJwt, startJwksServer, unsignedJwt, type JwksServer, type SigningKey } from './support/jwks';
import { captureLogs } from './support/logs';
import { freePort } from './support/net';
import { startTestServer, type GqlResponse, type TestServer } from './support/server';

const ISSUER = 'https://auth.example.com/';
const AUDIENCE = 'tollgate-api';
const SECRET = 'an-hs256-secret-of-forty-characters-long!';
const ME = `query { me { id externalId email timezone role } }`;
const JWT_ENV = { AUTH_JWT_ISSUER: ISSUER, AUTH_JWT_AUDIENCE: AUDIENCE, AUTH_JWT_CLOCK_TOLERANCE_SECONDS: '30', LOG_LEVEL: 'trace' };

// Every server of this file logs here at trace level; the last test looks for the tokens in it.
const logs = captureLogs();
const issued: string[] = [];

/** A token from the product's sign-in service: iss, aud, iat and exp unless `claims` says otherwise (undefined leaves one out). */
async function token(
  key: { privateKey: SigningKey['privateKey'] | Uint8Array; alg: string; kid?: string },
  claims: JWTPayload,
  header?: { kid?: string },
) {
  const now = nowSeconds();
  const jwt = await signJwt(key, { iss: ISSUER, aud: AUDIENCE, iat: now, exp: now + 300, ...claims }, header);
  issued.push(jwt);
  return jwt;
}

let seq = 0;
/** A product user id nobody has used yet. */
const newSub = (label: string) => `${label}-${++seq}-${randomBytes(3).toString('hex')}`;

/** Asks as the holder of `jwt`, and checks the answer never quotes the token (nor its signature). */
async function ask(server: TestServer, query: string, jwt: string, headers?: Record<string, string>): Promise<GqlResponse> {
  const res = await server.gql(query, undefined, jwt, headers);
  const text = JSON.stringify(res);
  expect(text).not.toContain(jwt);
  const signature = jwt.split('.')[2];
  if (signature) expect(text).not.toContain(signature);
  return res;
}

async function usersWithExternalId(server: TestServer, externalId: string): Promise<number> {
  const [row] = await server.em().getConnection().execute('select count(*)::int as n from app_user where external_id = ?', [externalId]);
  return row.n;
}

async function waitFor(condition: () => Promise<boolean>) {
  const deadline = Date.now() + 5000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('the condition did not hold within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function expectRefused(res: GqlResponse, code: string, message: RegExp) {
  expect(res.data).toBeNull();
  expect(res.errors).toHaveLength(1);
  expect(res.errors?.[0].extensions?.code).toBe(code);
  expect(res.errors?.[0].message).toMatch(message);
}

describe('the product JWTs, verified with a JSON Web Key Set', () => {
  let jwks: JwksServer;
  let server: TestServer;
  let rsa: SigningKey;
  let ec: SigningKey;
  let ed: SigningKey;
  let stranger: SigningKey;

  beforeAll(async () => {
    [rsa, ec, ed, stranger] = await Promise.all([
      signingKey('RS256', 'rsa-1'),
      signingKey('ES256', 'ec-1'),
      signingKey('EdDSA', 'ed-1'),
      signingKey('RS256', 'stranger'),
    ]);
    jwks = await startJwksServer([rsa, ec, ed]);
    server = await startTestServer({ logStream: logs.stream, env: { ...JWT_ENV, AUTH_JWT_JWKS_URL: jwks.url } });
  });
  afterAll(async () => {
    await server.close();
    await jwks.close();
  });

  it.each(['RS256', 'ES256', 'EdDSA'])('a good %s token reads myLimits and me, made from its claims', async (alg) => {
    const key = { RS256: rsa, ES256: ec, EdDSA: ed }[alg]!;
    const sub = newSub(alg);
    const jwt = await token(key, { sub, email: `${sub}@Example.COM`, zoneinfo: 'asia/tokyo' });
    const before = new Date();
    const res = await ask(server, `query { me { externalId email timezone role } myLimits { plan { code } day } }`, jwt);
    expect(res.errors).toBeUndefined();
    expect(res.data.me).toEqual({ externalId: sub, email: `${sub.toLowerCase()}@example.com`, timezone: 'Asia/Tokyo', role: 'USER' });
    expect(res.data.myLimits.plan.code).toBe('free');
    // The day is the user's, in the time zone the zoneinfo claim gave.
    expect([localDay('Asia/Tokyo', before).day, localDay('Asia/Tokyo').day]).toContain(res.data.myLimits.day);
  });

  const refusals: Array<[string, (sub: string) => Promise<string>, RegExp]> = [
    ['expired beyond the clock tolerance', (sub) => token(rsa, { sub, email: `${sub}@example.com`, exp: nowSeconds() - 60 }), /expired/],
    [
      'not valid until beyond the clock tolerance',
      (sub) => token(ec, { sub, email: `${sub}@example.com`, nbf: nowSeconds() + 60 }),
      /not valid yet/,
    ],
    ['from another issuer', (sub) => token(rsa, { sub, email: `${sub}@example.com`, iss: 'https://auth.evil.example/' }), /wrong issuer/],
    ['for another audience', (sub) => token(ed, { sub, email: `${sub}@example.com`, aud: 'another-api' }), /wrong audience/],
    ['signed with a key the set does not publish', (sub) => token(stranger, { sub, email: `${sub}@example.com` }), /unknown key/],
    [
      "signed with another key under a published key's kid",
      (sub) => token(stranger, { sub, email: `${sub}@example.com` }, { kid: rsa.kid }),
      /signature does not verify/,
    ],
    [
      'unsigned (alg: none)',
      async (sub) => {
        const jwt = unsignedJwt({ iss: ISSUER, aud: AUDIENCE, sub, email: `${sub}@example.com`, exp: nowSeconds() + 300 });
        issued.push(jwt);
        return jwt;
      },
      /signing algorithm is not accepted/,
    ],
    [
      'HS256 signed with the published RSA public key (algorithm confusion)',
      async (sub) =>
        token(
          { alg: 'HS256', kid: rsa.kid, privateKey: new TextEncoder().encode(await exportSPKI(rsa.publicKey)) },
          { sub, email: `${sub}@example.com` },
        ),
      /signing algorithm is not accepted/,
    ],
    [
      'HS256 signed with some secret',
      (sub) => token({ alg: 'HS256', privateKey: new TextEncoder().encode(SECRET) }, { sub, email: `${sub}@example.com` }),
      /signing algorithm is not accepted/,
    ],
    ['without sub', (sub) => token(rsa, { sub: undefined, email: `${sub}@example.com` }), /the sub claim is missing/],
    ['without exp', (sub) => token(rsa, { sub, email: `${sub}@example.com`, exp: undefined }), /the exp claim is missing/],
    [
      'whose sub has surrounding spaces',
      (sub) => token(rsa, { sub: ` ${sub}\n`, email: `${sub}@example.com` }),
      /sub claim is not a usable user id/,
    ],
  ];

  it.each(refusals)('refuses a token %s as UNAUTHENTICATED, saying why', async (_case, make, why) => {
    const sub = newSub('refused');
    const res = await ask(server, ME, await make(sub));
    expectRefused(res, 'UNAUTHENTICATED', /^Invalid token: /);
    expect(res.errors?.[0].message).toMatch(why);
    expect(await usersWithExternalId(server, sub)).toBe(0);
  });

  it('accepts a token expired or not yet valid within the clock tolerance', async () => {
    const late = newSub('late');
    const early = newSub('early');
    const expired = await token(rsa, { sub: late, email: `${late}@example.com`, exp: nowSeconds() - 10 });
    const notYet = await token(rsa, { sub: early, email: `${early}@example.com`, nbf: nowSeconds() + 10 });
    expect((await ask(server, ME, expired)).data.me.externalId).toBe(late);
    expect((await ask(server, ME, notYet)).data.me.externalId).toBe(early);
  });

  it('creates exactly one user when 20 first requests with the same new sub arrive at once', async () => {
    // The race between the first inserts is narrow: several rounds give it a fair chance to show.
    for (let round = 0; round < 15; round++) {
      const sub = newSub('burst');
      const jwt = await token(rsa, { sub, email: `${sub}@example.com`, zoneinfo: 'Europe/Paris' });
      const answers = await Promise.all(Array.from({ length: 20 }, () => ask(server, ME, jwt)));
      expect(answers.map((a) => a.errors?.[0])).toEqual(Array(20).fill(undefined));
      expect(new Set(answers.map((a) => a.data.me.id)).size).toBe(1);
      expect(await usersWithExternalId(server, sub)).toBe(1);
    }
  });

  it('takes the user another request created meanwhile, rather than answering CONFLICT for its email', async () => {
    // The burst's race made certain: another connection's insert holds the new user's email while this
    // first sight passes ON CONFLICT's check on external_id; it then takes that external_id and commits.
    const sub = newSub('raced');
    const email = `${sub}@example.com`;
    const other = new pg.Client({ connectionString: server.databaseUrl });
    await other.connect();
    try {
      await other.query('begin');
      await other.query(
        `insert into app_user (id, created_at, updated_at, email, role, timezone, external_id)
         values (gen_random_uuid(), now(), now(), $1, 'user', 'UTC', $2)`,
        [email, `${sub}-pending`],
      );
      const seen = userFromJwt(server.em(), { externalId: sub, email, timezone: 'Europe/Berlin' });
      seen.catch(() => undefined);
      await waitFor(
        async () =>
          (await sql(server.databaseUrl, "select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'"))
            .length > 0,
      );
      await other.query('update app_user set external_id = $1 where external_id = $2', [sub, `${sub}-pending`]);
      await other.query('commit');
      expect(await seen).toMatchObject({ externalId: sub, email, timezone: 'Europe/Berlin' });
      expect(await usersWithExternalId(server, sub)).toBe(1);
    } finally {
      await other.end();
    }
  });

  it("follows later tokens' email and zoneinfo, and keeps them when a token leaves them out", async () => {
    const sub = newSub('moving');
    const me = async (claims: JWTPayload) => {
      const res = await ask(server, ME, await token(ec, { sub, ...claims }));
      expect(res.errors).toBeUndefined();
      return res.data.me;
    };
    const first = await me({ email: `${sub}@old.example.com`, zoneinfo: 'Europe/Berlin' });
    expect(first).toMatchObject({ externalId: sub, email: `${sub}@old.example.com`, timezone: 'Europe/Berlin' });
    expect(await me({ email: `${sub}@new.example.com`, zoneinfo: 'America/New_York' })).toEqual({
      ...first,
      email: `${sub}@new.example.com`,
      timezone: 'America/New_York',
    });
    expect(await me({})).toEqual({ ...first, email: `${sub}@new.example.com`, timezone: 'America/New_York' });
    expect(await me({ zoneinfo: 'Pacific/Auckland' })).toEqual({ ...first, email: `${sub}@new.example.com`, timezone: 'Pacific/Auckland' });
    const [row] = await server.em().getConnection().execute('select email, timezone from app_user where external_id = ?', [sub]);
    expect(row).toEqual({ email: `${sub}@new.example.com`, timezone: 'Pacific/Auckland' });
    expect(await usersWithExternalId(server, sub)).toBe(1);
  });

  it('refuses a first-sight token without an email claim as UNAUTHENTICATED, creating nobody', async () => {
    const sub = newSub('anonymous');
    const res = await ask(server, ME, await token(rsa, { sub, zoneinfo: 'Europe/Berlin' }));
    expectRefused(res, 'UNAUTHENTICATED', /first time needs a valid email claim/);
    expect(await usersWithExternalId(server, sub)).toBe(0);
  });

  it('answers CONFLICT for an email another user already has, on first sight and on a later token', async () => {
    const taken = await server.createUser();
    const sub = newSub('copycat');
    const first = await ask(server, ME, await token(rsa, { sub, email: taken.email.toUpperCase() }));
    expectRefused(first, 'CONFLICT', /already has the email/);
    expect(await usersWithExternalId(server, sub)).toBe(0);

    const created = await ask(server, ME, await token(rsa, { sub, email: `${sub}@example.com` }));
    expect(created.data.me.email).toBe(`${sub}@example.com`);
    expectRefused(await ask(server, ME, await token(rsa, { sub, email: taken.email })), 'CONFLICT', /already has the email/);
    const [row] = await server.em().getConnection().execute('select email from app_user where external_id = ?', [sub]);
    expect(row.email).toBe(`${sub}@example.com`);
  });

  it('refuses a JWT user who sends Tollgate-User as FORBIDDEN', async () => {
    const sub = newSub('impostor');
    const other = newSub('victim');
    await ask(server, ME, await token(rsa, { sub: other, email: `${other}@example.com` }));
    const res = await ask(server, ME, await token(rsa, { sub, email: `${sub}@example.com` }), { 'Tollgate-User': other });
    expectRefused(res, 'FORBIDDEN', /Only a service API key may act for another user/);
  });

  it('answers a failure inside as INTERNAL_SERVER_ERROR and logs it without the token', async () => {
    const sub = newSub('broken');
    const jwt = await token(rsa, { sub, email: `${sub}@example.com` });
    // The user table is gone: finding the token's user fails inside, which is logged with its stack.
    await sql(server.databaseUrl, 'alter table app_user rename to app_user_moved');
    try {
      const failed = await ask(server, ME, jwt);
      expect(failed.errors?.[0]).toMatchObject({ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    } finally {
      await sql(server.databaseUrl, 'alter table app_user_moved rename to app_user');
    }
    expect(logs.lines().find((l) => /unexpected error/.test(l.msg))).toMatchObject({ err: { stack: expect.stringContaining('app_user') } });
  });

  it('still takes Tollgate user tokens beside JWTs', async () => {
    const user = await server.createUser();
    expect((await server.gql(ME, undefined, user.token)).data.me.email).toBe(user.email);
  });
});

describe('the product JWTs with configured claim names', () => {
  let jwks: JwksServer;
  let server: TestServer;
  let key: SigningKey;

  beforeAll(async () => {
    key = await signingKey('ES256', 'custom-claims');
    jwks = await startJwksServer([key]);
    server = await startTestServer({
      seed: false,
      logStream: logs.stream,
      env: {
        ...JWT_ENV,
        AUTH_JWT_JWKS_URL: jwks.url,
        AUTH_JWT_EMAIL_CLAIM: 'https://example.com/email',
        AUTH_JWT_TIMEZONE_CLAIM: 'https://example.com/timezone',
      },
    });
  });
  afterAll(async () => {
    await server.close();
    await jwks.close();
  });

  it('reads email and time zone from the configured claims, not the standard ones', async () => {
    const sub = newSub('custom');
    const jwt = await token(key, {
      sub,
      email: `${sub}@standard.example.com`,
      zoneinfo: 'Europe/Berlin',
      'https://example.com/email': `${sub}@custom.example.com`,
      'https://example.com/timezone': 'America/Chicago',
    });
    expect((await ask(server, ME, jwt)).data.me).toMatchObject({
      externalId: sub,
      email: `${sub}@custom.example.com`,
      timezone: 'America/Chicago',
    });

    const moved = await token(key, { sub, 'https://example.com/email': `${sub}@moved.example.com`, zoneinfo: 'Asia/Tokyo' });
    expect((await ask(server, ME, moved)).data.me).toMatchObject({ email: `${sub}@moved.example.com`, timezone: 'America/Chicago' });
  });

  it('refuses a first-sight token that has only the standard email claim', async () => {
    const sub = newSub('standard');
    const res = await ask(server, ME, await token(key, { sub, email: `${sub}@example.com` }));
    expectRefused(res, 'UNAUTHENTICATED', /email claim/);
    expect(await usersWithExternalId(server, sub)).toBe(0);
  });
});

describe('the product JWTs, verified with an HS256 secret', () => {
  let server: TestServer;
  const hs256 = { alg: 'HS256', privateKey: new TextEncoder().encode(SECRET) };

  beforeAll(async () => {
    server = await startTestServer({ seed: false, logStream: logs.stream, env: { ...JWT_ENV, AUTH_JWT_SECRET: SECRET } });
  });
  afterAll(() => server.close());

  it('accepts a good HS256 token', async () => {
    const sub = newSub('hs');
    const res = await ask(server, ME, await token(hs256, { sub, email: `${sub}@example.com`, zoneinfo: 'Europe/Lisbon' }));
    expect(res.data.me).toMatchObject({ externalId: sub, email: `${sub}@example.com`, timezone: 'Europe/Lisbon' });
  });

  it('refuses RS256, another secret and alg none as UNAUTHENTICATED', async () => {
    const rsa = await signingKey('RS256', 'rsa-for-hs');
    const sub = newSub('hs-refused');
    const claims = { sub, email: `${sub}@example.com` };
    const unsigned = unsignedJwt({ iss: ISSUER, aud: AUDIENCE, exp: nowSeconds() + 300, ...claims });
    issued.push(unsigned);
    const cases: Array<[string, RegExp]> = [
      [await token(rsa, claims), /signing algorithm is not accepted/],
      [
        await token({ alg: 'HS256', privateKey: new TextEncoder().encode(`${SECRET}, but another one`) }, claims),
        /signature does not verify/,
      ],
      [unsigned, /signing algorithm is not accepted/],
    ];
    for (const [jwt, why] of cases) expectRefused(await ask(server, ME, jwt), 'UNAUTHENTICATED', why);
    expect(await usersWithExternalId(server, sub)).toBe(0);
  });
});

describe('key rotation', () => {
  let jwks: JwksServer;
  let server: TestServer;
  let a: SigningKey;
  let b: SigningKey;
  // jose waits 30 s after a fetch before it looks again for an unseen kid, and keeps a key set 10
  // minutes: its clock (Date.now) is moved instead of waiting. Token times use the real clock.
  let offset = 0;
  const realNow = Date.now;
  const elapse = (ms: number) => (offset += ms);

  beforeAll(async () => {
    jest.spyOn(Date, 'now').mockImplementation(() => realNow() + offset);
    [a, b] = await Promise.all([signingKey('RS256', 'key-a'), signingKey('ES256', 'key-b')]);
    jwks = await startJwksServer([a]);
    server = await startTestServer({ seed: false, logStream: logs.stream, env: { ...JWT_ENV, AUTH_JWT_JWKS_URL: jwks.url } });
  });
  afterAll(async () => {
    jest.restoreAllMocks();
    await server.close();
    await jwks.close();
  });

  const meAs = async (key: SigningKey, sub: string) => ask(server, ME, await token(key, { sub, email: `${sub}@example.com` }));

  it('fetches the key set once and then serves tokens from it', async () => {
    const sub = newSub('a');
    expect(jwks.requests).toBe(0);
    expect((await meAs(a, sub)).data.me.externalId).toBe(sub);
    expect((await meAs(a, sub)).data.me.externalId).toBe(sub);
    expect(jwks.requests).toBe(1);
  });

  it('looks again for a kid it has not seen, and refuses it while the set does not publish it', async () => {
    elapse(31_000);
    const sub = newSub('b-early');
    expectRefused(await meAs(b, sub), 'UNAUTHENTICATED', /unknown key/);
    expect(jwks.requests).toBe(2);
    // Within the cooldown, a flood of unseen kids does not reach the key set.
    const flood = await Promise.all(Array.from({ length: 10 }, () => meAs(b, sub)));
    for (const res of flood) expectRefused(res, 'UNAUTHENTICATED', /unknown key/);
    expect(jwks.requests).toBe(2);
    expect(await usersWithExternalId(server, sub)).toBe(0);
  });

  it('accepts a newly published key, fetching the set again exactly when its kid is first seen', async () => {
    jwks.publish([a, b]);
    elapse(31_000);
    const sub = newSub('b');
    const first = await Promise.all(Array.from({ length: 5 }, () => meAs(b, sub)));
    for (const res of first) expect(res.data.me.externalId).toBe(sub);
    expect(jwks.requests).toBe(3);
    expect((await meAs(b, sub)).data.me.externalId).toBe(sub);
    expect((await meAs(a, newSub('a'))).errors).toBeUndefined();
    expect(jwks.requests).toBe(3);
  });

  it('stops accepting a retired key once the cached set has expired', async () => {
    jwks.publish([b]);
    const sub = newSub('a-retired');
    expect((await meAs(a, sub)).errors).toBeUndefined();
    elapse(10 * 60_000);
    expectRefused(await meAs(a, sub), 'UNAUTHENTICATED', /unknown key/);
    expect(jwks.requests).toBe(4);
    expect((await meAs(b, newSub('b'))).errors).toBeUndefined();
  });
});

describe('a key set that cannot be fetched', () => {
  let jwks: JwksServer;
  let key: SigningKey;
  let server: TestServer;
  let closedPortServer: TestServer;
  let closedPort: number;

  beforeAll(async () => {
    key = await signingKey('EdDSA', 'outage');
    jwks = await startJwksServer([key]);
    closedPort = await freePort();
    [server, closedPortServer] = await Promise.all([
      startTestServer({ seed: false, logStream: logs.stream, env: { ...JWT_ENV, AUTH_JWT_JWKS_URL: jwks.url } }),
      startTestServer({
        seed: false,
        logStream: logs.stream,
        env: { ...JWT_ENV, AUTH_JWT_JWKS_URL: `http://127.0.0.1:${closedPort}/.well-known/jwks.json` },
      }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([server.close(), closedPortServer.close()]);
    await jwks.close();
  });

  const good = async () => {
    const sub = newSub('outage');
    return { sub, jwt: await token(key, { sub, email: `${sub}@example.com` }) };
  };

  it('is SERVICE_UNAVAILABLE, never UNAUTHENTICATED, when nothing listens on its port', async () => {
    const { sub, jwt } = await good();
    const res = await ask(closedPortServer, ME, jwt);
    expectRefused(res, 'SERVICE_UNAVAILABLE', new RegExp(`could not be fetched from 127\\.0\\.0\\.1:${closedPort}.*try again later`));
    expect(res.errors?.[0].extensions?.reason).toBe('jwks_unavailable');
    expect(await usersWithExternalId(closedPortServer, sub)).toBe(0);
  });

  it('is SERVICE_UNAVAILABLE when the key set answers 500 or something that is not a key set, and recovers', async () => {
    const { sub, jwt } = await good();
    for (const [status, body] of [
      [500, '{"error":"down"}'],
      [200, '<html>maintenance</html>'],
      [200, '{"no":"keys"}'],
    ] as const) {
      jwks.failWith(status, body);
      expectRefused(await ask(server, ME, jwt), 'SERVICE_UNAVAILABLE', /could not be fetched/);
    }
    expect(jwks.requests).toBe(3);
    jwks.failWith(undefined);
    expect((await ask(server, ME, jwt)).data.me.externalId).toBe(sub);
  });

  it('keeps accepting tokens of known keys from its cache while the key set is down', async () => {
    jwks.failWith(503);
    const { sub, jwt } = await good();
    expect((await ask(server, ME, jwt)).data.me.externalId).toBe(sub);
  });
});

describe('JWT configuration', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'tollgate-jwt-config-'));
  const jwksUrl = 'https://auth.example.com/.well-known/jwks.json';
  const refuses = (env: Record<string, string>, message: RegExp) => {
    expect(() => loadConfig(env, cwd)).toThrow(ConfigError);
    expect(() => loadConfig(env, cwd)).toThrow(message);
  };

  it('takes a JWKS URL or a secret with an issuer and an audience, with default claim names and tolerance', () => {
    expect(loadConfig({}, cwd).jwt).toBeUndefined();
    expect(loadConfig({ AUTH_JWT_JWKS_URL: jwksUrl, AUTH_JWT_ISSUER: ISSUER, AUTH_JWT_AUDIENCE: AUDIENCE }, cwd).jwt).toEqual({
      jwksUrl,
      secret: undefined,
      issuer: ISSUER,
      audience: AUDIENCE,
      emailClaim: 'email',
      timezoneClaim: 'zoneinfo',
      clockToleranceSeconds: 30,
    });
    expect(loadConfig({ AUTH_JWT_SECRET: SECRET, AUTH_JWT_ISSUER: ISSUER, AUTH_JWT_AUDIENCE: AUDIENCE }, cwd).jwt).toMatchObject({
      jwksUrl: undefined,
      secret: SECRET,
    });
  });

  it('refuses both a JWKS URL and a secret', () => {
    refuses({ AUTH_JWT_JWKS_URL: jwksUrl, AUTH_JWT_SECRET: SECRET, AUTH_JWT_ISSUER: ISSUER, AUTH_JWT_AUDIENCE: AUDIENCE }, /not both/);
  });

  it.each([
    ['AUTH_JWT_JWKS_URL', 'AUTH_JWT_ISSUER', jwksUrl],
    ['AUTH_JWT_JWKS_URL', 'AUTH_JWT_AUDIENCE', jwksUrl],
    ['AUTH_JWT_SECRET', 'AUTH_JWT_ISSUER', SECRET],
    ['AUTH_JWT_SECRET', 'AUTH_JWT_AUDIENCE', SECRET],
  ])('refuses %s without %s', (name, missing, value) => {
    const env: Record<string, string> = { [name]: value, AUTH_JWT_ISSUER: ISSUER, AUTH_JWT_AUDIENCE: AUDIENCE };
    delete env[missing];
    refuses(env, new RegExp(`${missing}: required`));
  });

  it('refuses a secret shorter than 32 characters without quoting it', () => {
    const env = { AUTH_JWT_SECRET: 'short-secret-1234567890', AUTH_JWT_ISSUER: ISSUER, AUTH_JWT_AUDIENCE: AUDIENCE };
    refuses(env, /AUTH_JWT_SECRET: expected an HS256 secret of at least 32 characters/);
    try {
      loadConfig(env, cwd);
    } catch (err) {
      expect((err as Error).message).not.toContain('short-secret');
    }
  });

  it('refuses a JWKS URL that is not http(s) and a tolerance beyond 300 s', () => {
    refuses(
      { AUTH_JWT_JWKS_URL: 'file:///etc/jwks.json', AUTH_JWT_ISSUER: ISSUER, AUTH_JWT_AUDIENCE: AUDIENCE },
      /AUTH_JWT_JWKS_URL: expected the http\(s\) URL/,
    );
    refuses({ AUTH_JWT_CLOCK_TOLERANCE_SECONDS: '301' }, /AUTH_JWT_CLOCK_TOLERANCE_SECONDS: expected 0 to 300 seconds/);
  });
});

describe('the log', () => {
  it('never holds a token, even at trace level', () => {
    expect(issued.length).toBeGreaterThan(50);
    expect(logs.lines().length).toBeGreaterThan(0);
    const text = logs.text();
    for (const jwt of issued) {
      expect(text).not.toContain(jwt);
      const signature = jwt.split('.')[2];
      if (signature) expect(text).not.toContain(signature);
    }
  });
});
