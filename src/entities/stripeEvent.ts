import { Entity, Enum, Index, Opt, PrimaryKey, Property } from '@mikro-orm/core';

export enum StripeEventStatus {
  PENDING = 'pending',
  PROCESSED = 'processed',
  IGNORED = 'ignored',
  FAILED = 'failed',
}

/**
 * The webhook inbox: every delivered event, keyed by Stripe's event id, stored before it is acknowledged
 * and processed by the webhook worker (src/sync/worker.ts). `failed` with a `nextAttemptAt` will be
 * retried; `failed` without one was given up after WEBHOOK_MAX_ATTEMPTS (stripe:replay runs it again).
 */
@Entity({ tableName: 'stripe_event' })
@Index({
  name: 'stripe_event_due_idx',
  expression: `create index "stripe_event_due_idx" on "stripe_event" ("next_attempt_at") where "status" in ('pending', 'failed')`,
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

  /** When a worker may next take the event; null once there is nothing left to do. */
  @Property({ type: 'timestamptz', nullable: true })
  nextAttemptAt?: Date | null;

  /** What processing did, for people reading the inbox: "updated subscription ...", "unknown customer ...". */
  @Property({ type: 'text', nullable: true })
  outcome?: string | null;

  /** Whether the change came from one of our own API calls (idempotency key with our prefix). */
  @Property({ type: 'boolean', nullable: true })
  ownRequest?: boolean | null;
}
