import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Deliveries are signed as Stripe signs its webhooks: `Tollgate-Signature: t=<unix>,v1=<hex>`, where v1 is
 * the HMAC-SHA256 of "<t>.<body>" with the endpoint's secret. Receivers check it and the age of t.
 */

export const SIGNATURE_HEADER = 'Tollgate-Signature';

export const newEndpointSecret = (): string => `whsec_${randomBytes(24).toString('base64url')}`;

export function signatureHeader(secret: string, body: string, t = Math.floor(Date.now() / 1000)): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

/** Whether a header signs this body with this secret within `toleranceSeconds` (what receivers do; used by tests and docs). */
export function verifySignature(secret: string, body: string, header: string, toleranceSeconds = 300): boolean {
  const parts = Object.fromEntries(header.split(',').map((kv) => kv.split('=', 2) as [string, string]));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) > toleranceSeconds || !parts.v1) return false;
  const expected = Buffer.from(createHmac('sha256', secret).update(`${t}.${body}`).digest('hex'));
  const given = Buffer.from(parts.v1);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
