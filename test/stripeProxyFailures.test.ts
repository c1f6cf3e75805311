import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { startEmulator, type EmulatorHandle } from '../src/emulator';
import { cleanEnv, ROOT } from './support/cli';
import { startTestProxy, type TestProxy } from './support/proxy';

/**
 * The client Tollgate builds from its configuration (the one the server and the scripts use), reaching
 * an http:// Stripe that only a real CONNECT proxy on loopback can reach: `stripe.plain.test` does not
 * resolve, so every answer below came through the tunnel (or, for a direct route, did not come at all).
 * HTTP_PROXY and http_proxy route it; NO_PROXY and no_proxy exempt it; a Stripe that fails behind the
 * proxy, a proxy that cannot reach the host and a proxy whose name does not resolve are each classified,
 * and every message names the Stripe host and the proxy with its credentials masked.
 */
jest.setTimeout(60_000);

const HOST = 'stripe.plain.test';
const USER = 'corp-user';
const PASSWORD = 'c0rp-pa55';
const KEY = 'sk_test_tollgate_plain_proxy';

let emulator: EmulatorHandle;
let proxy: TestProxy;
const servers: http.Server[] = [];
/** Every message and log produced, checked for the proxy credentials at the end. */
const seen: string[] = [];

/** A stand-in for a failing Stripe behind the proxy: answers every request with `status` and `body`. */
async function failingStripe(status: number, body: object): Promise<number> {
  const srv = http.createServer((_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  servers.push(srv);
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', () => resolve()));
  return (srv.address() as AddressInfo).port;
}

interface Outcome {
  endpoint: { host: string; proxy?: string; proxySource?: string; route: string };
  result?: { id: string; email: string };
  error?: { name: string; code: string; message: string; extensions: Record<string, unknown> };
  probe?: { ok: boolean; failure?: Record<string, unknown> };
  logs: Array<{ level: number; msg: string; [k: string]: unknown }>;
  envUnchanged: boolean;
}

/** A customer created (or the readiness probe run) by the client the configuration `env` gives, in a process of its own. */
function stripeCall(env: Record<string, string>, what: 'customer' | 'probe' = 'customer'): Promise<Outcome> {
  const full = {
    STRIPE_SECRET_KEY: KEY,
    STRIPE_API_BASE: `http://${HOST}`,
    STRIPE_MAX_NETWORK_RETRIES: '0',
    STRIPE_TIMEOUT_MS: '5000',
    ...env,
  };
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [join(__dirname, 'support', 'stripeCallProcess.js'), what],
      { cwd: ROOT, env: cleanEnv(full), timeout: 30_000 },
      (err, stdout, stderr) => {
        seen.push(stdout, stderr);
        if (err) return reject(new Error(`stripeCallProcess failed: ${err.message}\n${stderr}`));
        const out = JSON.parse(stdout) as Outcome;
        // Routing by proxy variables is decided from the configuration: the environment is only read.
        expect(out.envUnchanged).toBe(true);
        resolve(out);
      },
    );
  });
}

/** The call failed as a client would see it: a DomainError PAYMENT_SERVICE_UNAVAILABLE, and one log line for the operator. */
async function failingCall(env: Record<string, string>): Promise<{ error: NonNullable<Outcome['error']>; log: Outcome['logs'][number] }> {
  const out = await stripeCall(env);
  expect(out.result).toBeUndefined();
  expect(out.error).toMatchObject({ name: 'DomainError', code: 'PAYMENT_SERVICE_UNAVAILABLE' });
  expect(out.logs).toHaveLength(1);
  return { error: out.error!, log: out.logs[0] };
}

const credentials = `${USER}:${PASSWORD}`;
const masked = () => `http://****:****@127.0.0.1:${proxy.port}`;

beforeAll(async () => {
  emulator = await startEmulator();
  proxy = await startTestProxy({ routes: { [`${HOST}:80`]: emulator.port }, credentials });
});
afterAll(async () => {
  await proxy.close();
  await emulator.stop();
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});
beforeEach(() => {
  proxy.connects.length = 0;
  proxy.mode = 'forward';
  proxy.routes[`${HOST}:80`] = emulator.port;
});

