import type { z } from 'zod';
import { badInput } from './errors';

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
