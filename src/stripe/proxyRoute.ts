import { BlockList, isIP } from 'node:net';
import type { ApiTarget, ProxyConfig } from '../config';

/**
 * How Tollgate reaches Stripe: directly or through one proxy, decided once from the configuration (never
 * from process.env, which is left untouched). The rules, in order:
 *
 * 1. STRIPE_PROXY=none: directly. STRIPE_PROXY=<url>: through that proxy, whatever the host.
 * 2. A loopback Stripe (localhost, 127.0.0.0/8, ::1: the local emulator, stripe-mock) is reached directly.
 * 3. NO_PROXY (or no_proxy) matching the host: directly. `*` matches everything; an entry matches the
 *    host itself and its subdomains (`stripe.com`, `.stripe.com` and `*.stripe.com` all match
 *    api.stripe.com); `host:port` matches that port only; IP addresses and CIDR ranges match IP hosts.
 * 4. HTTPS_PROXY (https_proxy) for an https:// Stripe, HTTP_PROXY (http_proxy) for an http:// one.
 * 5. Otherwise directly.
 */
export interface StripeRoute {
  target: ApiTarget;
  /** The proxy, credentials included: hand it to the agent only, never to a message or a log. */
  proxy?: { url: URL; source: string };
  /** Why this route, in words: "api.stripe.com matches NO_PROXY entry .stripe.com". */
  reason: string;
}

/** What messages and reports may say about the route: the proxy has its credentials masked. */
export interface StripeEndpoint {
  /** The Stripe API host as people know it: "api.stripe.com" (with ":port" when not the scheme's default). */
  host: string;
  /** The host name alone (what goes into NO_PROXY). */
  hostname: string;
  /** host:port the connection is made to. */
  address: string;
  /** The proxy in use, credentials masked; absent = direct. */
  proxy?: string;
  /** The variable the proxy came from (STRIPE_PROXY, HTTPS_PROXY, https_proxy, ...). */
  proxySource?: string;
  /** true when the proxy URL carries a user name or password. */
  proxyHasCredentials?: boolean;
  /** "through the proxy http://proxy.corp:3128 (HTTPS_PROXY)" or "directly (no proxy is configured)". */
  route: string;
  timeoutMs: number;
  /** The local Stripe emulator: when it does not answer, the fix is to start it. */
  localEmulatorHint?: string;
}

export function resolveStripeRoute(target: ApiTarget, proxies: ProxyConfig): StripeRoute {
  const host = normaliseHost(target.host);
  const { stripeProxy, noProxy } = proxies;
  if (stripeProxy?.value === 'none') return { target, reason: 'STRIPE_PROXY=none' };
  if (stripeProxy)
    return { target, proxy: { url: new URL(stripeProxy.value), source: stripeProxy.name }, reason: `${stripeProxy.name} is set` };
  if (isLoopback(host)) return { target, reason: `${host} is a loopback address; only STRIPE_PROXY sends it through a proxy` };
  const entry = noProxy ? noProxyMatch(noProxy.value, host, target.port) : undefined;
  if (entry !== undefined) return { target, reason: `${host} matches ${noProxy!.name} entry ${entry}` };
  const standard = target.protocol === 'https' ? proxies.httpsProxy : proxies.httpProxy;
  if (standard) return { target, proxy: { url: new URL(standard.value), source: standard.name }, reason: `${standard.name} is set` };
  const other = target.protocol === 'https' ? proxies.httpProxy : proxies.httpsProxy;
  if (other) {
    return {
      target,
      reason: `no proxy is configured for ${target.protocol}:// (${other.name} applies to ${target.protocol === 'https' ? 'http' : 'https'}:// only)`,
    };
  }
  return { target, reason: 'no proxy is configured' };
}

/** The entry of a NO_PROXY list that matches host:port, or undefined. */
export function noProxyMatch(list: string, host: string, port: number): string | undefined {
  const name = normaliseHost(host);
  for (const raw of list.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return raw.trim();
    const { pattern, port: entryPort } = splitPort(entry);
    if (entryPort !== undefined && entryPort !== port) continue;
    if (pattern.includes('/')) {
      if (cidrContains(pattern, name)) return raw.trim();
      continue;
    }
    const domain = pattern.replace(/^\*/, '').replace(/^\./, '').replace(/\.$/, '');
    if (!domain) continue;
    if (name === domain || (!isIP(name) && name.endsWith(`.${domain}`))) return raw.trim();
  }
  return undefined;
}

export function isLoopback(host: string): boolean {
  const name = normaliseHost(host);
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (isIP(name) === 4) return name.startsWith('127.');
  if (isIP(name) === 6) return name === '::1' || /^::ffff:127\./.test(name);
  return false;
}

/** A proxy URL fit to show: user and password replaced by ****, no trailing slash. */
export function maskProxyUrl(url: URL | string): string {
  const u = typeof url === 'string' ? new URL(url) : url;
  const auth = u.username || u.password ? `${u.username ? '****' : ''}${u.password ? ':****' : ''}@` : '';
  return `${u.protocol}//${auth}${u.host}`;
}

export function describeRoute(route: StripeRoute): string {
  return route.proxy ? `through the proxy ${maskProxyUrl(route.proxy.url)} (${route.proxy.source})` : `directly (${route.reason})`;
}

export function stripeEndpoint(route: StripeRoute, timeoutMs: number, localEmulatorHint?: string): StripeEndpoint {
  const { protocol, host, port } = route.target;
  const shown = host.includes(':') ? `[${host}]` : host;
  const defaultPort = (protocol === 'https' && port === 443) || (protocol === 'http' && port === 80);
  return {
    host: defaultPort ? shown : `${shown}:${port}`,
    hostname: host,
    address: `${shown}:${port}`,
    proxy: route.proxy ? maskProxyUrl(route.proxy.url) : undefined,
    proxySource: route.proxy?.source,
    proxyHasCredentials: route.proxy ? Boolean(route.proxy.url.username || route.proxy.url.password) : undefined,
    route: describeRoute(route),
    timeoutMs,
    localEmulatorHint,
  };
}

function normaliseHost(host: string): string {
  return host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '');
}

function splitPort(entry: string): { pattern: string; port?: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return { pattern: bracketed[1], port: bracketed[2] ? Number(bracketed[2]) : undefined };
  if (isIP(entry.split('/')[0]) === 6) return { pattern: entry };
  const withPort = /^(.+):(\d+)$/.exec(entry);
  return withPort ? { pattern: withPort[1], port: Number(withPort[2]) } : { pattern: entry };
}

function cidrContains(cidr: string, host: string): boolean {
  const family = isIP(host);
  const [network, bits] = cidr.split('/');
  if (!family || isIP(network) !== family || !/^\d+$/.test(bits ?? '')) return false;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const prefix = Number(bits);
  if (prefix > (family === 4 ? 32 : 128)) return false;
  const list = new BlockList();
  list.addSubnet(network, prefix, type);
  return list.check(host, type);
}
