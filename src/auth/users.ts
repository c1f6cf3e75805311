import { createHash, randomBytes } from 'node:crypto';
import { UniqueConstraintViolationException, type EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { User, UserRole } from '../entities';
import { query } from '../db/sql';
import { conflict } from '../errors';
import { parseInput } from '../input';

/** API tokens: 32 random bytes, shown once; only their sha256 is stored. */
export function newToken(): string {
  return `tg_${randomBytes(32).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * The canonical spelling of an IANA time zone name ("europe/berlin" -> "Europe/Berlin", "Etc/UTC" ->
 * "UTC"), or undefined when it is none. Offsets such as "+02:00" (which newer Node versions accept) are
 * not names: a user's day follows a place, with its daylight-saving changes.
 */
export function canonicalTimeZone(tz: string): string | undefined {
  if (!/^[A-Za-z]/.test(tz)) return undefined;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

export interface NewUser {
  email: string;
  admin?: boolean;
  timezone?: string;
}

// Keys in the order they are checked: the first problem is the one reported. Messages quote what was given.
const newUserInput = z.object({
  email: z.string().transform((given, ctx) => {
    const email = given.trim().toLowerCase();
    if (/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) return email;
    ctx.addIssue({ code: 'custom', message: `Invalid email "${given}"` });
    return z.NEVER;
  }),
  timezone: z
    .string()
    .nullish()
    .transform((tz, ctx) => {
      const given = tz?.trim() || 'UTC';
      const timezone = canonicalTimeZone(given);
      if (!timezone) {
        ctx.addIssue({ code: 'custom', message: `Unknown time zone "${given}": expected an IANA name such as Europe/Berlin` });
        return z.NEVER;
      }
      return timezone;
    }),
  admin: z.boolean().optional(),
});

export async function createUser(em: EntityManager, input: NewUser): Promise<{ user: User; token: string }> {
  const { email, timezone, admin } = parseInput(newUserInput, input);
  const token = newToken();
  const user = em.create(User, { email, timezone, role: admin ? UserRole.ADMIN : UserRole.USER, tokenHash: hashToken(token) });
  try {
    await em.persistAndFlush(user);
  } catch (err) {
    if (err instanceof UniqueConstraintViolationException) throw conflict(`A user with email ${email} already exists`);
    throw err;
  }
  return { user, token };
}

/** Who is making a request: what every resolver may read of the authenticated user. */
export interface AuthUser {
  id: string;
  email: string;
  role: UserRole;
  timezone: string;
}

/**
 * The user a token belongs to, or null. Accepts the raw token (without "Bearer "). Runs on every
 * authenticated request, so it is one plain statement and a plain object (no entity to hydrate and track).
 */
export async function authenticate(em: EntityManager, token: string): Promise<AuthUser | null> {
  const [row] = await query<AuthUser>(em, 'select id, email, role, timezone from app_user where token_hash = $1 limit 1', [
    hashToken(token),
  ]);
  return row ?? null;
}

/** Creates the demo user when missing and gives it a fresh token (local mode only). */
export async function ensureDemoUser(em: EntityManager, email: string): Promise<{ user: User; token: string }> {
  const token = newToken();
  const existing = await em.findOne(User, { email });
  if (existing) {
    existing.tokenHash = hashToken(token);
    await em.flush();
    return { user: existing, token };
  }
  return createUser(em, { email }).catch(async (err) => {
    // Created by another process meanwhile: rotate its token instead.
    const again = await em.fork().findOne(User, { email });
    if (!again) throw err;
    return ensureDemoUser(em.fork(), email);
  });
}
