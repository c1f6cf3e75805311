import { createHash, randomBytes } from 'node:crypto';

/** A user's API token starts with this; a service API key with API_KEY_PREFIX. */
export const USER_TOKEN_PREFIX = 'tg_';
export const API_KEY_PREFIX = 'tg_sk_';

/** 32 random bytes; a user token never looks like a service key, so the prefix alone says which table to ask. */
function newSecret(prefix: string): string {
  for (;;) {
    const secret = `${prefix}${randomBytes(32).toString('base64url')}`;
    if (prefix === API_KEY_PREFIX || !secret.startsWith(API_KEY_PREFIX)) return secret;
  }
}

export const newToken = () => newSecret(USER_TOKEN_PREFIX);
export const newApiKey = () => newSecret(API_KEY_PREFIX);

/** Only this is stored: a secret of 32 random bytes needs no slow hash. */
export function hashToken(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** What lists show of a key: the prefix and 8 characters, enough to tell keys apart, too few to use. */
export const visiblePrefix = (key: string) => key.slice(0, API_KEY_PREFIX.length + 8);
