/** Our row ids (users, subscriptions, payments), as clients send them and as they appear in Stripe metadata. */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The id of a Stripe reference, whether the SDK gave it as an id or expanded it into the object. */
export function stripeId(value: string | { id: string } | null | undefined): string | null {
  if (!value) return null;
  return typeof value === 'string' ? value : value.id;
}
