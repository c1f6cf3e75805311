import type http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { rootCertificates } from 'node:tls';
import { maskProxyUrl, type StripeRoute } from './proxyRoute';

/**
 * The HTTP agent the Stripe SDK uses for a route (the SDK ignores proxy variables on its own).
 *
 * Through a proxy it is https-proxy-agent's HttpsProxyAgent: it opens a CONNECT tunnel to Stripe's host
 * and port (for https:// and http:// Stripe alike) and speaks TLS inside it. The library answers a refused
 * CONNECT by replaying the proxy's response as if Stripe had sent it; here a refusal becomes a
 * ProxyTunnelError carrying the proxy's status instead, a proxy that cannot be reached a
 * ProxyConnectError, and a proxy that never answers the CONNECT a ProxyTimeoutError (Node's request
 * timeout only starts once the tunnel exists). These reach the SDK as the cause of its
 * StripeConnectionError, where src/stripe/errors.ts reads them.
 */
export class ProxyTunnelError extends Error {
  readonly code = 'ERR_PROXY_TUNNEL';
  constructor(
    readonly proxy: string,
    readonly target: string,
    readonly status: number,
    readonly statusText: string,
  ) {
    super(`the proxy ${proxy} refused to tunnel to ${target} (HTTP ${status}${statusText ? ` ${statusText}` : ''})`);
    this.name = 'ProxyTunnelError';
  }
}

export class ProxyConnectError extends Error {
  readonly code = 'ERR_PROXY_CONNECT';
  constructor(
    readonly proxy: string,
    cause: unknown,
  ) {
    super(`the proxy ${proxy} could not be reached: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'ProxyConnectError';
  }
}

export class ProxyTimeoutError extends Error {
  readonly code = 'ERR_PROXY_TIMEOUT';
  constructor(
    readonly proxy: string,
    readonly timeoutMs: number,
  ) {
    super(`the proxy ${proxy} did not answer the CONNECT request within ${timeoutMs} ms`);
    this.name = 'ProxyTimeoutError';
  }
}

export interface AgentOptions {
  /** Extra certificate authorities (PEM) trusted besides Node's own (STRIPE_CA_FILE). */
  ca?: string;
  /** How long opening a tunnel may take (the SDK's timeout covers the request once connected). */
  timeoutMs: number;
}

/** undefined = the SDK's own keep-alive agent (direct, Node's trust store). */
export async function createStripeAgent(route: StripeRoute, options: AgentOptions): Promise<http.Agent | undefined> {
  const ca = options.ca ? [...rootCertificates, options.ca] : undefined;
  if (!route.proxy) {
    return ca && route.target.protocol === 'https' ? new https.Agent({ keepAlive: true, ca }) : undefined;
  }
  // ESM-only package: loaded on first use (this project compiles to CommonJS).
  const { HttpsProxyAgent } = await import('https-proxy-agent');
  const proxy = maskProxyUrl(route.proxy.url);
  const { timeoutMs } = options;

  class TunnelAgent extends HttpsProxyAgent<string> {
    override async connect(
      req: http.ClientRequest,
      opts: Parameters<InstanceType<typeof HttpsProxyAgent<string>>['connect']>[1],
    ): Promise<net.Socket> {
      let answer: { statusCode: number; statusText: string } | undefined;
      req.once('proxyConnect', (res: { statusCode: number; statusText: string }) => {
        answer = res;
      });
      // The library keeps agent options for the proxy connection only: the TLS session with Stripe inside
      // the tunnel gets the extra certificate authorities here.
      // super.connect opens the connection to the proxy synchronously from this.connectOpts: an abort
      // signal given there for this one call closes that connection when the proxy does not answer in time.
      const abort = new AbortController();
      const shared = this.connectOpts;
      this.connectOpts = { ...shared, signal: abort.signal };
      let connecting: Promise<net.Socket>;
      try {
        connecting = super.connect(req, ca && opts.secureEndpoint ? { ...opts, ca } : opts);
      } finally {
        this.connectOpts = shared;
      }
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(new ProxyTimeoutError(proxy, timeoutMs));
          abort.abort();
        }, timeoutMs);
      });
      let socket: net.Socket;
      try {
        socket = await Promise.race([connecting, timeout]);
      } catch (err) {
        // A tunnel that comes up after we gave up is closed at once.
        connecting.then(
          (late) => late.destroy(),
          () => undefined,
        );
        if (err instanceof ProxyTimeoutError || answer) throw err;
        throw new ProxyConnectError(proxy, err);
      } finally {
        clearTimeout(timer);
      }
      if (answer && answer.statusCode !== 200) {
        socket.destroy();
        throw new ProxyTunnelError(proxy, `${opts.host}:${opts.port}`, answer.statusCode, answer.statusText);
      }
      return socket;
    }
  }
  // The library is given the proxy without its credentials (its debug output prints the URL), and the
  // credentials as the Proxy-Authorization header it would have made from them.
  const bare = new URL(route.proxy.url.href);
  const user = decodeURIComponent(bare.username);
  const password = decodeURIComponent(bare.password);
  bare.username = '';
  bare.password = '';
  const headers =
    user || password ? { 'Proxy-Authorization': `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` } : undefined;
  return new TunnelAgent(bare.href, { keepAlive: true, ...(headers ? { headers } : {}), ...(ca ? { ca } : {}) });
}
