/** Every event type the product can receive (docs/events.md). */
export const EVENT_TYPES = [
  'user.created',
  'subscription.created',
  'subscription.updated',
  'subscription.renewed',
  'subscription.ended',
  'subscription.trial_will_end',
  'payment.succeeded',
  'payment.failed',
  'payment.refunded',
  'payment.disputed',
  'usage.limit_reached',
  'usage.threshold',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Whether an endpoint's pattern (a type, `prefix.*` or `*`) takes this type; the fan-out trigger decides the same way. */
export function matches(pattern: string, type: string): boolean {
  return pattern === '*' || pattern === type || (pattern.endsWith('.*') && type.split('.')[0] === pattern.slice(0, -2));
}

/** A pattern some event type matches. */
export function isKnownPattern(pattern: string): boolean {
  return EVENT_TYPES.some((type) => matches(pattern, type));
}
