import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { createOrm, migrate } from '../src/db/orm';
import { startEmulator } from '../src/emulator';
import { createLogger } from '../src/logger';
import { runScript } from './support/cli';
import { createTestDatabase } from './support/db';
import { freePort, portOpen } from './support/net';
import { startTestProxy } from './support/proxy';
import { PROXY_CREDENTIALS, startTunnel, STRIPE_TEST_HOST, type Tunnel } from './support/tunnel';

/**
 * `npm run doctor` as a process: its report and exit code for a healthy setup, each kind of Stripe
 * connectivity failure (through a real CONNECT proxy to the emulator over TLS), NO_PROXY and
 * STRIPE_PROXY, the key, the webhook secret, the database, the configuration, and local mode.
 */
jest.setTimeout(120_000);

let tunnel: Tunnel;
let databaseUrl: string;

beforeAll(async () => {
  tunnel = await startTunnel();
  databaseUrl = await createTestDatabase('doctor');
  const logger = createLogger('silent');
  const orm = await createOrm(databaseUrl, { logger });
  await migrate(orm, logger);
  await orm.close();
});
afterAll(() => tunnel?.close());

interface Report {
  code: number;
  output: string;
  /** The report line of a check (and the indented lines under it). */
  check(name: string): string;
}

async function doctor(env: Record<string, string | undefined>): Promise<Report> {
  const { code, stdout, stderr } = await runScript('doctor', [], { DATABASE_URL: databaseUrl, ...env });
  const output = stdout + stderr;
  for (const secret of tunnel.secrets) expect(output).not.toContain(secret);
  const lines = stdout.split('\n');
  return {
    code,
    output,
    check(name) {
      const at = lines.findIndex((l) => new RegExp(`^  \\[(ok|info|warn|FAIL)\\]\\s+${name.replace(/ /g, '\\s')}\\s{2}`).test(l));
      if (at < 0) throw new Error(`no "${name}" check in:\n${stdout}\n${stderr}`);
      const block = [lines[at]];
      for (let i = at + 1; i < lines.length && /^\s{10,}\S/.test(lines[i]); i++) block.push(lines[i]);
      return block.map((l) => l.trim().replace(/\s+/g, ' ')).join('\n');
    },
  };
}

const masked = () => `http://****:****@127.0.0.1:${tunnel.proxy.port}`;

