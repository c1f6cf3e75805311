import type { EntityManager } from '@mikro-orm/postgresql';
import { Payment } from '../../entities';
import { notFound } from '../../errors';
import { lockUser } from '../locks';

/**
 * Runs `fn` on the payment under its user's billing lock, with the row re-read after the lock is
 * taken. Inside the caller's transaction when there is one (a webhook), else in a new one.
 */
export async function underPaymentLock<T>(
  em: EntityManager,
  paymentId: string,
  fn: (tx: EntityManager, payment: Payment) => Promise<T>,
): Promise<T> {
  const run = async (tx: EntityManager) => {
    const owner = await tx.findOne(Payment, paymentId, { fields: ['user'] });
    if (!owner) throw notFound('Payment');
    await lockUser(tx, owner.user.id);
    const payment = await tx.findOne(Payment, paymentId, { populate: ['user'], refresh: true });
    if (!payment) throw notFound('Payment');
    return fn(tx, payment);
  };
  return em.isInTransaction() ? run(em) : em.transactional(run);
}
