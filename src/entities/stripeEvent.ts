import { Entity, Enum, Index, Opt, PrimaryKey, Property } from '@mikro-orm/core';

export enum StripeEventStatus {
  PENDING = 'pending',
  PROCESSED = 'processed',
  IGNORED = 'ignored',
  FAILED = 'failed',
}

/** The webhook inbox: every delivered event, keyed by Stripe's event id, stored before it is acknowledged. */
@Entity({ tableName: 'stripe_event' })
@Index({
  name: 'stripe_event_unprocessed_idx',
  expression: `create index "stripe_event_unprocessed_idx" on "stripe_event" ("received_at") where "status" in ('pending', 'failed')`,
})
export class StripeEvent {
  @PrimaryKey({ type: 'text' })
  id!: string;

  @Property({ type: 'text' })
  @Index()
  type!: string;

  @Enum({ items: () => StripeEventStatus })
  status: Opt<StripeEventStatus> = StripeEventStatus.PENDING;

  @Property({ type: 'integer', default: 0 })
  attempts: Opt<number> = 0;

  @Property({ type: 'text', nullable: true })
  lastError?: string | null;

  @Property({ type: 'json' })
  payload!: Record<string, unknown>;

  @Property({ type: 'boolean', default: false })
  livemode: Opt<boolean> = false;

  /** Stripe's `created` of the event. */
  @Property({ type: 'timestamptz' })
  stripeCreatedAt!: Date;

  @Property({ type: 'timestamptz', onCreate: () => new Date() })
  receivedAt: Opt<Date> = new Date();

  @Property({ type: 'timestamptz', nullable: true })
  processedAt?: Date | null;

  /** What processing did, for people reading the inbox: "updated subscription ...", "unknown customer ...". */
  @Property({ type: 'text', nullable: true })
  outcome?: string | null;

  /** Whether the change came from one of our own API calls (idempotency key with our prefix). */
  @Property({ type: 'boolean', nullable: true })
  ownRequest?: boolean | null;
}
