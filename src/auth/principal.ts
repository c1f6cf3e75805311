import type { EntityManager } from '@mikro-orm/postgresql';
import { query } from '../db/sql';
import type { ApiKeyScope, UserRole } from '../entities';
import { badInput, DomainError, forbidden } from '../errors';
import type { CredentialCache } from './credentialCache';
import { looksLikeJwt, type JwtVerifier } from './jwt';
import { API_KEY_PREFIX, hashToken } from './secrets';
import { userFromJwt } from './users';

/** What every resolver may read of the user a request acts for. */
export interface AuthUser {
  id: string;
  email: string;
  role: UserRole;
  timezone: string;
  externalId: string | null;
  name: string | null;
}

/** A service API key as a request presents it (never the key itself). */
export interface ServiceKey {
  id: string;
  name: string;
  scopes: ApiKeyScope[];
}

/**
 * Who is calling: a user (their own token, or the product's JWT), or the product's backend with a service
 * key, acting for the user its `Tollgate-User` header names (resolved here; `actingFor` is null when the
 * header names nobody Tollgate knows, `actingForExternalId` keeps what it said).
 */
export type Principal =
  | { kind: 'user'; user: AuthUser; via: 'token' | 'jwt' }
  | { kind: 'service'; key: ServiceKey; actingFor: AuthUser | null; actingForExternalId: string | null };

/** The header a service key names the user it acts for with. */
export const ACTING_USER_HEADER = 'tollgate-user';

export const MAX_EXTERNAL_ID_LENGTH = 200;

export interface Credentials {
  /** The bearer token, without "Bearer ". */
  token: string;
  /** The Tollgate-User header, when sent. */
  actingFor?: string;
}

export interface Authenticator {
  em: EntityManager;
  /** Absent when the product's JWTs are not configured. */
  jwt?: JwtVerifier;
  /** Remembers who a token or key is (credentialCache.ts); absent: every request looks its credential up. */
  credentials?: CredentialCache;
}

/**
 * Turns a request's credentials into its Principal. A credential that is wrong is a DomainError
 * (UNAUTHENTICATED, FORBIDDEN for a header a user may not send, SERVICE_UNAVAILABLE when the JWT keys
 * cannot be fetched). The token and key lookups are one statement each, on the hot path of every request,
 * and are remembered by `credentials` until a change to users, tokens or keys commits.
 */
export async function authenticate({ em, jwt, credentials }: Authenticator, { token, actingFor }: Credentials): Promise<Principal> {
  const remembered = (key: string, load: () => Promise<Principal>) => (credentials ? credentials.principal(key, load) : load());
  if (token.startsWith(API_KEY_PREFIX)) {
    const acting = actingFor === undefined ? null : externalIdOf(actingFor);
    const hash = hashToken(token);
    return remembered(`key ${hash} ${acting ?? ''}`, () => serviceKeyPrincipal(em, hash, acting));
  }
  if (actingFor !== undefined) throw forbidden('Only a service API key may act for another user (the Tollgate-User header)');
  if (jwt && looksLikeJwt(token)) return { kind: 'user', user: await userFromJwt(em, await jwt(token)), via: 'jwt' };
  const hash = hashToken(token);
  return remembered(`token ${hash}`, async () => {
    const user = await userOfToken(em, hash);
    if (!user) throw new DomainError('UNAUTHENTICATED', 'Invalid or revoked token');
    return { kind: 'user', user, via: 'token' };
  });
}

/** The Tollgate-User header's value: a product user id of bounded length without control characters. */
export function externalIdOf(value: string): string {
  const id = value.trim();
  if (!id) throw badInput('The Tollgate-User header is empty: name the product user id to act for', { header: 'Tollgate-User' });
  if (id.length > MAX_EXTERNAL_ID_LENGTH || /\p{Cc}/u.test(id)) {
    throw badInput(`The Tollgate-User header must be at most ${MAX_EXTERNAL_ID_LENGTH} characters without control characters`, {
      header: 'Tollgate-User',
    });
  }
  return id;
}

const USER_COLUMNS = `u.id, u.email, u.role, u.timezone, u.external_id as "externalId", u.name`;

async function userOfToken(em: EntityManager, tokenHash: string): Promise<AuthUser | null> {
  const [row] = await query<AuthUser>(
    em,
    `select ${USER_COLUMNS} from user_token t join app_user u on u.id = t.user_id where t.token_hash = $1 limit 1`,
    [tokenHash],
  );
  return row ?? null;
}

interface KeyRow {
  id: string;
  name: string;
  scopes: ApiKeyScope[];
  user_id: string | null;
  email: string;
  role: UserRole;
  timezone: string;
  external_id: string | null;
  user_name: string | null;
}

/**
 * The key, the user it acts for, and its last-used time, in one statement: last_used_at is written at
 * most once a minute, so a busy key does not turn every request into a write (and, remembered for at most
 * 30 s, a busy key is looked up again at least that often).
 */
async function serviceKeyPrincipal(em: EntityManager, keyHash: string, actingFor: string | null): Promise<Principal> {
  const [row] = await query<KeyRow>(
    em,
    `with k as (select id, name, scopes, last_used_at from api_key where key_hash = $1 and revoked_at is null),
          touched as (update api_key set last_used_at = now()
                       where id = (select id from k) and (last_used_at is null or last_used_at < now() - interval '1 minute'))
     select k.id, k.name, k.scopes, u.id as user_id, u.email, u.role, u.timezone, u.external_id, u.name as user_name
       from k left join app_user u on u.external_id = $2`,
    [keyHash, actingFor],
  );
  if (!row) throw new DomainError('UNAUTHENTICATED', 'Invalid or revoked API key');
  const user: AuthUser | null = row.user_id
    ? { id: row.user_id, email: row.email, role: row.role, timezone: row.timezone, externalId: row.external_id, name: row.user_name }
    : null;
  return { kind: 'service', key: { id: row.id, name: row.name, scopes: row.scopes }, actingFor: user, actingForExternalId: actingFor };
}
