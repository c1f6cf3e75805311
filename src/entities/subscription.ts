import { Entity, Enum, Index, ManyToOne, Opt, Property, Unique } from '@mikro-orm/core';
import { BaseEntity } from './base';
import { Plan } from './plan';
import { PlanPricing } from './planPricing';
import { User } from './user';

/** Stripe's subscription statuses, stored as Stripe spells them. */
export enum SubscriptionStatus {
  ACTIVE = 'active',
  TRIALING = 'trialing',
  INCOMPLETE = 'incomplete',
  INCOMPLETE_EXPIRED = 'incomplete_expired',
  PAST_DUE = 'past_due',
  UNPAID = 'unpaid',
  PAUSED = 'paused',
  CANCELED = 'canceled',
}

/** A local, synced copy of a Stripe subscription (Stripe is the source of truth). */
@Entity({ tableName: 'subscription' })
@Index({ properties: ['user', 'status'] })
@Unique({ properties: ['user', 'idempotencyKey'] })
export class Subscription extends BaseEntity {
  @ManyToOne(() => User, { deleteRule: 'cascade' })
  user!: User;

  @ManyToOne(() => Plan)
  plan!: Plan;

  @ManyToOne(() => PlanPricing)
  pricing!: PlanPricing;

  @Property({ type: 'text', nullable: true })
  @Unique()
  stripeSubscriptionId?: string | null;

  @Property({ type: 'text', nullable: true })
  @Unique()
  stripeCheckoutSessionId?: string | null;

  @Enum({ items: () => SubscriptionStatus })
  status!: SubscriptionStatus;

  @Property({ type: 'timestamptz', nullable: true })
  currentPeriodStart?: Date | null;

  @Property({ type: 'timestamptz', nullable: true })
  currentPeriodEnd?: Date | null;

  @Property({ type: 'boolean', default: false })
  cancelAtPeriodEnd: Opt<boolean> = false;

  @Property({ type: 'timestamptz', nullable: true })
  canceledAt?: Date | null;

  @Property({ type: 'timestamptz', nullable: true })
  endedAt?: Date | null;

  /** When this row was last written from Stripe's current state. */
  @Property({ type: 'timestamptz', nullable: true })
  stripeSyncedAt?: Date | null;

  /** The client's idempotency key for the subscribe call that created this row. */
  @Property({ type: 'text', nullable: true })
  idempotencyKey?: string | null;

  /** Where to send the person after Checkout (the client's URLs). */
  @Property({ type: 'text', nullable: true })
  successUrl?: string | null;

  @Property({ type: 'text', nullable: true })
  cancelUrl?: string | null;

  /** A change to another pricing option waiting for scheduledChangeAt (a downgrade: Stripe's subscription schedule). */
  @ManyToOne(() => PlanPricing, { nullable: true })
  scheduledPricing?: PlanPricing | null;

  @Property({ type: 'timestamptz', nullable: true })
  scheduledChangeAt?: Date | null;

  /** The Stripe subscription schedule that holds the scheduled change. */
  @Property({ type: 'text', nullable: true })
  @Unique()
  stripeScheduleId?: string | null;

  /** The client's idempotency key of the latest changeSubscription, and the pricing option it asked for. */
  @Property({ type: 'text', nullable: true })
  changeIdempotencyKey?: string | null;

  @ManyToOne(() => PlanPricing, { nullable: true })
  changePricing?: PlanPricing | null;
}