describe('real Stripe through a proxy', () => {
  it('healthy: every check passes, the report names the route, exit code 0', async () => {
    tunnel.proxy.connects.length = 0;
    const r = await doctor(tunnel.env());
    expect(r.check('configuration')).toMatch(/^\[ok\] configuration valid/);
    expect(r.check('database')).toMatch(
      /^\[ok\] database DATABASE_URL postgres:\/\/postgres:\*\*\*\*@127\.0\.0\.1:\d+\/tollgate_doctor_\w+: reachable \(PostgreSQL [\d.]+\)\nschema up to date$/,
    );
    expect(r.check('stripe mode')).toBe(
      `[ok] stripe mode Stripe API at https://${STRIPE_TEST_HOST}:443 (STRIPE_API_BASE; not api.stripe.com) with a test-mode secret key (sk_test_…ests)`,
    );
    expect(r.check('stripe route')).toMatch(
      new RegExp(
        `^\\[ok\\] stripe route ${STRIPE_TEST_HOST}:443 is reached through the proxy ${esc(masked())} \\(HTTPS_PROXY\\)\\nproxy settings: HTTPS_PROXY=${esc(masked())}\\nextra certificate authorities from STRIPE_CA_FILE=`,
      ),
    );
    expect(r.check('stripe')).toBe(
      `[ok] stripe ${STRIPE_TEST_HOST} answered through the proxy ${masked()} (HTTPS_PROXY); the test-mode key is valid\n` +
        "the answer came from Tollgate's Stripe emulator (Server: tollgate-stripe-emulator), not the real Stripe: no payment is real",
    );
    expect(r.check('webhook secret')).toBe(
      '[ok] webhook secret set and well-formed; Stripe should deliver to http://localhost:4000/webhooks/stripe',
    );
    expect(r.output).toContain('No problems found.');
    expect(r.code).toBe(0);
    expect(tunnel.proxy.connects).toEqual([{ target: `${STRIPE_TEST_HOST}:443`, credentials: PROXY_CREDENTIALS, status: 200 }]);
  });

  it('a proxy that refuses CONNECT api.stripe.com:443 with 403: the message says so, with the fix', async () => {
    const corporate = await startTestProxy({ routes: {}, mode: 'refuse' });
    try {
      const r = await doctor({
        STRIPE_SECRET_KEY: 'sk_test_tollgate_doctor',
        STRIPE_WEBHOOK_SECRET: tunnel.env().STRIPE_WEBHOOK_SECRET,
        HTTPS_PROXY: corporate.url(),
      });
      expect(r.check('stripe route')).toContain(
        `api.stripe.com:443 is reached through the proxy http://127.0.0.1:${corporate.port} (HTTPS_PROXY)`,
      );
      expect(r.check('stripe')).toBe(
        `[FAIL] stripe The payment service at api.stripe.com could not be reached: the proxy http://127.0.0.1:${corporate.port} refused to tunnel to api.stripe.com:443 (HTTP 403)\n` +
          'reason: proxy_refused\n' +
          'fix: add api.stripe.com to NO_PROXY, or set STRIPE_PROXY=none, or allow the host in the proxy',
      );
      expect(r.output).toContain('1 problem found.');
      expect(r.code).toBe(1);
      expect(corporate.connects).toEqual([{ target: 'api.stripe.com:443', credentials: undefined, status: 403 }]);
    } finally {
      await corporate.close();
    }
  });

  it("with the proxy agent library's debug output on (DEBUG), the credentials still appear nowhere", async () => {
    tunnel.proxy.connects.length = 0;
    const r = await doctor(tunnel.env({ DEBUG: 'https-proxy-agent,agent-base' }));
    expect(r.output).toContain('https-proxy-agent Creating new HttpsProxyAgent instance');
    expect(r.output).toContain(`http://127.0.0.1:${tunnel.proxy.port}/`);
    expect(r.code).toBe(0);
    expect(tunnel.proxy.connects).toEqual([{ target: `${STRIPE_TEST_HOST}:443`, credentials: PROXY_CREDENTIALS, status: 200 }]);
  });

  it('a proxy that wants credentials (407)', async () => {
    const r = await doctor(tunnel.env({ HTTPS_PROXY: tunnel.proxy.url() }));
    expect(r.check('stripe')).toBe(
      `[FAIL] stripe The payment service at ${STRIPE_TEST_HOST} could not be reached: the proxy http://127.0.0.1:${tunnel.proxy.port} requires authentication (HTTP 407)\n` +
        'reason: proxy_auth\n' +
        "fix: put the proxy's user name and password in HTTPS_PROXY (http://user:password@host:port)",
    );
    expect(r.code).toBe(1);
  });

  it('a proxy that is down', async () => {
    const closed = await freePort();
    const r = await doctor(tunnel.env({ https_proxy: `http://${PROXY_CREDENTIALS}@127.0.0.1:${closed}` }));
    expect(r.check('stripe route')).toContain(`through the proxy http://****:****@127.0.0.1:${closed} (https_proxy)`);
    expect(r.check('stripe')).toBe(
      `[FAIL] stripe The payment service at ${STRIPE_TEST_HOST} could not be reached: the proxy http://****:****@127.0.0.1:${closed} refused the connection (ECONNREFUSED)\n` +
        'reason: proxy_unreachable\n' +
        'fix: check that https_proxy names a running proxy, or set STRIPE_PROXY=none to connect directly',
    );
    expect(r.code).toBe(1);
  });

  it('a proxy that never answers the CONNECT: a timeout', async () => {
    tunnel.proxy.mode = 'hang';
    try {
      const r = await doctor(tunnel.env({ STRIPE_TIMEOUT_MS: '500' }));
      expect(r.check('stripe')).toBe(
        `[FAIL] stripe The payment service at ${STRIPE_TEST_HOST} could not be reached: the proxy ${masked()} did not answer the CONNECT request within 500 ms\n` +
          'reason: timeout\n' +
          'fix: check that HTTPS_PROXY names a working proxy, or raise STRIPE_TIMEOUT_MS',
      );
      expect(r.code).toBe(1);
    } finally {
      tunnel.proxy.mode = 'forward';
    }
  });

  it('a proxy that closes the connection without answering', async () => {
    tunnel.proxy.mode = 'drop';
    try {
      const r = await doctor(tunnel.env());
      expect(r.check('stripe')).toBe(
        `[FAIL] stripe The payment service at ${STRIPE_TEST_HOST} could not be reached: the proxy ${masked()} closed the connection without answering the CONNECT request\n` +
          'reason: proxy_unreachable\n' +
          'fix: check that HTTPS_PROXY names a running proxy, or set STRIPE_PROXY=none to connect directly',
      );
      expect(r.code).toBe(1);
    } finally {
      tunnel.proxy.mode = 'forward';
    }
  });

  it('a certificate nobody told Node to trust: TLS, with the fix', async () => {
    const r = await doctor(tunnel.env({ STRIPE_CA_FILE: undefined }));
    expect(r.check('stripe')).toMatch(
      new RegExp(
        `^\\[FAIL\\] stripe The payment service at ${STRIPE_TEST_HOST} could not be reached: the TLS connection to ${STRIPE_TEST_HOST} failed: .* \\((DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)\\), through the proxy ${esc(masked())}\\n` +
          'reason: tls\\nfix: if a proxy or firewall inspects TLS, trust its certificate authority with STRIPE_CA_FILE; check the system clock$',
      ),
    );
    expect(r.code).toBe(1);
  });

  it.each([
    ['the exact host', STRIPE_TEST_HOST],
    ['a suffix', '.stripe.test'],
    ['everything', '*'],
  ])('NO_PROXY with %s: Stripe is reached directly, the proxy is not asked', async (_what, noProxy) => {
    tunnel.proxy.connects.length = 0;
    const r = await doctor(tunnel.env({ NO_PROXY: noProxy }));
    expect(r.check('stripe route')).toContain(
      `${STRIPE_TEST_HOST}:443 is reached directly (${STRIPE_TEST_HOST} matches NO_PROXY entry ${noProxy})`,
    );
    // api.stripe.test exists only behind the proxy: directly, its name does not resolve.
    expect(r.check('stripe')).toMatch(
      new RegExp(
        `^\\[FAIL\\] stripe The payment service at ${STRIPE_TEST_HOST} could not be reached: the host name ${STRIPE_TEST_HOST} could not be resolved \\((ENOTFOUND|EAI_AGAIN)\\), connecting directly`,
      ),
    );
    expect(r.check('stripe')).toContain(
      `fix: check this machine's network and firewall; if it reaches the internet only through a proxy, set HTTPS_PROXY and take ${STRIPE_TEST_HOST} out of NO_PROXY, or STRIPE_PROXY`,
    );
    expect(r.code).toBe(1);
    expect(tunnel.proxy.connects).toEqual([]);
  });

  it('NO_PROXY naming other hosts keeps the proxy', async () => {
    const r = await doctor(tunnel.env({ NO_PROXY: 'localhost,127.0.0.1,.internal.example' }));
    expect(r.check('stripe')).toMatch(/^\[ok\] stripe/);
    expect(r.code).toBe(0);
  });

  it('STRIPE_PROXY=none: directly, whatever HTTPS_PROXY says', async () => {
    tunnel.proxy.connects.length = 0;
    const r = await doctor(tunnel.env({ STRIPE_PROXY: 'none' }));
    expect(r.check('stripe route')).toContain(`${STRIPE_TEST_HOST}:443 is reached directly (STRIPE_PROXY=none)`);
    expect(r.check('stripe')).toContain('could not be resolved');
    expect(r.code).toBe(1);
    expect(tunnel.proxy.connects).toEqual([]);
  });

  it('STRIPE_PROXY names the proxy for Stripe alone: it wins over a broken HTTPS_PROXY and NO_PROXY=*', async () => {
    const closed = await freePort();
    const r = await doctor(
      tunnel.env({ STRIPE_PROXY: tunnel.proxy.url(PROXY_CREDENTIALS), HTTPS_PROXY: `http://127.0.0.1:${closed}`, NO_PROXY: '*' }),
    );
    expect(r.check('stripe route')).toContain(`is reached through the proxy ${masked()} (STRIPE_PROXY)`);
    expect(r.check('stripe')).toMatch(/^\[ok\] stripe/);
    expect(r.code).toBe(0);
  });

  it('a key Stripe refuses: its mode, and what Stripe said, without the key', async () => {
    const key = 'sk_live_tollgateDoctorRefused5309';
    const r = await doctor(tunnel.env({ STRIPE_SECRET_KEY: key }));
    expect(r.check('stripe mode')).toBe(
      `[warn] stripe mode Stripe API at https://${STRIPE_TEST_HOST}:443 (STRIPE_API_BASE; not api.stripe.com) with a live-mode secret key (sk_live_…5309)\na live key with NODE_ENV=development: payments are real`,
    );
    expect(r.check('stripe')).toMatch(
      new RegExp(
        `^\\[FAIL\\] stripe Stripe at ${STRIPE_TEST_HOST} answered through the proxy ${esc(masked())} \\(HTTPS_PROXY\\), but refused the API key \\(HTTP 401: Invalid API Key provided: sk_live_\\*+5309\\)\\n` +
          'reason: invalid_api_key\\nfix: set STRIPE_SECRET_KEY to a valid secret key \\(Stripe Dashboard > Developers > API keys\\)$',
      ),
    );
    expect(r.output).not.toContain(key);
    expect(r.code).toBe(1);
  });
});

