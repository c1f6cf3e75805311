import type { Payment } from '../../entities';
import { UUID } from '../../ids';

/** Where a page of payments ends: the payment's createdAt and id, opaque to clients (base64url JSON). */
export interface PageCursor {
  createdAt: Date;
  id: string;
}

export const encodeCursor = (p: Payment) => Buffer.from(JSON.stringify([p.createdAt.toISOString(), p.id])).toString('base64url');

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
