import type { IncomingHttpHeaders } from 'node:http';
import type { EmulatorContext } from './context';
import type { Params } from './params';

export type Method = 'GET' | 'POST' | 'DELETE';

export interface ApiRequest {
  method: Method;
  /** path without the query string, e.g. /v1/customers/cus_123 */
  path: string;
  /** `:name` segments of the route pattern */
  pathParams: Record<string, string>;
  /** query string merged with the form body (body wins) */
  params: Params;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  rawBody: string;
  requestId: string;
  idempotencyKey: string | null;
  /** Stripe-Version sent by the client, or the emulator's */
  apiVersion: string;
  /** scheme://host[:port] the client used to reach the emulator (for URLs the response carries) */
  origin: string;
  ctx: EmulatorContext;
}

/** A non-JSON answer (HTML pages, redirects, documents). Handlers return it instead of an API object. */
export class RawResponse {
  constructor(
    readonly status: number,
    readonly body: string | Buffer,
    readonly headers: Record<string, string> = {},
  ) {}

  static html(body: string, status = 200): RawResponse {
    return new RawResponse(status, body, { 'Content-Type': 'text/html; charset=utf-8' });
  }

  static redirect(location: string, status = 303): RawResponse {
    return new RawResponse(status, '', { Location: location });
  }
}

export type Handler = (req: ApiRequest) => unknown;

export interface RouteOptions {
  /** require `Authorization: Bearer sk_test_...` (default true; false for browser pages) */
  auth?: boolean;
  /**
   * The request stands for something the customer (or cardholder) does rather than an API call of the
   * account: a browser page, or a test helper doing what the customer would. As at Stripe, the events it
   * causes carry `request: { id: null, idempotency_key: null }`. Implied by `auth: false`.
   */
  customerAction?: boolean;
}

interface Route {
  method: Method;
  pattern: string;
  segments: string[];
  literals: number;
  handler: Handler;
  opts: RouteOptions;
}

export interface RouteMatch {
  route: Route;
  pathParams: Record<string, string>;
}

/**
 * Method + path routing with `:param` segments. Literal segments win over parameters
 * (`/v1/customers/search` before `/v1/customers/:id`), whatever the registration order.
 */
export class Router {
  private readonly routes: Route[] = [];

  get(pattern: string, handler: Handler, opts: RouteOptions = {}): void {
    this.add('GET', pattern, handler, opts);
  }

  post(pattern: string, handler: Handler, opts: RouteOptions = {}): void {
    this.add('POST', pattern, handler, opts);
  }

  delete(pattern: string, handler: Handler, opts: RouteOptions = {}): void {
    this.add('DELETE', pattern, handler, opts);
  }

  add(method: Method, pattern: string, handler: Handler, opts: RouteOptions = {}): void {
    const segments = pattern.split('/').filter(Boolean);
    if (this.routes.some((r) => r.method === method && r.pattern === pattern))
      throw new Error(`route registered twice: ${method} ${pattern}`);
    this.routes.push({ method, pattern, segments, literals: segments.filter((s) => !s.startsWith(':')).length, handler, opts });
    this.routes.sort((a, b) => b.literals - a.literals);
  }

  match(method: string, path: string): RouteMatch | undefined {
    const parts = path.split('/').filter(Boolean);
    for (const route of this.routes) {
      if (route.method !== method || route.segments.length !== parts.length) continue;
      const pathParams: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < parts.length; i++) {
        const seg = route.segments[i] as string;
        const part = parts[i] as string;
        if (seg.startsWith(':')) {
          try {
            pathParams[seg.slice(1)] = decodeURIComponent(part);
          } catch {
            ok = false;
            break;
          }
        } else if (seg !== part) {
          ok = false;
          break;
        }
      }
      if (ok) return { route, pathParams };
    }
    return undefined;
  }

  list(): Array<{ method: Method; pattern: string }> {
    return this.routes.map((r) => ({ method: r.method, pattern: r.pattern }));
  }
}
