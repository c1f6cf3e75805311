import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../src/config';
import { maskProxyUrl, noProxyMatch, resolveStripeRoute, stripeEndpoint } from '../src/stripe/proxyRoute';

/** How the configuration decides the way to Stripe: which variables, which proxy, which exceptions. */
const empty = mkdtempSync(join(tmpdir(), 'tollgate-route-'));
const config = (env: Record<string, string>) => loadConfig(env, empty);
const routeFor = (env: Record<string, string>, target = config(env).stripe.apiBase) => resolveStripeRoute(target, config(env).proxy);
const emulator = { protocol: 'http' as const, host: '127.0.0.1', port: 12111 };

describe('proxy configuration', () => {
  it('defaults: api.stripe.com over https, no proxy, 20 s timeout, 2 retries, readiness cached 5 s', () => {
    const c = config({});
    expect(c.stripe.apiBase).toEqual({ protocol: 'https', host: 'api.stripe.com', port: 443 });
    expect(c.proxy).toEqual({ stripeProxy: undefined, httpsProxy: undefined, httpProxy: undefined, noProxy: undefined });
    expect(c.stripe).toMatchObject({ timeoutMs: 20_000, maxNetworkRetries: 2, readyCacheMs: 5000, caFile: undefined });
    expect(routeFor({})).toEqual({ target: c.stripe.apiBase, reason: 'no proxy is configured' });
  });

  it('reads the standard variables in either case; the lowercase one wins, as curl and proxy-from-env read them', () => {
    expect(config({ HTTPS_PROXY: 'http://upper:3128' }).proxy.httpsProxy).toEqual({ name: 'HTTPS_PROXY', value: 'http://upper:3128' });
    expect(config({ https_proxy: 'http://lower:3128' }).proxy.httpsProxy).toEqual({ name: 'https_proxy', value: 'http://lower:3128' });
    expect(config({ HTTPS_PROXY: 'http://upper:3128', https_proxy: 'http://lower:3128' }).proxy.httpsProxy?.name).toBe('https_proxy');
    expect(config({ no_proxy: '.stripe.com' }).proxy.noProxy).toEqual({ name: 'no_proxy', value: '.stripe.com' });
    expect(config({ http_proxy: 'http://h:80' }).proxy.httpProxy?.name).toBe('http_proxy');
  });

  it('in a .env file too; a real variable in either case wins over both cases in the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-route-dotenv-'));
    writeFileSync(join(dir, '.env'), 'https_proxy=http://from-file:3128\nNO_PROXY=.from-file.example\n');
    expect(loadConfig({}, dir).proxy).toMatchObject({
      httpsProxy: { name: 'https_proxy', value: 'http://from-file:3128' },
      noProxy: { value: '.from-file.example' },
    });
    expect(loadConfig({ HTTPS_PROXY: 'http://from-env:3128', no_proxy: 'stripe.com' }, dir).proxy).toMatchObject({
      httpsProxy: { name: 'HTTPS_PROXY', value: 'http://from-env:3128' },
      noProxy: { name: 'no_proxy', value: 'stripe.com' },
    });
    // Set but empty in the environment: no proxy, whatever the file says.
    expect(loadConfig({ HTTPS_PROXY: '' }, dir).proxy.httpsProxy).toBeUndefined();
  });

  it('a proxy without a scheme is http://, as curl reads it', () => {
    expect(config({ HTTPS_PROXY: 'proxy.corp:3128' }).proxy.httpsProxy?.value).toBe('http://proxy.corp:3128');
    expect(routeFor({ HTTPS_PROXY: 'proxy.corp:3128' }).proxy?.url.href).toBe('http://proxy.corp:3128/');
  });

  it.each([
    ['HTTPS_PROXY', 'socks5://ann:hunter2@proxy.corp:1080'],
    ['https_proxy', 'http://:3128'],
    ['HTTP_PROXY', 'ftp://ann:hunter2@proxy.corp'],
    ['STRIPE_PROXY', 'socks5://ann:hunter2@proxy.corp:1080'],
    ['STRIPE_PROXY', 'http://ann:hunter2@:8080'],
  ])('refuses %s=%s, names the variable and never shows its value', (name, value) => {
    let error: unknown;
    try {
      config({ [name]: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(new RegExp(`${name}: expected an http:// or https:// proxy URL`));
    expect((error as Error).message).not.toContain('hunter2');
    expect((error as Error).message).not.toContain(value);
  });

  it('a standard proxy variable Stripe does not use (STRIPE_PROXY decides) is not checked', () => {
    expect(config({ STRIPE_PROXY: 'none', HTTPS_PROXY: 'socks5://proxy.corp:1080' }).proxy.stripeProxy).toEqual({
      name: 'STRIPE_PROXY',
      value: 'none',
    });
    expect(config({ STRIPE_PROXY: 'NONE' }).proxy.stripeProxy?.value).toBe('none');
  });

  it('STRIPE_API_BASE: the Stripe API elsewhere (stripe-mock, an emulator), with its port', () => {
    expect(config({ STRIPE_API_BASE: 'http://localhost:12111' }).stripe.apiBase).toEqual({
      protocol: 'http',
      host: 'localhost',
      port: 12111,
    });
    expect(config({ STRIPE_API_BASE: 'https://api.stripe.test/' }).stripe).toMatchObject({
      apiBase: { protocol: 'https', host: 'api.stripe.test', port: 443 },
      apiBaseSet: true,
    });
    for (const bad of ['api.stripe.com', 'ftp://api.stripe.com', 'https://api.stripe.com/v1', 'https://user:pw@api.stripe.com']) {
      expect(() => config({ STRIPE_API_BASE: bad })).toThrow(/STRIPE_API_BASE: expected the base URL of the Stripe API/);
    }
  });

  it('STRIPE_CA_FILE must be a readable PEM file with certificates', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-ca-'));
    writeFileSync(join(dir, 'not.pem'), 'hello');
    writeFileSync(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    expect(() => loadConfig({ STRIPE_CA_FILE: 'missing.pem' }, dir)).toThrow(/STRIPE_CA_FILE: cannot read .*missing\.pem \(ENOENT\)/);
    expect(() => loadConfig({ STRIPE_CA_FILE: 'not.pem' }, dir)).toThrow(/STRIPE_CA_FILE: expected PEM certificates/);
    expect(loadConfig({ STRIPE_CA_FILE: 'ca.pem' }, dir).stripe).toMatchObject({
      caFile: join(dir, 'ca.pem'),
      ca: expect.stringContaining('BEGIN CERTIFICATE'),
    });
  });

  it.each([
    ['STRIPE_TIMEOUT_MS', '0'],
    ['STRIPE_MAX_NETWORK_RETRIES', '11'],
    ['STRIPE_READY_CACHE_MS', '-1'],
  ])('refuses %s=%s', (name, value) => {
    expect(() => config({ [name]: value })).toThrow(new RegExp(`${name}: expected`));
  });

  it('leaves the process environment as it found it', () => {
    const before = { ...process.env };
    const c = config({ HTTPS_PROXY: 'http://ann:hunter2@proxy.corp:3128', NO_PROXY: 'localhost', STRIPE_PROXY: 'none' });
    resolveStripeRoute(c.stripe.apiBase, c.proxy);
    expect(process.env).toEqual(before);
  });
});

describe('the route to Stripe', () => {
  const proxy = 'http://ann:hunter2@proxy.corp:3128';

  it('HTTPS_PROXY is used for an https:// Stripe', () => {
    const route = routeFor({ HTTPS_PROXY: proxy });
    expect(route.proxy).toEqual({ url: new URL(proxy), source: 'HTTPS_PROXY' });
  });

  it('HTTP_PROXY alone does not apply to an https:// Stripe, and says so', () => {
    const route = routeFor({ HTTP_PROXY: proxy });
    expect(route.proxy).toBeUndefined();
    expect(route.reason).toBe('no proxy is configured for https:// (HTTP_PROXY applies to http:// only)');
    expect(routeFor({ HTTP_PROXY: proxy, STRIPE_API_BASE: 'http://stripe-mock:12111' }).proxy?.source).toBe('HTTP_PROXY');
  });

  it.each([
    ['exact host', 'api.stripe.com', 'api.stripe.com'],
    ['the domain (and so its subdomains)', 'stripe.com', 'stripe.com'],
    ['a suffix with a leading dot', '.stripe.com', '.stripe.com'],
    ['a suffix with a wildcard', '*.stripe.com', '*.stripe.com'],
    ['everything', '*', '*'],
    ['the host on its port', 'api.stripe.com:443', 'api.stripe.com:443'],
    ['one entry among several, any case, spaces and commas', 'localhost, 10.0.0.0/8  .Stripe.COM', '.Stripe.COM'],
  ])('NO_PROXY matching %s sends Stripe directly', (_what, noProxy, entry) => {
    const route = routeFor({ HTTPS_PROXY: proxy, NO_PROXY: noProxy });
    expect(route.proxy).toBeUndefined();
    expect(route.reason).toBe(`api.stripe.com matches NO_PROXY entry ${entry}`);
  });

  it.each([
    ['another domain', 'example.com'],
    ['a longer name ending the same way', 'pistripe.com'],
    ['a subdomain of the host', 'eu.api.stripe.com'],
    ['the host on another port', 'api.stripe.com:8443'],
    ['an IP range (the host is a name)', '0.0.0.0/0'],
  ])('NO_PROXY with %s keeps the proxy', (_what, noProxy) => {
    expect(routeFor({ HTTPS_PROXY: proxy, NO_PROXY: noProxy }).proxy?.source).toBe('HTTPS_PROXY');
  });

  it('NO_PROXY matches IP hosts by address and CIDR range', () => {
    expect(noProxyMatch('10.1.2.3', '10.1.2.3', 443)).toBe('10.1.2.3');
    expect(noProxyMatch('10.0.0.0/8', '10.1.2.3', 443)).toBe('10.0.0.0/8');
    expect(noProxyMatch('10.0.0.0/8', '11.1.2.3', 443)).toBeUndefined();
    expect(noProxyMatch('[2001:db8::1]:443', '[2001:db8::1]', 443)).toBe('[2001:db8::1]:443');
    expect(noProxyMatch('2001:db8::/32', '2001:db8::5', 443)).toBe('2001:db8::/32');
  });

  it('a loopback Stripe (the emulator, stripe-mock) is reached directly despite HTTPS_PROXY and HTTP_PROXY', () => {
    for (const host of ['127.0.0.1', 'localhost', '::1', '127.8.9.10', 'stripe.localhost']) {
      const route = resolveStripeRoute({ ...emulator, host }, config({ HTTPS_PROXY: proxy, HTTP_PROXY: proxy }).proxy);
      expect(route.proxy).toBeUndefined();
      expect(route.reason).toMatch(/is a loopback address; only STRIPE_PROXY sends it through a proxy/);
    }
  });

  it('STRIPE_PROXY names a proxy for Stripe alone: it wins over HTTPS_PROXY and NO_PROXY, and applies to a loopback Stripe too', () => {
    const env = { STRIPE_PROXY: 'http://stripe-egress:8080', HTTPS_PROXY: proxy, NO_PROXY: '*' };
    expect(routeFor(env).proxy).toEqual({ url: new URL('http://stripe-egress:8080'), source: 'STRIPE_PROXY' });
    expect(resolveStripeRoute(emulator, config(env).proxy).proxy?.source).toBe('STRIPE_PROXY');
  });

  it('STRIPE_PROXY=none goes directly whatever HTTPS_PROXY says', () => {
    const route = routeFor({ STRIPE_PROXY: 'none', HTTPS_PROXY: proxy });
    expect(route.proxy).toBeUndefined();
    expect(route.reason).toBe('STRIPE_PROXY=none');
  });

  it('what may be shown about a route never carries the proxy credentials', () => {
    const endpoint = stripeEndpoint(routeFor({ HTTPS_PROXY: proxy }), 20_000);
    expect(endpoint).toMatchObject({
      host: 'api.stripe.com',
      hostname: 'api.stripe.com',
      address: 'api.stripe.com:443',
      proxy: 'http://****:****@proxy.corp:3128',
      proxySource: 'HTTPS_PROXY',
      proxyHasCredentials: true,
      route: 'through the proxy http://****:****@proxy.corp:3128 (HTTPS_PROXY)',
    });
    expect(JSON.stringify(endpoint)).not.toMatch(/ann|hunter2/);
    expect(maskProxyUrl('https://token@proxy.corp')).toBe('https://****@proxy.corp');
    expect(maskProxyUrl('http://proxy.corp:3128/')).toBe('http://proxy.corp:3128');
    expect(stripeEndpoint(resolveStripeRoute(emulator, config({}).proxy), 1000)).toMatchObject({
      host: '127.0.0.1:12111',
      proxy: undefined,
    });
  });
});
