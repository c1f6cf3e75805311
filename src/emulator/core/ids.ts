import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** A random base62 string, as Stripe's ids and secrets use. */
export function randomToken(length: number): string {
  const bytes = randomBytes(length * 2);
  let out = '';
  for (let i = 0; out.length < length && i < bytes.length; i++) {
    const b = bytes[i] as number;
    if (b < 248) out += ALPHABET[b % 62];
  }
  while (out.length < length) out += ALPHABET[Math.floor(Math.random() * 62)];
  return out;
}

/** `prefix_` + 24 random base62 characters, e.g. `cus_Q1w2E3r4T5y6U7i8O9p0AaBb` */
export function newId(prefix: string): string {
  return `${prefix}_${randomToken(24)}`;
}
