import type { EntityManager } from '@mikro-orm/postgresql';
import type { User } from '../entities';
import type { Logger } from '../logger';
import { createLoaders, type Loaders } from './loaders';

export interface Context {
  em: EntityManager;
  user: User | null;
  /** Why the request is anonymous although it carried credentials (e.g. "invalid token"). */
  authProblem?: string;
  loaders: Loaders;
  logger: Logger;
}

/** `Authorization: Bearer <token>` or `Authorization: Token <token>` (the older convention). */
export function tokenFromHeader(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^(Bearer|Token)\s+(\S+)\s*$/i.exec(header.trim());
  return m ? m[2] : undefined;
}

export function buildContext(em: EntityManager, user: User | null, logger: Logger, authProblem?: string): Context {
  return { em, user, authProblem, loaders: createLoaders(em), logger };
}