describe('which Stripe answered', () => {
  it('api.stripe.com sent by the proxy to the emulator: the report says it is the emulator, and warns in production', async () => {
    const r = await doctor(tunnel.env({ STRIPE_API_BASE: undefined, NODE_ENV: 'production' }));
    expect(r.check('stripe mode')).toBe(
      '[ok] stripe mode real Stripe API at https://api.stripe.com:443 with a test-mode secret key (sk_test_…ests)',
    );
    expect(r.check('stripe')).toBe(
      `[warn] stripe api.stripe.com answered through the proxy ${masked()} (HTTPS_PROXY); the test-mode key is valid\n` +
        "the answer came from Tollgate's Stripe emulator (Server: tollgate-stripe-emulator), not the real Stripe: no payment is real\n" +
        'fix: with NODE_ENV=production, unset STRIPE_API_BASE (api.stripe.com) or check that the proxy does not send Stripe elsewhere',
    );
    expect(r.output).toContain('No problems found.');
    expect(r.code).toBe(0);
  });

  it('another Stripe-compatible API (stripe-mock): neither the emulator nor the real Stripe', async () => {
    const mock = http.createServer((_req, res) => {
      res
        .writeHead(200, { 'content-type': 'application/json', server: 'stripe-mock' })
        .end(JSON.stringify({ object: 'list', data: [], has_more: false, url: '/v1/prices' }));
    });
    await new Promise<void>((resolve) => mock.listen(0, '127.0.0.1', () => resolve()));
    const port = (mock.address() as AddressInfo).port;
    try {
      const r = await doctor({
        STRIPE_SECRET_KEY: 'sk_test_tollgate_doctor',
        STRIPE_WEBHOOK_SECRET: tunnel.env().STRIPE_WEBHOOK_SECRET,
        STRIPE_API_BASE: `http://127.0.0.1:${port}`,
      });
      expect(r.check('stripe mode')).toBe(
        `[ok] stripe mode Stripe API at http://127.0.0.1:${port} (STRIPE_API_BASE; not api.stripe.com) with a test-mode secret key (sk_test_…ctor)`,
      );
      expect(r.check('stripe')).toBe(
        `[ok] stripe 127.0.0.1:${port} answered directly (127.0.0.1 is a loopback address; only STRIPE_PROXY sends it through a proxy); the test-mode key is valid\n` +
          "the answer came from a Stripe-compatible API that is not Tollgate's emulator (Server: stripe-mock), such as stripe-mock",
      );
      expect(r.code).toBe(0);
    } finally {
      mock.close();
    }
  });
});

