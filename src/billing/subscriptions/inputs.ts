import { badInput } from '../../errors';

export interface SubscribeInput {
  pricingId: string;
  paymentMethod?: string | null;
  successUrl?: string | null;
  cancelUrl?: string | null;
  idempotencyKey?: string | null;
}

export function clientUrl(value: string | null | undefined, field: string): string | null {
  if (value === undefined || value === null || value === '') return null;
  try {
    const url = new URL(value);
    if (url.protocol === 'http:' || url.protocol === 'https:') return url.toString();
  } catch {
    // fall through
  }
  throw badInput(`${field} must be an absolute http(s) URL`, { field });
}

/** The longest idempotency key a client may send (it is stored and put in Stripe metadata). */
const MAX_KEY_LENGTH = 200;

export function clientKey(value: string | null | undefined): string | null {
  if (value === undefined || value === null) return null;
  const key = value.trim();
  if (!key) throw badInput('idempotencyKey must not be empty', { field: 'idempotencyKey' });
  if (key.length > MAX_KEY_LENGTH)
    throw badInput(`idempotencyKey is longer than ${MAX_KEY_LENGTH} characters`, { field: 'idempotencyKey' });
  return key;
}
