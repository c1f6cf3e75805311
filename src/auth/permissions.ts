import { ApiKeyScope, UserRole } from '../entities';
import { badInput, DomainError, forbidden } from '../errors';
import type { AuthUser, Principal } from './principal';
import { shorten } from '../input';

/**
 * What an operation needs, named like the service key scopes. A user may use and bill for themselves
 * (`usage`, `billing`); `users` and `admin` need an admin user. A service key needs the scope, or `admin`.
 */
export type Permission = `${ApiKeyScope}`;

const SELF_SERVICE: Permission[] = [ApiKeyScope.USAGE, ApiKeyScope.BILLING];

/** Null when the principal may do what needs any one of `needed` (none listed: any principal may). */
export function refusal(principal: Principal, needed: readonly string[]): DomainError | null {
  if (needed.length === 0) return null;
  if (principal.kind === 'user') {
    if (principal.user.role === UserRole.ADMIN || needed.some((p) => SELF_SERVICE.includes(p as Permission))) return null;
    return forbidden('You are not allowed to do this');
  }
  const scopes = principal.key.scopes;
  if (scopes.includes(ApiKeyScope.ADMIN) || needed.some((p) => scopes.includes(p as ApiKeyScope))) return null;
  return forbidden(`The API key "${principal.key.name}" lacks the ${needed.join(' or ')} scope`, { requiredScope: needed.join(',') });
}

/** The user an operation acts for: the caller themselves, or the user a service key names in Tollgate-User. */
export function actingUser(principal: Principal): AuthUser {
  if (principal.kind === 'user') return principal.user;
  if (principal.actingFor) return principal.actingFor;
  if (principal.actingForExternalId === null) {
    throw badInput('A service API key acts for a user: send the Tollgate-User header with the product user id', {
      header: 'Tollgate-User',
    });
  }
  throw new DomainError(
    'NOT_FOUND',
    `No user has externalId "${shorten(principal.actingForExternalId)}": create it with upsertUser first`,
    {
      header: 'Tollgate-User',
    },
  );
}

/** Admin users and admin-scoped keys may do everything. */
export const isAdmin = (principal: Principal) =>
  principal.kind === 'user' ? principal.user.role === UserRole.ADMIN : principal.key.scopes.includes(ApiKeyScope.ADMIN);
