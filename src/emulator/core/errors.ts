/**
 * Stripe's error envelope. Every failure the emulator answers is an ApiError rendered as
 * `{ error: { type, code?, decline_code?, message, param?, doc_url?, ... } }` with Stripe's HTTP status.
 */
export type ErrorType =
  'api_error' | 'card_error' | 'idempotency_error' | 'invalid_request_error' | 'rate_limit_error' | 'authentication_error';

export interface ErrorBody {
  type: ErrorType;
  message: string;
  code?: string;
  decline_code?: string;
  param?: string;
  doc_url?: string;
  charge?: string;
  payment_intent?: unknown;
  payment_method?: unknown;
  payment_method_type?: string;
  advice_code?: string;
  [extra: string]: unknown;
}

export class ApiError extends Error {
  readonly status: number;
  readonly body: ErrorBody;
  /**
   * Stripe saves the response of an idempotent request only once the endpoint started executing:
   * a request refused by parameter validation is not saved and may be retried with the same key.
   */
  readonly idempotentSave: boolean;

  constructor(status: number, body: ErrorBody, opts: { idempotentSave?: boolean } = {}) {
    super(body.message);
    this.status = status;
    this.body =
      body.code && !body.doc_url ? { ...body, doc_url: `https://stripe.com/docs/error-codes/${body.code.replace(/_/g, '-')}` } : body;
    this.idempotentSave = opts.idempotentSave ?? (status === 402 || status >= 500);
  }

  toJSON(): { error: ErrorBody } {
    return { error: this.body };
  }
}

export function invalidRequest(
  message: string,
  extra: { param?: string; code?: string; status?: number; save?: boolean } & Record<string, unknown> = {},
): ApiError {
  const { status, save, ...rest } = extra;
  return new ApiError(status ?? 400, { type: 'invalid_request_error', message, ...stripUndefined(rest) }, { idempotentSave: save });
}

export function missingParam(param: string): ApiError {
  return invalidRequest(`Missing required param: ${param}.`, { param, code: 'parameter_missing' });
}

export function resourceMissing(kind: string, id: string, param = 'id'): ApiError {
  return new ApiError(404, { type: 'invalid_request_error', code: 'resource_missing', message: `No such ${kind}: '${id}'`, param });
}

export function unrecognizedUrl(method: string, path: string): ApiError {
  return new ApiError(404, {
    type: 'invalid_request_error',
    message: `Unrecognized request URL (${method}: ${path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
  });
}

export function authenticationError(message: string): ApiError {
  return new ApiError(401, { type: 'invalid_request_error', message });
}

export function idempotencyMismatch(key: string): ApiError {
  return new ApiError(400, {
    type: 'idempotency_error',
    message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
  });
}

export function idempotencyWrongEndpoint(key: string, first: string, now: string): ApiError {
  return new ApiError(400, {
    type: 'idempotency_error',
    message: `Keys for idempotent requests can only be used for the same endpoint they were first used for ('${first}' vs '${now}'). Try using a key other than '${key}' if you meant to execute a different request.`,
  });
}

export function idempotencyInProgress(key: string): ApiError {
  return new ApiError(409, {
    type: 'idempotency_error',
    code: 'idempotency_key_in_use',
    message: `There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): ${key}. Please try again later.`,
  });
}

export function internalError(): ApiError {
  return new ApiError(500, { type: 'api_error', message: 'An unknown error occurred in the Stripe emulator.' });
}

function stripUndefined<T extends Record<string, unknown>>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as T;
}
