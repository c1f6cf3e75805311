import { UniqueConstraintViolationException, type EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { newEventId, userCreatedEventCte } from '../db/outbox';
import { query } from '../db/sql';
import { User, UserRole } from '../entities';
import { badInput, conflict, DomainError, notFound } from '../errors';
import { parseInput, shorten } from '../input';
import type { JwtIdentity } from './jwt';
import type { AuthUser } from './principal';
import { MAX_EXTERNAL_ID_LENGTH } from './principal';
import { issueUserToken } from './userTokens';

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

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
export const MAX_EMAIL_LENGTH = 254;
export const MAX_NAME_LENGTH = 200;
const CONTROL = /\p{Cc}/u;

// Messages quote what was given (shortened).
const email = z.string().transform((given, ctx) => {
  const address = given.trim().toLowerCase();
  if (address.length <= MAX_EMAIL_LENGTH && EMAIL.test(address)) return address;
  ctx.addIssue({ code: 'custom', message: `Invalid email "${shorten(given)}"` });
  return z.NEVER;
});

const timezone = z.string().transform((v, ctx) => {
  const given = v.trim() || 'UTC';
  const canonical = canonicalTimeZone(given);
  if (canonical) return canonical;
  ctx.addIssue({ code: 'custom', message: `Unknown time zone "${shorten(given)}": expected an IANA name such as Europe/Berlin` });
  return z.NEVER;
});

const externalId = z
  .string()
  .transform((v) => v.trim())
  .superRefine((v, ctx) => {
    if (!v || v.length > MAX_EXTERNAL_ID_LENGTH || CONTROL.test(v)) {
      ctx.addIssue({ code: 'custom', message: `externalId must be 1 to ${MAX_EXTERNAL_ID_LENGTH} characters without control characters` });
    }
  });

const name = z
  .string()
  .transform((v) => v.trim())
  .superRefine((v, ctx) => {
    if (v.length > MAX_NAME_LENGTH || CONTROL.test(v)) {
      ctx.addIssue({ code: 'custom', message: `name must be at most ${MAX_NAME_LENGTH} characters without control characters` });
    }
  });

const NewUserSchema = z.object({ email, timezone: timezone.nullish().transform((tz) => tz ?? 'UTC'), admin: z.boolean().default(false) });
export type NewUser = z.input<typeof NewUserSchema>;

/** Creates a user (the command line's user:create) and issues its first token. */
export async function createUser(em: EntityManager, input: NewUser): Promise<{ user: User; token: string }> {
  const v = parseInput(NewUserSchema, input);
  const user = em.create(User, { email: v.email, timezone: v.timezone, role: v.admin ? UserRole.ADMIN : UserRole.USER });
  try {
    await em.persistAndFlush(user);
  } catch (err) {
    if (err instanceof UniqueConstraintViolationException) throw conflict(`A user with email ${v.email} already exists`);
    throw err;
  }
  return { user, token: await issueUserToken(em, user.id) };
}

const UpsertUserSchema = z.object({
  externalId,
  email: email.nullish(),
  timezone: timezone.nullish(),
  name: name.nullish(),
});
export type UpsertUserInput = z.input<typeof UpsertUserSchema>;

/**
 * Creates or updates the user with this product id, in one statement: concurrent calls for a new id make
 * one user. Fields left out keep their value; a new user needs an email.
 */
export async function upsertUser(em: EntityManager, input: UpsertUserInput): Promise<{ user: AuthUser; created: boolean }> {
  const v = parseInput(UpsertUserSchema, input);
  const row = await upsertRow(em, { externalId: v.externalId, email: v.email ?? null, timezone: v.timezone ?? null, name: v.name ?? null });
  if (!row) throw badInput(`No user has externalId "${shorten(v.externalId)}" yet: email is needed to create one`, { field: 'email' });
  return row;
}

/**
 * The user a valid JWT names by its `sub`, created on first sight from its email and time zone claims,
 * which later tokens keep up to date. A token that changes nothing costs one read.
 */
export async function userFromJwt(em: EntityManager, identity: JwtIdentity): Promise<AuthUser> {
  const claimed = {
    externalId: identity.externalId,
    email: identity.email && email.safeParse(identity.email).data,
    timezone: identity.timezone && canonicalTimeZone(identity.timezone),
  };
  // Stored exactly as the product sends it, so a sub with surrounding spaces is refused, not trimmed into another user's id.
  if (externalId.safeParse(claimed.externalId).data !== claimed.externalId)
    throw new DomainError('UNAUTHENTICATED', 'Invalid token: the sub claim is not a usable user id');
  const [known] = await query<AuthUser>(em, `select ${USER_COLUMNS} from app_user where external_id = $1`, [claimed.externalId]);
  if (known && (!claimed.email || claimed.email === known.email) && (!claimed.timezone || claimed.timezone === known.timezone))
    return known;
  const row = await upsertRow(em, {
    externalId: claimed.externalId,
    email: claimed.email ?? null,
    timezone: claimed.timezone ?? null,
    name: null,
  });
  if (!row) throw new DomainError('UNAUTHENTICATED', 'Invalid token: a user seen for the first time needs a valid email claim');
  return row.user;
}

export const USER_COLUMNS = `id, email, role, timezone, external_id as "externalId", name`;

interface UpsertRow {
  externalId: string;
  email: string | null;
  timezone: string | null;
  name: string | null;
}

/** Insert-or-update by external_id; without an email only an existing user is updated (null when there is none). */
async function upsertRow(em: EntityManager, r: UpsertRow, retried = false): Promise<{ user: AuthUser; created: boolean } | null> {
  const changes = `email = coalesce($2, app_user.email), timezone = coalesce($3, app_user.timezone), name = coalesce($4, app_user.name),
       updated_at = now()`;
  const statement =
    r.email === null
      ? `update app_user set ${changes} where external_id = $1 returning ${USER_COLUMNS}, false as created`
      : // A user made here is reported to the product (user.created) by the same statement.
        `with u as (
           insert into app_user (id, created_at, updated_at, email, role, timezone, external_id, name)
           values (gen_random_uuid(), now(), now(), $2, 'user', coalesce($3, 'UTC'), $1, $4)
           on conflict (external_id) do update set ${changes}
           returning ${USER_COLUMNS}, (xmax = 0) as created),
         event as (${userCreatedEventCte('u', '$5')})
         select * from u`;
  const params = [r.externalId, r.email, r.timezone, r.name, ...(r.email === null ? [] : [newEventId()])];
  try {
    const [row] = await query<AuthUser & { created: boolean }>(em, statement, params);
    if (!row) return null;
    const { created, ...user } = row;
    return { user, created };
  } catch (err) {
    // A concurrent first insert of this external_id that committed after ON CONFLICT's check is reported on
    // the email index instead; it has committed by now, so the same statement again finds it and updates it.
    if (isEmailTaken(err) && !retried && !em.isInTransaction()) return upsertRow(em, r, true);
    if (isEmailTaken(err)) throw conflict(`Another user already has the email ${r.email}`, { field: 'email' });
    throw err;
  }
}

function isEmailTaken(err: unknown): boolean {
  const e = err as { code?: string; constraint?: string };
  return e?.code === '23505' && e.constraint === 'app_user_email_unique';
}

/** The user with this email (the command line names users by email), or NOT_FOUND. */
export async function userByEmail(em: EntityManager, address: string): Promise<AuthUser> {
  const [row] = await query<AuthUser>(em, `select ${USER_COLUMNS} from app_user where email = $1`, [address.trim().toLowerCase()]);
  if (!row) throw notFound(`User ${shorten(address.trim())}`);
  return row;
}