describe('webhook secret, database, configuration', () => {
  it('a missing webhook secret fails with where to get one', async () => {
    const r = await doctor(tunnel.env({ STRIPE_WEBHOOK_SECRET: undefined, PUBLIC_URL: 'https://billing.example.com' }));
    expect(r.check('webhook secret')).toBe(
      '[FAIL] webhook secret STRIPE_WEBHOOK_SECRET is not set: every webhook from Stripe would be refused\n' +
        'fix: add an endpoint for https://billing.example.com/webhooks/stripe in the Stripe Dashboard (Developers > Webhooks) and set STRIPE_WEBHOOK_SECRET to its signing secret',
    );
    expect(r.code).toBe(1);
  });

  it('a webhook secret that is not well-formed fails', async () => {
    const r = await doctor(tunnel.env({ STRIPE_WEBHOOK_SECRET: 'whsec_cut' }));
    expect(r.check('webhook secret')).toMatch(
      /^\[FAIL\] webhook secret STRIPE_WEBHOOK_SECRET is not a well-formed signing secret .*got 9 characters\)\nfix: copy the signing secret/,
    );
    expect(r.output).not.toContain('whsec_cut');
    expect(r.code).toBe(1);
  });

  it('a database that does not answer fails without showing its password; the other checks still run', async () => {
    const closed = await freePort();
    const r = await doctor(tunnel.env({ DATABASE_URL: `postgres://tollgate:db-pa55word@127.0.0.1:${closed}/tollgate` }));
    expect(r.check('database')).toBe(
      `[FAIL] database DATABASE_URL postgres://tollgate:****@127.0.0.1:${closed}/tollgate: connect ECONNREFUSED 127.0.0.1:${closed}\n` +
        "fix: check that PostgreSQL runs at the URL's host and port and that its user, password and database name are right",
    );
    expect(r.output).not.toContain('db-pa55word');
    expect(r.check('stripe')).toMatch(/^\[ok\] stripe/);
    expect(r.output).toContain('1 problem found.');
    expect(r.code).toBe(1);
  });

  it('an invalid configuration is reported, values with credentials hidden, and nothing else is tried', async () => {
    const r = await doctor(tunnel.env({ HTTPS_PROXY: `socks5://${PROXY_CREDENTIALS}@127.0.0.1:1080`, PORT: 'eighty' }));
    expect(r.check('configuration')).toBe(
      '[FAIL] configuration invalid\n' +
        'PORT: expected a port number (got "eighty")\n' +
        'HTTPS_PROXY: expected an http:// or https:// proxy URL such as http://proxy.example.com:3128 (Stripe is reached through it with CONNECT); or set STRIPE_PROXY to a proxy URL or to none\n' +
        'fix: correct the variables above (see .env.example and the configuration table in README.md)',
    );
    expect(r.output).not.toMatch(/\[(ok|FAIL)\]\s+database/);
    expect(r.code).toBe(1);
  });
});

