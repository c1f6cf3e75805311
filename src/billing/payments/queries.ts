import type { EntityManager } from '@mikro-orm/postgresql';
import { Payment, PaymentLog, UserRole } from '../../entities';
import { notFound } from '../../errors';
import { UUID } from '../../ids';
import { checkIdLength, parseInput } from '../../input';
import { PageInput, toPage } from '../../pagination';

/** The read side of payments: one payment, a user's pages of them, and the logs behind them. */

/** Who is asking: the owner sees and cancels their payments, an admin any. */
export interface Actor {
  id: string;
  role: UserRole;
}

/** A payment its owner (or an admin) may see; NOT_FOUND for anyone else. */
export async function findPayment(em: EntityManager, actor: Actor, id: string): Promise<Payment> {
  const payment = UUID.test(checkIdLength(id))
    ? await em.findOne(Payment, actor.role === UserRole.ADMIN ? { id } : { id, user: actor.id })
    : null;
  if (!payment) throw notFound('Payment');
  return payment;
}

export interface PaymentPage {
  payments: Payment[];
  /** cursor of each payment, in the same order */
  cursors: string[];
  hasNextPage: boolean;
}

/** The user's payments, newest first, `first` at a time after the cursor of a previous page. */
export async function listPayments(
  em: EntityManager,
  userId: string,
  options: { first?: number | null; after?: string | null } = {},
): Promise<PaymentPage> {
  const { first, after } = parseInput(PageInput, options);
  const rows = await em.find(
    Payment,
    after
      ? { user: userId, $or: [{ createdAt: { $lt: after.createdAt } }, { createdAt: after.createdAt, id: { $lt: after.id } }] }
      : { user: userId },
    { orderBy: { createdAt: 'desc', id: 'desc' }, limit: first + 1 },
  );
  const { nodes, cursors, hasNextPage } = toPage(rows, first);
  return { payments: nodes, cursors, hasNextPage };
}

/** The logs of many payments in one statement, oldest entry first (for a DataLoader). */
export async function logsByPayment(em: EntityManager, paymentIds: readonly string[]): Promise<PaymentLog[][]> {
  const rows = await em.find(PaymentLog, { payment: paymentIds as string[] }, { orderBy: { id: 'asc' } });
  const byPayment = new Map<string, PaymentLog[]>(paymentIds.map((id) => [id, []]));
  for (const row of rows) byPayment.get(row.payment.id)?.push(row);
  return paymentIds.map((id) => byPayment.get(id) ?? []);
}
