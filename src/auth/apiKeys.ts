import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { asDate, query } from '../db/sql';
import { ApiKeyScope } from '../entities';
import { badInput, conflict, notFound } from '../errors';
import { parseInput, shorten } from '../input';
import { API_KEY_PREFIX, hashToken, newApiKey, visiblePrefix } from './secrets';

/** What lists and answers show of a key: everything but the key. */
export interface ApiKeyInfo {
  id: string;
  name: string;
  prefix: string;
  scopes: ApiKeyScope[];
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

export const MAX_KEY_NAME_LENGTH = 100;
const SCOPES = Object.values(ApiKeyScope);

const NewApiKeySchema = z.object({
  name: z
    .string()
    .transform((v) => v.trim())
    .superRefine((v, ctx) => {
      if (!v || v.length > MAX_KEY_NAME_LENGTH || /\p{Cc}/u.test(v)) {
        ctx.addIssue({ code: 'custom', message: `name must be 1 to ${MAX_KEY_NAME_LENGTH} characters without control characters` });
      }
    }),
  scopes: z
    .array(z.string())
    .max(SCOPES.length * 2)
    .transform((list, ctx) => {
      const unknown = list.filter((s) => !SCOPES.includes(s as ApiKeyScope));
      if (unknown.length || list.length === 0) {
        ctx.addIssue({ code: 'custom', message: `scopes must be one or more of ${SCOPES.join(', ')}` });
        return z.NEVER;
      }
      return [...new Set(list)].sort() as ApiKeyScope[];
    }),
});
export type NewApiKey = z.input<typeof NewApiKeySchema>;

const COLUMNS = `id, name, prefix, scopes, created_at as "createdAt", last_used_at as "lastUsedAt", revoked_at as "revokedAt"`;

const withDates = (k: ApiKeyInfo): ApiKeyInfo => ({
  ...k,
  createdAt: asDate(k.createdAt),
  lastUsedAt: asDate(k.lastUsedAt),
  revokedAt: asDate(k.revokedAt),
});

/** Makes a service API key; the key is in this answer only (its sha256 is what is stored). */
export async function createApiKey(em: EntityManager, input: NewApiKey): Promise<{ apiKey: ApiKeyInfo; key: string }> {
  const v = parseInput(NewApiKeySchema, input);
  const key = newApiKey();
  try {
    const [apiKey] = await query<ApiKeyInfo>(
      em,
      `insert into api_key (id, created_at, updated_at, name, prefix, key_hash, scopes)
       values (gen_random_uuid(), now(), now(), $1, $2, $3, $4) returning ${COLUMNS}`,
      [v.name, visiblePrefix(key), hashToken(key), v.scopes],
    );
    return { apiKey: withDates(apiKey), key };
  } catch (err) {
    if ((err as { code?: string }).code === '23505')
      throw conflict(`An API key named "${shorten(v.name)}" exists: revoke it first, or choose another name`, { field: 'name' });
    throw err;
  }
}

/** Every key, newest first; revoked ones with `includeRevoked`. */
export async function listApiKeys(em: EntityManager, options: { includeRevoked?: boolean } = {}): Promise<ApiKeyInfo[]> {
  const where = options.includeRevoked ? '' : 'where revoked_at is null';
  return (await query<ApiKeyInfo>(em, `select ${COLUMNS} from api_key ${where} order by created_at desc, id desc`)).map(withDates);
}

/**
 * Revokes the key with this name, or this visible prefix (`tg_sk_` and 8 characters), or this id. It
 * stops working at once: every request looks its key up.
 */
export async function revokeApiKey(em: EntityManager, which: string): Promise<ApiKeyInfo> {
  const given = which.trim();
  if (!given || given.length > 200) throw badInput('Name the key to revoke by its name, its prefix or its id', { field: 'key' });
  const byPrefix = given.startsWith(API_KEY_PREFIX);
  const rows = await query<ApiKeyInfo>(
    em,
    `update api_key set revoked_at = now(), updated_at = now()
      where revoked_at is null and (${byPrefix ? 'prefix = $1' : 'name = $1 or id::text = $1'})
      returning ${COLUMNS}`,
    [given],
  );
  if (rows.length === 0) throw notFound(`API key "${shorten(given)}"`);
  return withDates(rows[0]);
}