describe('local mode (no STRIPE_SECRET_KEY)', () => {
  it('with the emulator port free: the server will start its emulator there', async () => {
    const port = await freePort();
    const r = await doctor({ STRIPE_EMULATOR_PORT: String(port) });
    expect(r.check('stripe mode')).toBe(
      `[ok] stripe mode local Stripe emulator (no STRIPE_SECRET_KEY): the server runs it on 127.0.0.1:${port}`,
    );
    expect(r.check('stripe route')).toBe(
      `[ok] stripe route 127.0.0.1:${port} is reached directly (127.0.0.1 is a loopback address; only STRIPE_PROXY sends it through a proxy)`,
    );
    expect(r.check('stripe')).toBe(
      `[ok] stripe port ${port} is free for the server's local Stripe emulator; one started there for this check answered directly (127.0.0.1 is a loopback address; only STRIPE_PROXY sends it through a proxy)`,
    );
    expect(r.check('webhook secret')).toBe(
      '[ok] webhook secret not needed in local mode: the emulator gives the server its own endpoint secret',
    );
    expect(r.code).toBe(0);
  });

  it('with something else on the emulator port: fails, the server could not start', async () => {
    const other = http.createServer((_req, res) => res.writeHead(404).end('not here'));
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', () => resolve()));
    const port = (other.address() as AddressInfo).port;
    try {
      const r = await doctor({ STRIPE_EMULATOR_PORT: String(port) });
      expect(r.check('stripe')).toBe(
        `[FAIL] stripe port ${port} on 127.0.0.1 is in use by something that is not a Stripe emulator (HTTP 404): the server could not start its emulator\n` +
          'fix: stop that program, or set STRIPE_EMULATOR_PORT to a free port',
      );
      expect(r.code).toBe(1);
    } finally {
      other.close();
    }
  });

  it('production without a key: a warning that no payment is real', async () => {
    const port = await freePort();
    const r = await doctor({ STRIPE_EMULATOR_PORT: String(port), NODE_ENV: 'production' });
    expect(r.check('stripe mode')).toBe(
      `[warn] stripe mode local Stripe emulator (no STRIPE_SECRET_KEY): the server runs it on 127.0.0.1:${port}\nNODE_ENV=production without STRIPE_SECRET_KEY: no payment is real`,
    );
    expect(r.code).toBe(0);
  });

  it('with the port held by something that does not answer HTTP: fails, the server could not start its emulator', async () => {
    const silent = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    const port = (silent.address() as AddressInfo).port;
    try {
      const r = await doctor({ STRIPE_EMULATOR_PORT: String(port) });
      expect(r.check('stripe')).toBe(
        `[FAIL] stripe the server could not start its Stripe emulator on 127.0.0.1:${port}: the port is in use by a program that does not answer HTTP\n` +
          'fix: stop the program using that port, or set STRIPE_EMULATOR_PORT to a free port',
      );
      expect(r.code).toBe(1);
    } finally {
      silent.close();
    }
  });

  it('no emulator running and STRIPE_PROXY naming a proxy: one is started for the check and asked through that proxy, as the server would', async () => {
    const port = await freePort();
    tunnel.proxy.routes[`127.0.0.1:${port}`] = port;
    tunnel.proxy.connects.length = 0;
    const r = await doctor({ STRIPE_EMULATOR_PORT: String(port), STRIPE_PROXY: tunnel.proxy.url(PROXY_CREDENTIALS) });
    expect(r.check('stripe')).toBe(
      `[ok] stripe port ${port} is free for the server's local Stripe emulator; one started there for this check answered through the proxy ${masked()} (STRIPE_PROXY)`,
    );
    expect(r.code).toBe(0);
    expect(tunnel.proxy.connects).toEqual([{ target: `127.0.0.1:${port}`, credentials: PROXY_CREDENTIALS, status: 200 }]);
    expect(await portOpen(port)).toBe(false);
  });

  it('no emulator running and STRIPE_PROXY naming a proxy that refuses: the server could not start; the report says why, with the fix', async () => {
    const port = await freePort();
    const corporate = await startTestProxy({ routes: {}, mode: 'refuse' });
    try {
      const r = await doctor({ STRIPE_EMULATOR_PORT: String(port), STRIPE_PROXY: corporate.url() });
      expect(r.check('stripe')).toBe(
        `[FAIL] stripe The payment service at 127.0.0.1:${port} could not be reached: the proxy http://127.0.0.1:${corporate.port} refused to tunnel to 127.0.0.1:${port} (HTTP 403)\n` +
          'reason: proxy_refused\n' +
          `asked port ${port} is free for the server's local Stripe emulator; one started there for this check\n` +
          'fix: set STRIPE_PROXY=none or to another proxy, or allow the host in the proxy',
      );
      expect(r.output).toContain('1 problem found.');
      expect(r.code).toBe(1);
    } finally {
      await corporate.close();
    }
  });

  it('a running emulator reached through STRIPE_PROXY, as the server would', async () => {
    const emulator = await startEmulator();
    tunnel.proxy.routes[`127.0.0.1:${emulator.port}`] = emulator.port;
    tunnel.proxy.connects.length = 0;
    try {
      const r = await doctor({ STRIPE_EMULATOR_PORT: String(emulator.port), STRIPE_PROXY: tunnel.proxy.url(PROXY_CREDENTIALS) });
      expect(r.check('stripe route')).toContain(`127.0.0.1:${emulator.port} is reached through the proxy ${masked()} (STRIPE_PROXY)`);
      expect(r.check('stripe')).toBe(
        `[ok] stripe the Stripe emulator on 127.0.0.1:${emulator.port} (a running server's, or npm run stripe:emulator) answered through the proxy ${masked()} (STRIPE_PROXY)`,
      );
      expect(r.code).toBe(0);
      expect(tunnel.proxy.connects).toEqual([{ target: `127.0.0.1:${emulator.port}`, credentials: PROXY_CREDENTIALS, status: 200 }]);
    } finally {
      await emulator.stop();
    }
  });
});

function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
