import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  ApiError,
  authenticationError,
  idempotencyInProgress,
  idempotencyMismatch,
  idempotencyWrongEndpoint,
  internalError,
  invalidRequest,
  unrecognizedUrl,
} from './errors';
import { NO_REQUEST, type EmulatorContext, type RequestInfo } from './context';
import { expandResponse } from './expand';
import { randomToken } from './ids';
import { isUnsafeKey, MAX_PARAM_DEPTH, Params, parseForm, tooDeep, type FormObject, type FormValue } from './params';
import { RawResponse, type ApiRequest, type Method, type Router } from './router';

const MAX_BODY_BYTES = 1024 * 1024;
/** Sent as the Server header of every answer, so a client (npm run doctor) can tell the emulator from the real Stripe. */
export const EMULATOR_SERVER_HEADER = 'tollgate-stripe-emulator';
const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

interface SavedResponse {
  method: string;
  path: string;
  paramsHash: string;
  status: number;
  body: string;
  requestId: string;
  savedAt: number;
}

/**
 * The request pipeline: authentication, parameter parsing, idempotency, routing, Stripe's error
 * envelope, `expand[]`, JSON rendering. Returns the node:http request listener.
 */
export function createRequestListener(ctx: EmulatorContext, router: Router, log: (msg: string, fields?: object) => void) {
  const saved = ctx.store.bucket<SavedResponse>('idempotency');
  const inProgress = new Set<string>();

  return (req: IncomingMessage, res: ServerResponse): void => {
    const started = Date.now();
    const requestId = `req_${randomToken(14)}`;
    const method = (req.method ?? 'GET').toUpperCase();
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://emulator.invalid');
    } catch {
      url = new URL('http://emulator.invalid/invalid-url');
    }
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const apiVersion = headerString(req.headers['stripe-version']) ?? ctx.apiVersion;
    const idempotencyKey = headerString(req.headers['idempotency-key']) ?? null;

    const send = (status: number, body: string | Buffer, headers: Record<string, string>) => {
      if (res.headersSent) return;
      res.writeHead(status, {
        Server: EMULATOR_SERVER_HEADER,
        'Request-Id': requestId,
        'Stripe-Version': apiVersion,
        'Cache-Control': 'no-cache, no-store',
        'Access-Control-Allow-Origin': '*',
        ...(idempotencyKey && method === 'POST' ? { 'Idempotency-Key': idempotencyKey } : {}),
        ...headers,
      });
      res.end(body);
      log('request', { method, path, status, request_id: requestId, idempotency_key: idempotencyKey, ms: Date.now() - started });
    };
    const sendJson = (status: number, value: unknown, headers: Record<string, string> = {}) =>
      send(status, JSON.stringify(value, null, 2), { 'Content-Type': 'application/json', ...headers });
    const sendError = (err: ApiError) =>
      sendJson(err.status, err.toJSON(), err.status === 401 ? { 'WWW-Authenticate': 'Basic realm="Stripe"' } : {});

    readBody(req)
      .then(async (rawBody) => {
        const match = method === 'GET' || method === 'POST' || method === 'DELETE' ? router.match(method, path) : undefined;
        const needsAuth = match ? match.route.opts.auth !== false : path.startsWith('/v1/');
        if (needsAuth) {
          const authError = checkAuth(req.headers.authorization);
          if (authError) return sendError(authError);
        }
        if (!match) return sendError(unrecognizedUrl(method, url.pathname));
        if (!/^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$/.test(apiVersion))
          return sendError(invalidRequest(`Invalid Stripe API version: ${apiVersion}`, { param: 'Stripe-Version' }));

        const raw = parseParams(method, url.search.slice(1), rawBody, headerString(req.headers['content-type']) ?? '');
        const origin = `${(req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http'}://${req.headers.host ?? new URL(ctx.baseUrl || 'http://127.0.0.1').host}`;
        const apiReq: ApiRequest = {
          method: method as Method,
          path,
          pathParams: match.pathParams,
          params: new Params(raw),
          query: url.searchParams,
          headers: req.headers,
          rawBody,
          requestId,
          idempotencyKey,
          apiVersion,
          origin,
          ctx,
        };

        // Idempotency: POST only, keyed by the Idempotency-Key header (one account, so one key space).
        let idemKey: string | null = null;
        let paramsHash = '';
        if (method === 'POST' && idempotencyKey && match.route.opts.auth !== false) {
          if (idempotencyKey.length > 255)
            return sendError(invalidRequest('Idempotency-Key must be at most 255 characters long.', { param: 'Idempotency-Key' }));
          idemKey = idempotencyKey;
          paramsHash = hashParams(raw);
          prune(saved);
          const prior = saved.get(idemKey);
          if (prior) {
            if (prior.method !== method || prior.path !== path)
              return sendError(idempotencyWrongEndpoint(idemKey, `${prior.method} ${prior.path}`, `${method} ${path}`));
            if (prior.paramsHash !== paramsHash) return sendError(idempotencyMismatch(idemKey));
            return send(prior.status, prior.body, {
              'Content-Type': 'application/json',
              'Idempotent-Replayed': 'true',
              'Original-Request': prior.requestId,
            });
          }
          if (inProgress.has(idemKey)) return sendError(idempotencyInProgress(idemKey));
          inProgress.add(idemKey);
        }

        let status = 200;
        let body: string;
        let save = true;
        try {
          const { auth, customerAction } = match.route.opts;
          const attributed: RequestInfo =
            auth === false || customerAction ? NO_REQUEST : { id: requestId, idempotency_key: idempotencyKey };
          const result = await ctx.withRequest(attributed, async () => match.route.handler(apiReq));
          if (result instanceof RawResponse) {
            if (method !== 'GET') ctx.store.changed();
            return send(result.status, result.body, result.headers);
          }
          const expand = apiReq.params.expand();
          const value = expand.length ? expandResponse(ctx, JSON.parse(JSON.stringify(result)), expand) : result;
          body = JSON.stringify(value, null, 2);
        } catch (e) {
          let err: ApiError;
          if (e instanceof ApiError) {
            err = e;
          } else {
            log('internal error', { method, path, request_id: requestId, error: (e as Error)?.stack ?? String(e) });
            err = internalError();
          }
          status = err.status;
          body = JSON.stringify(err.toJSON(), null, 2);
          save = err.idempotentSave;
        } finally {
          if (idemKey) inProgress.delete(idemKey);
        }
        if (idemKey && save) saved.set(idemKey, { method, path, paramsHash, status, body, requestId, savedAt: Date.now() });
        if (method !== 'GET') ctx.store.changed();
        send(status, body, { 'Content-Type': 'application/json' });
      })
      .catch((e: unknown) => {
        if (e instanceof ApiError) return sendError(e);
        log('internal error', { method, path, request_id: requestId, error: (e as Error)?.stack ?? String(e) });
        sendError(internalError());
      });
  };
}

