import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import { User } from '../entities';
import { idempotencyKey } from '../stripe/client';
import { callStripe, type StripeCallTarget } from '../stripe/errors';
import { lockUser } from './locks';

/**
 * The user's Stripe customer, created on first need and stored on the user. Runs under the user's
 * billing lock (taking it when the caller has not), and the create call's idempotency key is derived from
 * the user id, so two concurrent first calls make one customer.
 */
export async function ensureCustomer(em: EntityManager, stripe: Stripe, userId: string, target: StripeCallTarget = {}): Promise<string> {
  const run = async (tx: EntityManager) => {
    await lockUser(tx, userId);
    const user = await tx.findOneOrFail(User, userId, { refresh: true });
    if (user.stripeCustomerId) return user.stripeCustomerId;
    const customer = await callStripe(
      () =>
        stripe.customers.create(
          {
            email: user.email,
            // The product's own id too, so the product can find its user's customer in the dashboard.
            metadata: { tollgate_user_id: user.id, ...(user.externalId ? { tollgate_external_id: user.externalId } : {}) },
          },
          { idempotencyKey: idempotencyKey('customer', user.id) },
        ),
      target,
    );
    user.stripeCustomerId = customer.id;
    await tx.flush();
    return customer.id;
  };
  return em.isInTransaction() ? run(em) : em.transactional(run);
}
