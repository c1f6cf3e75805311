import type { EntityManager } from '@mikro-orm/postgresql';
import type { BillingEnv } from '../billing/env';
import type { AuthUser } from '../billing/users';
import type { Logger } from '../logger';
import { createLoaders, type Loaders } from './loaders';

export interface Context {
  em: EntityManager;
  user: AuthUser | null;
  /** Why the request is anonymous although it carried credentials (e.g. "invalid token"). */
  authProblem?: string;
  loaders: Loaders;
  logger: Logger;
  /** Stripe client and public URL; absent when the server runs without Stripe. */
  billing?: BillingEnv;
}

/** The billing environment, or an internal error when the server was started without Stripe. */
export function billingEnv(ctx: Context): BillingEnv {
  if (!ctx.billing) throw new Error('Stripe is not configured for this server');
  return ctx.billing;
}

/** `Authorization: Bearer <token>` or `Authorization: Token <token>` (the older convention). */
export function tokenFromHeader(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^(Bearer|Token)\s+(\S+)\s*$/i.exec(header.trim());
  return m ? m[2] : undefined;
}

/**
 * The request's context. Its EntityManager (a fork: an identity map of the request's own) and its
 * DataLoaders are made on first use, so a request that needs neither pays for neither.
 */
export function buildContext(fork: () => EntityManager, user: AuthUser | null, logger: Logger, authProblem?: string, billing?: BillingEnv): Context {
  let em: EntityManager | undefined;
  let loaders: Loaders | undefined;
  return {
    get em() {
      return (em ??= fork());
    },
    get loaders() {
      return (loaders ??= createLoaders(this.em));
    },
    user,
    authProblem,
    logger,
    billing,
  };
}
