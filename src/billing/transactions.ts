import type { EntityManager } from '@mikro-orm/postgresql';
import { DomainError } from '../errors';

/**
 * A failure that is no refusal (a bug, a Stripe answer we cannot place) but that the work has already
 * logged: returned like a refusal so the log is committed, then thrown as it is (clients see an internal error).
 */
export class Unexpected {
  constructor(readonly error: unknown) {}
}

/**
 * Runs `work` in a transaction that commits even when the work ends in a refusal: the work returns the
 * DomainError instead of throwing it, so what it learnt on the way (a row brought up to date from Stripe,
 * a payment's log) is kept, and the refusal is thrown once the commit is done.
 */
export async function commitThenThrow<T>(
  em: EntityManager,
  work: (tx: EntityManager) => Promise<T | DomainError | Unexpected>,
): Promise<T> {
  const outcome = await em.transactional(work);
  if (outcome instanceof DomainError) throw outcome;
  if (outcome instanceof Unexpected) throw outcome.error;
  return outcome;
}
