import { Entity, Index, ManyToOne, Opt, PrimaryKey, Property } from '@mikro-orm/core';
import { Payment } from './payment';

/** Append-only audit trail of a payment: every state change and every Stripe call outcome. */
@Entity({ tableName: 'payment_log' })
@Index({ properties: ['payment', 'id'] })
export class PaymentLog {
  @PrimaryKey({ type: 'bigint', autoincrement: true })
  id!: string;

  @ManyToOne(() => Payment, { deleteRule: 'cascade' })
  payment!: Payment;

  @Property({ type: 'text' })
  event!: string;

  @Property({ type: 'text' })
  message!: string;

  @Property({ type: 'json', nullable: true })
  data?: Record<string, unknown> | null;

  @Property({ type: 'timestamptz', onCreate: () => new Date() })
  createdAt: Opt<Date> = new Date();
}
