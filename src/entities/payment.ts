import { Entity, Enum, Index, ManyToOne, Opt, Property, Unique } from '@mikro-orm/core';
import { BaseEntity } from './base';
import { User } from './user';

export enum PaymentStatus {
  WAITING = 'waiting',
  PREAUTH = 'preauth',
  CONFIRMED = 'confirmed',
  PARTIALLY_REFUNDED = 'partially_refunded',
  REFUNDED = 'refunded',
  REJECTED = 'rejected',
  CANCELED = 'canceled',
  DISPUTED = 'disputed',
  ERROR = 'error',
}

export enum CaptureMethod {
  AUTOMATIC = 'automatic',
  MANUAL = 'manual',
}

/** A one-off payment: our row first, then the PaymentIntent or Checkout Session that carries its id. */
@Entity({ tableName: 'payment' })
@Index({ properties: ['user', 'createdAt', 'id'] })
@Unique({ properties: ['user', 'idempotencyKey'] })
export class Payment extends BaseEntity {
  @ManyToOne(() => User, { deleteRule: 'cascade' })
  user!: User;

  @Property({ type: 'integer' })
  amountMinor!: number;

  @Property({ type: 'character', length: 3 })
  currency!: string;

  @Enum({ items: () => PaymentStatus })
  status: Opt<PaymentStatus> = PaymentStatus.WAITING;

  @Enum({ items: () => CaptureMethod, default: CaptureMethod.AUTOMATIC })
  captureMethod: Opt<CaptureMethod> = CaptureMethod.AUTOMATIC;

  @Property({ type: 'text', nullable: true })
  description?: string | null;

  @Property({ type: 'text', nullable: true })
  orderId?: string | null;

  @Property({ type: 'json', nullable: true })
  metadata?: Record<string, unknown> | null;

  @Property({ type: 'integer', default: 0 })
  capturedAmountMinor: Opt<number> = 0;

  @Property({ type: 'integer', default: 0 })
  refundedAmountMinor: Opt<number> = 0;

  @Property({ type: 'text', nullable: true })
  failureCode?: string | null;

  @Property({ type: 'text', nullable: true })
  failureMessage?: string | null;

  @Property({ type: 'text', nullable: true })
  idempotencyKey?: string | null;

  /** The Stripe payment method it is paid with; null for Checkout (the person enters a card there). */
  @Property({ type: 'text', nullable: true })
  paymentMethod?: string | null;

  @Property({ type: 'text', nullable: true })
  @Unique()
  stripePaymentIntentId?: string | null;

  @Property({ type: 'text', nullable: true })
  @Unique()
  stripeCheckoutSessionId?: string | null;

  @Property({ type: 'text', nullable: true })
  successUrl?: string | null;

  @Property({ type: 'text', nullable: true })
  cancelUrl?: string | null;
}
