import type { EntityManager } from '@mikro-orm/postgresql';
import { asDate, query } from '../db/sql';
import { badInput } from '../errors';
import { UUID } from '../ids';
import { checkIdLength, parseInput } from '../input';
import { PageInput, toPage } from '../pagination';
import { MAX_EXTERNAL_ID_LENGTH, type AuthUser } from './principal';

export interface UserRow extends AuthUser {
  createdAt: Date;
}

const COLUMNS = `id, email, role, timezone, external_id as "externalId", name, created_at as "createdAt"`;
export const MAX_QUERY_LENGTH = 200;

/** One user by Tollgate's id or the product's id (exactly one of them), or null. */
export async function findUser(em: EntityManager, by: { id?: string | null; externalId?: string | null }): Promise<UserRow | null> {
  if ((by.id == null) === (by.externalId == null))
    throw badInput('Give either id or externalId', { field: by.id == null ? 'id' : 'externalId' });
  if (by.id != null && !UUID.test(checkIdLength(by.id))) return null;
  if (by.externalId != null && by.externalId.length > MAX_EXTERNAL_ID_LENGTH)
    throw badInput(`externalId is longer than ${MAX_EXTERNAL_ID_LENGTH} characters`, { field: 'externalId' });
  const [row] = await query<UserRow>(em, `select ${COLUMNS} from app_user where ${by.id != null ? 'id' : 'external_id'} = $1`, [
    by.id ?? by.externalId,
  ]);
  return row ? { ...row, createdAt: asDate(row.createdAt) } : null;
}

/** Users newest first; `search` matches part of the email, the product's id or the name. */
export async function listUsers(em: EntityManager, options: { first?: number | null; after?: string | null; search?: string | null }) {
  const { first, after } = parseInput(PageInput, { first: options.first, after: options.after });
  const search = options.search?.trim() || null;
  if (search && search.length > MAX_QUERY_LENGTH)
    throw badInput(`query must be at most ${MAX_QUERY_LENGTH} characters`, { field: 'query' });
  const pattern = search && `%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  const rows = await query<UserRow>(
    em,
    `select ${COLUMNS} from app_user
      where ($1::timestamptz is null or (created_at, id) < ($1, $2::uuid))
        and ($3::text is null or email ilike $3 or external_id ilike $3 or name ilike $3)
      order by created_at desc, id desc limit $4`,
    [after?.createdAt ?? null, after?.id ?? null, pattern, first + 1],
  );
  return toPage(
    rows.map((row) => ({ ...row, createdAt: asDate(row.createdAt) })),
    first,
  );
}
