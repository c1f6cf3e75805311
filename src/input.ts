import { z } from 'zod';
import { badInput } from './errors';

/**
 * The longest value a client may send for each kind of text input (README, "Input limits"). Every one is
 * checked before anything is read or written: an index entry (btree) holds at most ~2.7 KB, and nothing
 * a client sends should reach the database, Stripe or a log line unbounded.
 */
export const MAX_LENGTH = {
  /** idempotencyKey of recordUsage, createPayment and subscribe (stored, indexed, put in Stripe metadata) */
  idempotencyKey: 200,
  /** our ids (payments, subscriptions, users, pricing options) are 36-character UUIDs */
  id: 64,
  /** a plan's code, a usage metric */
  code: 100,
  /** pagination cursors (ours are about 80 characters) */
  cursor: 200,
  /** successUrl, cancelUrl */
  url: 2048,
  /** decimal amounts and currency codes */
  amount: 40,
} as const;

/** Client input quoted in a message: at most `max` characters, the rest elided. */
export function shorten(value: string, max = 40): string {
  return value.length > max ? `${value.slice(0, max)}…` : value;
}

/** A string of at most `max` characters, or BAD_USER_INPUT naming the field (zod's own check: cheap). */
export const boundedString = (field: string, max: number) => z.string().max(max, `${field} is longer than ${max} characters`);

/** An id a client sent: BAD_USER_INPUT when longer than any id can be, so no id lookup reads unbounded input. */
export function checkIdLength(id: string, field = 'id'): string {
  if (id.length > MAX_LENGTH.id) throw badInput(`${field} is longer than ${MAX_LENGTH.id} characters`, { field });
  return id;
}

/**
 * Parses what a client sent with the input's zod schema, before anything is read or written. The first
 * problem becomes BAD_USER_INPUT naming its field; a custom issue's params become extensions too (a
 * money error carries its amounts).
 */
export function parseInput<S extends z.ZodTypeAny>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue.path.join('.');
  const params = issue.code === 'custom' ? (issue.params ?? {}) : {};
  throw badInput(issue.message, { ...params, ...(field ? { field } : {}) });
}