describe('an http:// Stripe through HTTP_PROXY', () => {
  it.each(['HTTP_PROXY', 'http_proxy'])('%s: calls go through the tunnel, with the proxy credentials', async (variable) => {
    const out = await stripeCall({ [variable]: proxy.url(credentials) });
    expect(out.endpoint).toMatchObject({
      host: HOST,
      proxy: masked(),
      proxySource: variable,
      route: `through the proxy ${masked()} (${variable})`,
    });
    expect(out.error).toBeUndefined();
    expect(emulator.ctx.store.get(out.result!.id)).toMatchObject({ email: 'tunnelled@example.com' });
    expect(proxy.connects).toEqual([{ target: `${HOST}:80`, credentials, status: 200 }]);
  });

  it('https_proxy alone does not apply to an http:// Stripe: it is reached directly, and its name does not resolve', async () => {
    const { error } = await failingCall({ https_proxy: proxy.url(credentials) });
    expect(error.extensions).toMatchObject({ reason: 'dns', stripeHost: HOST });
    expect(error.message).toContain('connecting directly (no proxy is configured for http:// (https_proxy applies to https:// only))');
    expect(proxy.connects).toEqual([]);
  });

  it.each([
    ['NO_PROXY', 'the exact host', HOST],
    ['no_proxy', 'a suffix', '.plain.test'],
    ['NO_PROXY', 'everything', '*'],
  ])('%s with %s: Stripe is reached directly and the proxy is not asked', async (variable, _what, entry) => {
    const { error } = await failingCall({ HTTP_PROXY: proxy.url(credentials), [variable]: entry });
    expect(error.extensions).toMatchObject({ reason: 'dns', stripeHost: HOST });
    expect(error.extensions).not.toHaveProperty('proxy');
    expect(error.message).toContain(`connecting directly (${HOST} matches ${variable} entry ${entry})`);
    expect(proxy.connects).toEqual([]);
  });

  it('STRIPE_PROXY=none: directly, whatever HTTP_PROXY says', async () => {
    const { error } = await failingCall({ HTTP_PROXY: proxy.url(credentials), STRIPE_PROXY: 'none' });
    expect(error.message).toContain('connecting directly (STRIPE_PROXY=none)');
    expect(proxy.connects).toEqual([]);
  });
});

describe('failures behind the proxy name the host, the proxy (masked) and the fix', () => {
  it('Stripe 5xx: "failed to answer", through which proxy; logged as an error', async () => {
    proxy.routes[`${HOST}:80`] = await failingStripe(503, { error: { type: 'api_error', message: 'Stripe is down for maintenance.' } });
    const { error, log } = await failingCall({ HTTP_PROXY: proxy.url(credentials) });
    expect(error.message).toBe(
      `The payment service at ${HOST} failed to answer: Stripe answered HTTP 503 (Stripe is down for maintenance.), through the proxy ${masked()} (HTTP_PROXY); ` +
        "fix: this is on Stripe's side: try again later, and see status.stripe.com.",
    );
    expect(error.extensions).toMatchObject({ reason: 'stripe_error', stripeHost: HOST, proxy: masked() });
    expect(log).toMatchObject({ level: 50, reason: 'stripe_error', msg: error.message });
    expect(proxy.connects).toEqual([{ target: `${HOST}:80`, credentials, status: 200 }]);
  });

  it('429: busy, through which proxy', async () => {
    proxy.routes[`${HOST}:80`] = await failingStripe(429, {
      error: { type: 'invalid_request_error', code: 'rate_limit', message: 'Too many requests' },
    });
    const { error } = await failingCall({ HTTP_PROXY: proxy.url(credentials) });
    expect(error.message).toBe(
      `The payment service at ${HOST} is busy: Stripe is limiting the request rate (HTTP 429), through the proxy ${masked()} (HTTP_PROXY); fix: try again shortly.`,
    );
    expect(error.extensions).toMatchObject({ reason: 'rate_limited', proxy: masked() });
  });

  it('a proxy that cannot reach the host itself (502): its DNS or firewall, or go around it', async () => {
    delete proxy.routes[`${HOST}:80`];
    const { error, log } = await failingCall({ HTTP_PROXY: proxy.url(credentials) });
    expect(error.message).toBe(
      `The payment service at ${HOST} could not be reached: the proxy ${masked()} could not open a tunnel to ${HOST}:80 (HTTP 502); ` +
        `fix: check that the proxy itself can reach ${HOST} (its DNS and firewall), or add ${HOST} to NO_PROXY, or set STRIPE_PROXY=none.`,
    );
    expect(error.extensions).toMatchObject({ reason: 'proxy_refused', proxyStatus: 502, proxy: masked() });
    expect(log).toMatchObject({ level: 40, reason: 'proxy_refused', msg: error.message });
    expect(proxy.connects).toEqual([{ target: `${HOST}:80`, credentials, status: 502 }]);
  });

  it('a proxy whose own name does not resolve: proxy_unreachable, naming it', async () => {
    const { error } = await failingCall({ HTTP_PROXY: `http://${credentials}@proxy.corp.test:3128` });
    expect(error.message).toMatch(
      /^The payment service at stripe\.plain\.test could not be reached: the proxy host name proxy\.corp\.test could not be resolved \((ENOTFOUND|EAI_AGAIN)\); fix: check that HTTP_PROXY names a running proxy, or set STRIPE_PROXY=none to connect directly\.$/,
    );
    expect(error.extensions).toMatchObject({ reason: 'proxy_unreachable', proxy: 'http://****:****@proxy.corp.test:3128' });
  });

  it('the readiness probe takes the same route and is classified the same', async () => {
    proxy.mode = 'refuse';
    const out = await stripeCall({ HTTP_PROXY: proxy.url(credentials) }, 'probe');
    expect(out.probe).toMatchObject({ ok: false, failure: { reason: 'proxy_refused', proxyStatus: 403 } });
    expect(proxy.connects).toEqual([{ target: `${HOST}:80`, credentials, status: 403 }]);
  });
});

it('the proxy credentials appeared in no message, extension or log line', () => {
  expect(seen.length).toBeGreaterThan(20);
  expect(seen.join('\n')).toContain('****:****');
  const secrets = [USER, PASSWORD, Buffer.from(credentials).toString('base64')];
  for (const text of seen) for (const secret of secrets) expect(text).not.toContain(secret);
});
