import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { EntityManager } from '@mikro-orm/postgresql';
import { User } from '../entities';
import { USER_TOKEN_PREFIX } from './secrets';
import { createUser } from './users';
import { hasUserToken, issueUserToken } from './userTokens';

/**
 * The demo user of local mode and its token. The token stays the same across restarts, so headers saved
 * in an explorer keep working: the database holds its hash as for any token, and `tokenFile` (readable
 * by its owner only) holds the token itself, which the banner prints. When the file is missing or its
 * token no longer works (revoked, another database), a new one replaces every other token of the user.
 */
export async function ensureDemoUser(em: EntityManager, address: string, tokenFile: string): Promise<{ user: User; token: string }> {
  const user = await demoUser(em, address);
  const saved = readToken(tokenFile);
  if (saved && (await hasUserToken(em, user.id, saved))) return { user, token: saved };
  const token = await issueUserToken(em, user.id, { revokeOthers: true });
  mkdirSync(dirname(tokenFile), { recursive: true });
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  chmodSync(tokenFile, 0o600); // a file that existed keeps its mode through writeFileSync
  return { user, token };
}

async function demoUser(em: EntityManager, address: string): Promise<User> {
  const existing = await em.findOne(User, { email: address });
  if (existing) return existing;
  try {
    return (await createUser(em, { email: address })).user;
  } catch (err) {
    // Created by another process meanwhile.
    const again = await em.fork().findOne(User, { email: address });
    if (!again) throw err;
    return again;
  }
}

function readToken(file: string): string | undefined {
  try {
    const token = readFileSync(file, 'utf8').trim();
    return token.startsWith(USER_TOKEN_PREFIX) && /^[A-Za-z0-9_-]+$/.test(token) ? token : undefined;
  } catch {
    return undefined;
  }
}
