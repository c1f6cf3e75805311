import type { EntityManager } from '@mikro-orm/postgresql';
import { DomainError } from '../errors';

/**
 * Runs `work` in a transaction that commits even when the work ends in a refusal: the work returns the
 * DomainError instead of throwing it, so what it learnt on the way (a row brought up to date from Stripe,
 * a payment's log) is kept, and the refusal is thrown once the commit is done.
 */
export async function commitThenThrow<T>(em: EntityManager, work: (tx: EntityManager) => Promise<T | DomainError>): Promise<T> {
  const outcome = await em.transactional(work);
  if (outcome instanceof DomainError) throw outcome;
  return outcome;
}
