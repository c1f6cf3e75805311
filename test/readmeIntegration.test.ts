import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { createApiKey } from '../src/auth/apiKeys';
import { describeInBrowser, launchChromium } from './support/browser';
import { ROOT } from './support/cli';
import { nowSeconds, signingKey, signJwt, startJwksServer, type JwksServer, type SigningKey } from './support/jwks';
import { startTestServer, type TestServer } from './support/server';

/** The ```js blocks of the README's "Integrating Tollgate into your product" section, in order. */
function integrationExamples(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.split('\n## Integrating Tollgate into your product\n')[1].split('\n## ')[0];
  return [...section.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
}

function runNode(file: string, env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [file], { env: { PATH: process.env.PATH, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? 1 : 0, stdout, stderr });
    });
  });
}

const ISSUER = 'https://auth.example.com/';
const AUDIENCE = 'tollgate-api';

describeInBrowser('the README integration example')('the README integration example', () => {
  let jwks: JwksServer;
  let key: SigningKey;
  let server: TestServer;
  let page: http.Server;
  let pageOrigin: string;
  let browser: Browser;
  let dir: string;
  let frontendScript = '';

  beforeAll(async () => {
    key = await signingKey('RS256', 'product-1');
    jwks = await startJwksServer([key]);
    // The product's frontend is served from an origin of its own: Tollgate must allow it (CORS).
    page = http.createServer((_req, res) => {
      res
        .writeHead(200, { 'content-type': 'text/html' })
        .end(`<!doctype html><title>product</title><script type="module">${frontendScript}</script>`);
    });
    await new Promise<void>((resolve) => page.listen(0, 'localhost', () => resolve()));
    pageOrigin = `http://localhost:${(page.address() as AddressInfo).port}`;
    server = await startTestServer({
      env: { AUTH_JWT_JWKS_URL: jwks.url, AUTH_JWT_ISSUER: ISSUER, AUTH_JWT_AUDIENCE: AUDIENCE, CORS_ORIGINS: pageOrigin },
    });
    browser = await launchChromium();
    dir = mkdtempSync(join(tmpdir(), 'tollgate-readme-'));
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await jwks?.close();
    await new Promise((resolve) => page?.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('has a backend and a frontend example', () => {
    expect(integrationExamples()).toHaveLength(2);
  });

  it('the backend example, run as written with a service key, provisions the user and records their usage', async () => {
    const [backend] = integrationExamples();
    const { key: serviceKey } = await createApiKey(server.em(), { name: 'backend', scopes: ['usage', 'billing', 'users'] });
    const file = join(dir, 'backend.mjs');
    writeFileSync(file, backend);
    const run = await runNode(file, { TOLLGATE_URL: `${server.url}/graphql`, TOLLGATE_KEY: serviceKey });
    expect(run).toEqual({ code: 0, stdout: "{ metric: 'minutes', used: 12, remaining: 168 }\n", stderr: '' });
    // Run again: the user is kept, the same idempotency key counts once.
    expect((await runNode(file, { TOLLGATE_URL: `${server.url}/graphql`, TOLLGATE_KEY: serviceKey })).stdout).toBe(run.stdout);
    const [row] = await server.em().getConnection().execute(`select email, timezone from app_user where external_id = 'user_42'`);
    expect(row).toEqual({ email: 'ada@example.com', timezone: 'Europe/London' });
  });

  it('the frontend example, run in a browser on another origin with only the JWT, reads that user’s limits', async () => {
    const [, frontend] = integrationExamples();
    const now = nowSeconds();
    const jwt = await signJwt(key, { iss: ISSUER, aud: AUDIENCE, sub: 'user_42', email: 'ada@example.com', iat: now, exp: now + 300 });
    frontendScript = `const session = { accessToken: ${JSON.stringify(jwt)} }; const TOLLGATE_URL = ${JSON.stringify(`${server.url}/graphql`)};\n${frontend}`;
    const context = await browser.newContext();
    // Only this machine: the page must work with no network beyond Tollgate and itself.
    await context.route(/.*/, (route) => {
      const host = new URL(route.request().url()).hostname;
      return host === '127.0.0.1' || host === 'localhost' ? route.continue() : route.abort();
    });
    const tab = await context.newPage();
    const logged = new Promise<unknown>((resolve, reject) => {
      tab.on('console', (msg) => void Promise.all(msg.args().map((a) => a.jsonValue())).then((values) => resolve(values[0])));
      tab.on('pageerror', reject);
    });
    await tab.goto(pageOrigin);
    const metrics = (await logged) as Array<{ metric: string; used: number; remaining: number | null }>;
    expect(metrics.find((m) => m.metric === 'minutes')).toEqual({ metric: 'minutes', used: 12, remaining: 168 });
    expect(metrics.map((m) => m.metric)).toEqual(['megabytes', 'minutes', 'minutes']);
    await context.close();
  });

  it('a browser on an origin not in CORS_ORIGINS is kept out', async () => {
    const res = await fetch(`${server.url}/graphql`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://evil.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization',
      },
    });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    const allowed = await fetch(`${server.url}/graphql`, {
      method: 'OPTIONS',
      headers: {
        origin: pageOrigin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(pageOrigin);
  });
});