function headerString(v: string | string[] | undefined): string | undefined {
  if (Array.isArray(v)) return v[0];
  return v === undefined || v === '' ? undefined : v;
}

/**
 * The request body as text. A body over MAX_BODY_BYTES is read to its end without being kept, then refused
 * with a 413 in Stripe's envelope (cutting the connection would leave the client with no answer at all).
 */
function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY_BYTES) chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_BODY_BYTES) reject(invalidRequest(`Request body too large: the limit is ${MAX_BODY_BYTES} bytes.`, { status: 413 }));
      else resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}

const API_KEY_HELP =
  "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.";

/** Any `sk_test_` (or restricted `rk_test_`) key is accepted: one account for all. */
function checkAuth(header: string | undefined): ApiError | null {
  if (!header) return authenticationError(API_KEY_HELP);
  let key: string | undefined;
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
  const basic = /^Basic\s+(\S+)\s*$/i.exec(header);
  if (bearer) key = bearer[1];
  else if (basic)
    key = Buffer.from(basic[1] as string, 'base64')
      .toString('utf8')
      .split(':')[0];
  if (!key) return authenticationError(API_KEY_HELP);
  if (/^pk_(test|live)_/.test(key)) {
    return authenticationError(
      'This API call cannot be made with a publishable API key. Please use a secret API key. You can find a list of your API keys at https://dashboard.stripe.com/account/apikeys.',
    );
  }
  if (!/^(sk|rk)_test_\w+$/.test(key)) return authenticationError(`Invalid API Key provided: ${maskKey(key)}`);
  return null;
}

function maskKey(key: string): string {
  const m = /^([a-z]{2}_(?:test|live)_)/.exec(key);
  const head = m ? (m[1] as string) : key.slice(0, Math.min(3, key.length));
  const tail = key.length > head.length + 4 ? key.slice(-4) : '';
  return `${head}${'*'.repeat(Math.max(0, key.length - head.length - tail.length))}${tail}`;
}

function parseParams(method: string, query: string, body: string, contentType: string): FormObject {
  const fromQuery = parseForm(query);
  if (method !== 'POST' || !body) return fromQuery;
  if (/application\/json/i.test(contentType)) {
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      throw invalidRequest('Invalid JSON body. The API accepts form-encoded parameters (application/x-www-form-urlencoded).');
    }
    if (!json || typeof json !== 'object' || Array.isArray(json))
      throw invalidRequest('Invalid JSON body: the parameters must be a JSON object.');
    return { ...fromQuery, ...(jsonToForm(json) as FormObject) };
  }
  return { ...fromQuery, ...parseForm(body) };
}

function jsonToForm(v: unknown, depth = 0): FormValue {
  if (v === null || v === undefined) return '';
  if (typeof v !== 'object') return String(v);
  if (depth >= MAX_PARAM_DEPTH) throw tooDeep();
  if (Array.isArray(v)) return v.map((x) => jsonToForm(x, depth + 1));
  const out: FormObject = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (!isUnsafeKey(k)) out[k] = jsonToForm(x, depth + 1);
  return out;
}

function hashParams(raw: FormObject): string {
  return createHash('sha256').update(canonical(raw)).digest('hex');
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

function prune(saved: Map<string, SavedResponse>): void {
  const cutoff = Date.now() - IDEMPOTENCY_TTL_MS;
  for (const [k, v] of saved) {
    if (v.savedAt >= cutoff) break;
    saved.delete(k);
  }
}
