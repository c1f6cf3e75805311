import type Stripe from 'stripe';

/** The id of a reference that may be an id, an expanded object, or null. */
export function idOf(ref: string | { id: string } | null | undefined): string | null {
  if (!ref) return null;
  return typeof ref === 'string' ? ref : ref.id;
}

/** Decimal fields travel as strings on the wire (the SDK turns them into its Decimal type on the way in). */
export function wireDecimal(value: string | null | undefined): Stripe.Decimal | null {
  return value === null || value === undefined ? null : (value as unknown as Stripe.Decimal);
}

export const HOUR = 3600;
export const DAY = 86_400;
