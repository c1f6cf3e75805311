import { badInput } from './errors';
import { UUID } from './ids';

/** Lists are read newest first, `first` rows at a time, after an opaque cursor (creation time and id). */
export const PAGE_DEFAULT = 20;
export const PAGE_MAX = 100;

export interface Cursor {
  createdAt: Date;
  id: string;
}

export function pageSize(first: number | null | undefined): number {
  const size = first ?? PAGE_DEFAULT;
  if (!Number.isInteger(size) || size < 1 || size > PAGE_MAX) throw badInput(`first must be between 1 and ${PAGE_MAX}`, { field: 'first' });
  return size;
}

export const encodeCursor = (row: Cursor) => Buffer.from(JSON.stringify([row.createdAt.toISOString(), row.id])).toString('base64url');

export function decodeCursor(cursor: string): Cursor {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
    const createdAt = new Date(at);
    if (typeof id === 'string' && UUID.test(id) && !Number.isNaN(createdAt.getTime())) return { createdAt, id };
  } catch {
    // fall through
  }
  throw badInput('Invalid cursor "after": pass an endCursor or edge cursor from a previous page', { field: 'after' });
}

/** One page out of `size + 1` rows read: the extra row only says that there is a next page. */
export function toPage<T extends Cursor>(rows: T[], size: number): { nodes: T[]; cursors: string[]; hasNextPage: boolean } {
  const nodes = rows.slice(0, size);
  return { nodes, cursors: nodes.map(encodeCursor), hasNextPage: rows.length > size };
}
