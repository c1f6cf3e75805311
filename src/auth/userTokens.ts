import type { EntityManager } from '@mikro-orm/postgresql';
import { query } from '../db/sql';
import { hashToken, newToken } from './secrets';

/**
 * Issues a new API token for the user (shown once; only its hash is stored). With `revokeOthers` the
 * user's other tokens stop working in the same transaction.
 */
export async function issueUserToken(em: EntityManager, userId: string, options: { revokeOthers?: boolean } = {}): Promise<string> {
  const token = newToken();
  await em.transactional(async (tx) => {
    if (options.revokeOthers) await query(tx, 'delete from user_token where user_id = $1', [userId]);
    await query(
      tx,
      `insert into user_token (id, created_at, updated_at, user_id, token_hash) values (gen_random_uuid(), now(), now(), $1, $2)`,
      [userId, hashToken(token)],
    );
  });
  return token;
}

/** Whether `token` is one of the user's tokens that still work. */
export async function hasUserToken(em: EntityManager, userId: string, token: string): Promise<boolean> {
  const rows = await query(em, 'select 1 from user_token where user_id = $1 and token_hash = $2', [userId, hashToken(token)]);
  return rows.length > 0;
}

/** Revokes every token of the user; returns how many there were. */
export async function revokeUserTokens(em: EntityManager, userId: string): Promise<number> {
  const rows = await query(em, 'delete from user_token where user_id = $1 returning id', [userId]);
  return rows.length;
}
