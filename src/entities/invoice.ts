import { Entity, Enum, Index, ManyToOne, Property, Unique } from '@mikro-orm/core';
import { BaseEntity } from './base';
import { Subscription } from './subscription';
import { User } from './user';

/** Stripe's invoice statuses, stored as Stripe spells them. */
export enum InvoiceStatus {
  DRAFT = 'draft',
  OPEN = 'open',
  PAID = 'paid',
  UNCOLLECTIBLE = 'uncollectible',
  VOID = 'void',
}

/**
 * A local, synced copy of a Stripe invoice of one of our customers (Stripe is the source of truth).
 * Lists read it newest first by Stripe's creation time, so an invoice filled in later by stripe:sync
 * still sits where it belongs.
 */
@Entity({ tableName: 'invoice' })
@Index({ properties: ['user', 'stripeCreatedAt', 'id'] })
@Index({ properties: ['subscription', 'stripeCreatedAt', 'id'] })
export class Invoice extends BaseEntity {
  @ManyToOne(() => User, { deleteRule: 'cascade' })
  user!: User;

  /** Our subscription the invoice bills; null for an invoice of no subscription, or of one Tollgate does not keep. */
  @ManyToOne(() => Subscription, { nullable: true, deleteRule: 'set null' })
  subscription?: Subscription | null;

  @Property({ type: 'text' })
  @Unique()
  stripeInvoiceId!: string;

  /** Set by Stripe when the invoice is finalized; null on a draft. */
  @Property({ type: 'text', nullable: true })
  number?: string | null;

  @Enum({ items: () => InvoiceStatus })
  status!: InvoiceStatus;

  @Property({ type: 'character', length: 3 })
  currency!: string;

  @Property({ type: 'integer' })
  totalAmountMinor!: number;

  @Property({ type: 'integer' })
  paidAmountMinor!: number;

  /** Stripe's `amount_due`: what the invoice asks for (it stays the same once paid). */
  @Property({ type: 'integer' })
  dueAmountMinor!: number;

  /** Stripe's `amount_remaining`: what is still to be paid. */
  @Property({ type: 'integer' })
  remainingAmountMinor!: number;

  @Property({ type: 'timestamptz' })
  periodStart!: Date;

  @Property({ type: 'timestamptz' })
  periodEnd!: Date;

  @Property({ type: 'text', nullable: true })
  hostedInvoiceUrl?: string | null;

  @Property({ type: 'text', nullable: true })
  invoicePdfUrl?: string | null;

  /** Stripe's `created`. */
  @Property({ type: 'timestamptz' })
  stripeCreatedAt!: Date;

  /** When this row was last written from Stripe's current state. */
  @Property({ type: 'timestamptz', nullable: true })
  stripeSyncedAt?: Date | null;
}
