import type { EntityManager } from '@mikro-orm/postgresql';
import { GraphQLError } from 'graphql';
import type { BillingDeps } from '../billing/deps';
import type { AuthUser } from '../auth/users';
import type { Logger } from '../logger';
import { createLoaders, type Loaders } from './loaders';

export interface Context {
  /** The request's EntityManager: a fork with an identity map of its own, made on first use. */
  readonly em: EntityManager;
  /**
   * The ORM's root EntityManager, for services that only run hand-written statements (limits, usage):
   * outside a transaction those go straight to a pooled connection, so they need no fork of their own.
   * Never used for entities.
   */
  readonly db: EntityManager;
  readonly user: AuthUser | null;
  /** Why the request is anonymous although it carried credentials (e.g. "invalid token"). */
  readonly authProblem?: string;
  /** Per-request DataLoaders, made on first use. */
  readonly loaders: Loaders;
  readonly logger: Logger;
  /** Stripe client and public URL; absent when the server runs without Stripe. */
  readonly billing?: BillingDeps;
}

/** The billing environment, or an internal error when the server was started without Stripe. */
export function billingDeps(ctx: Context): BillingDeps {
  if (!ctx.billing) throw new Error('Stripe is not configured for this server');
  return ctx.billing;
}

/**
 * Who the request acts for, or UNAUTHENTICATED saying why (a refused credential, or none sent). The
 * auth checker and `@CurrentUser()` both ask here, so a new kind of caller is taught in one place.
 */
export function currentUser(ctx: Context): AuthUser {
  if (ctx.user) return ctx.user;
  throw new GraphQLError(ctx.authProblem ?? 'Authentication required: send "Authorization: Bearer <token>"', {
    extensions: { code: 'UNAUTHENTICATED' },
  });
}

/** `Authorization: Bearer <token>` or `Authorization: Token <token>` (the older convention). */
export function tokenFromHeader(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^(Bearer|Token)\s+(\S+)\s*$/i.exec(header.trim());
  return m ? m[2] : undefined;
}

/**
 * A request's context. The fork and the DataLoaders are made on first use, so a request that needs
 * neither pays for neither. The lazy parts are getters on the prototype and their state plain own
 * properties: Apollo copies the context object once per operation (`Object.assign` onto an object of the
 * same prototype), which would run getters defined on the object itself and copy a private field's
 * owner badly; this way the copy simply starts with nothing made.
 */
class RequestContext implements Context {
  forked: EntityManager | undefined = undefined;
  made: Loaders | undefined = undefined;

  constructor(
    readonly db: EntityManager,
    readonly user: AuthUser | null,
    readonly logger: Logger,
    readonly authProblem?: string,
    readonly billing?: BillingDeps,
  ) {}

  get em(): EntityManager {
    return (this.forked ??= this.db.fork() as EntityManager);
  }

  get loaders(): Loaders {
    return (this.made ??= createLoaders(this.em));
  }
}

/** The context of one request; `root` is the ORM's root EntityManager (the request's fork is made from it). */
export function buildContext(
  root: EntityManager,
  user: AuthUser | null,
  logger: Logger,
  authProblem?: string,
  billing?: BillingDeps,
): Context {
  return new RequestContext(root, user, logger, authProblem, billing);
}
