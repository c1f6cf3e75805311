import type { EntityManager } from '@mikro-orm/postgresql';
import { Subscription } from '../../entities';
import { notFound } from '../../errors';
import { UUID } from '../../ids';
import { checkIdLength } from '../../input';

/** The user's subscriptions, newest first. */
export function listSubscriptions(em: EntityManager, userId: string): Promise<Subscription[]> {
  return em.find(Subscription, { user: userId }, { orderBy: { createdAt: 'desc', id: 'desc' } });
}

/** One of the user's own subscriptions: another user's, or an id that is none of ours, is NOT_FOUND. */
export async function ownSubscription(tx: EntityManager, userId: string, id: string): Promise<Subscription> {
  if (!UUID.test(checkIdLength(id))) throw notFound('Subscription');
  const sub = await tx.findOne(Subscription, { id, user: userId }, { populate: ['pricing', 'plan'] });
  if (!sub) throw notFound('Subscription');
  return sub;
}
