import type { EntityManager } from '@mikro-orm/postgresql';
import { PaymentLog, type Payment } from '../../entities';
import { formatAmount } from '../money';

/** Appends a line to a payment's audit log (written with the surrounding flush). */
export function logPayment(em: EntityManager, payment: Payment, event: string, message: string, data?: Record<string, unknown>): void {
  em.create(PaymentLog, { payment, event, message, data: data ?? null });
}

/** An amount as logs and messages show it: "10.00 USD". */
export const money = (minor: number, currency: string) => `${formatAmount(minor, currency)} ${currency.toUpperCase()}`;
