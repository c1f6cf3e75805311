import type { EntityManager } from '@mikro-orm/postgresql';
import { actingUser } from '../auth/permissions';
import type { AuthUser, Principal } from '../auth/principal';
import type { BillingDeps } from '../billing/deps';
import { DEFAULT_PLAN_GRACE, type PlanGrace } from '../billing/limitsSql';
import type { LiveUpdates } from '../events/live';
import { DomainError } from '../errors';
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
  /** Who is calling; null for an anonymous request. */
  readonly principal: Principal | null;
  /** Why the request is anonymous although it carried credentials (e.g. a revoked token). */
  readonly authProblem?: DomainError;
  /** Per-request DataLoaders, made on first use. */
  readonly loaders: Loaders;
  readonly logger: Logger;
  /** Stripe client and public URL; absent when the server runs without Stripe. */
  readonly billing?: BillingDeps;
  /** The configured grace of the plan in force, for every limits read and consume. */
  readonly grace: PlanGrace;
  /** EVENTS_USAGE_THRESHOLD: the share of a limit, in percent, whose crossing is a usage.threshold event. */
  readonly usageThresholdPercent?: number;
  /** What GraphQL subscriptions listen to; absent where no subscription is served. */
  readonly live?: LiveUpdates;
}

/** The billing environment, or an internal error when the server was started without Stripe. */
export function billingDeps(ctx: Context): BillingDeps {
  if (!ctx.billing) throw new Error('Stripe is not configured for this server');
  return ctx.billing;
}

/** Live updates, which only a subscription's context has. */
export function liveUpdates(ctx: Context): LiveUpdates {
  if (!ctx.live) throw new Error('Subscriptions are served over WebSocket only');
  return ctx.live;
}

/** Who is calling, or UNAUTHENTICATED saying why (a refused credential, or none sent). */
export function currentPrincipal(ctx: Context): Principal {
  if (ctx.principal) return ctx.principal;
  throw ctx.authProblem ?? new DomainError('UNAUTHENTICATED', 'Authentication required: send "Authorization: Bearer <token>"');
}

/** The user the request acts for: the caller, or the user a service key names in Tollgate-User. */
export function currentUser(ctx: Context): AuthUser {
  return actingUser(currentPrincipal(ctx));
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
    readonly principal: Principal | null,
    readonly logger: Logger,
    readonly authProblem?: DomainError,
    readonly billing?: BillingDeps,
    readonly grace: PlanGrace = DEFAULT_PLAN_GRACE,
    readonly usageThresholdPercent?: number,
    readonly live?: LiveUpdates,
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
  principal: Principal | null,
  logger: Logger,
  authProblem?: DomainError,
  billing?: BillingDeps,
  grace?: PlanGrace,
  usageThresholdPercent?: number,
  live?: LiveUpdates,
): Context {
  return new RequestContext(root, principal, logger, authProblem, billing, grace, usageThresholdPercent, live);
}
