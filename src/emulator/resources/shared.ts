import type Stripe from 'stripe';
import { invalidRequest } from '../core/errors';
import type { Params } from '../core/params';

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function email(p: Params, key = 'email'): string | null | undefined {
  const v = p.nullableStr(key, { max: 512 });
  if (v && !EMAIL.test(v)) throw invalidRequest(`Invalid email address: ${v}`, { param: p.name(key), code: 'email_invalid' });
  return v;
}

/** An address hash (`address[line1]`, ...); null when sent empty, undefined when absent. */
export function address(p: Params, key = 'address'): Stripe.Address | null | undefined {
  const a = p.obj(key);
  if (a === undefined || a === null) return a;
  return {
    city: a.str('city') ?? null,
    country: a.str('country') ?? null,
    line1: a.str('line1') ?? null,
    line2: a.str('line2') ?? null,
    postal_code: a.str('postal_code') ?? null,
    state: a.str('state') ?? null,
  };
}

export interface ShippingDetails {
  address: Stripe.Address;
  carrier: string | null;
  name: string;
  phone: string | null;
  tracking_number: string | null;
}

export function shipping(p: Params, key = 'shipping'): ShippingDetails | null | undefined {
  const s = p.obj(key);
  if (s === undefined || s === null) return s;
  return {
    address: address(s, 'address') ?? emptyAddress(),
    carrier: s.str('carrier') ?? null,
    name: s.reqStr('name'),
    phone: s.str('phone') ?? null,
    tracking_number: s.str('tracking_number') ?? null,
  };
}

export function emptyAddress(): Stripe.Address {
  return { city: null, country: null, line1: null, line2: null, postal_code: null, state: null };
}

/** Applies `value` to `target[key]` when the parameter was sent (undefined = leave as is). */
export function set<T, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}
