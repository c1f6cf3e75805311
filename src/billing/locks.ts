import type { EntityManager } from '@mikro-orm/postgresql';
import { query } from '../db/sql';

/**
 * Serialises the billing mutations of one user: a transaction-scoped advisory lock, released when the
 * surrounding transaction ends. Call it first inside em.transactional().
 */
export async function lockUser(em: EntityManager, userId: string): Promise<void> {
  await query(em, `select pg_advisory_xact_lock(hashtextextended($1, 0))`, [`tollgate:billing:${userId}`]);
}
