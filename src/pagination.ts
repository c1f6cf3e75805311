import { z } from 'zod';
import { UUID } from './ids';
import { MAX_LENGTH } from './input';

/**
 * Lists are read newest first, `first` rows at a time, after an opaque cursor: the last row's creation
 * time and id (base64url JSON), so a page is one index range whatever was added meanwhile.
 */
export const PAGE_DEFAULT = 20;
export const PAGE_MAX = 100;

export interface PageCursor {
  createdAt: Date;
  id: string;
}

export const encodeCursor = (row: PageCursor) => Buffer.from(JSON.stringify([row.createdAt.toISOString(), row.id])).toString('base64url');

/** The position a client's cursor names; null when it is not one we made. */
export function decodeCursor(cursor: string): PageCursor | null {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
    const createdAt = new Date(at);
    if (typeof id === 'string' && UUID.test(id) && !Number.isNaN(createdAt.getTime())) return { createdAt, id };
  } catch {
    // not JSON: not ours
  }
  return null;
}

const FIRST_RANGE = `first must be between 1 and ${PAGE_MAX}`;

/** `first` and `after` of every list, parsed with parseInput. */
export const PageInput = z.object({
  first: z
    .number({ invalid_type_error: FIRST_RANGE })
    .nullish()
    .transform((v) => v ?? PAGE_DEFAULT)
    .refine((v) => Number.isInteger(v) && v >= 1 && v <= PAGE_MAX, FIRST_RANGE),
  after: z
    .string()
    .max(MAX_LENGTH.cursor, `Invalid cursor "after": longer than ${MAX_LENGTH.cursor} characters`)
    .nullish()
    .transform((v, ctx) => {
      if (!v) return null;
      const position = decodeCursor(v);
      if (position) return position;
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: 'Invalid cursor "after": pass an endCursor or edge cursor from a previous page',
      });
      return z.NEVER;
    }),
});

/** One page out of the `first + 1` rows read: the extra row only says that there is a next page. */
export function toPage<T extends PageCursor>(rows: T[], first: number): { nodes: T[]; cursors: string[]; hasNextPage: boolean } {
  return toPageBy(rows, first, (row) => row);
}

/** toPage for rows ordered by another time than their own creation (`position` says which). */
export function toPageBy<T>(
  rows: T[],
  first: number,
  position: (row: T) => PageCursor,
): { nodes: T[]; cursors: string[]; hasNextPage: boolean } {
  const nodes = rows.slice(0, first);
  return { nodes, cursors: nodes.map((row) => encodeCursor(position(row))), hasNextPage: rows.length > first };
}
