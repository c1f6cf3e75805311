import { Entity, Enum, Index, ManyToOne, Opt, PrimaryKey, Property } from '@mikro-orm/core';
import { EventEndpoint } from './eventEndpoint';
import { OutboxEvent } from './outboxEvent';

export enum DeliveryStatus {
  PENDING = 'pending',
  DELIVERED = 'delivered',
  FAILED = 'failed',
}

/** One event on its way to one endpoint, with the outcome of its last attempt. */
@Entity({ tableName: 'event_delivery' })
@Index({
  name: 'event_delivery_due_idx',
  expression: `create index "event_delivery_due_idx" on "event_delivery" ("next_attempt_at") where "status" = 'pending'`,
})
@Index({
  name: 'event_delivery_queue_idx',
  expression: `create index "event_delivery_queue_idx" on "event_delivery" ("endpoint_id", "user_id", "event_seq") where "status" = 'pending'`,
})
export class EventDelivery {
  @PrimaryKey({ type: 'bigint', autoincrement: true })
  id!: Opt<string>;

  @ManyToOne(() => EventEndpoint, { deleteRule: 'cascade' })
  endpoint!: EventEndpoint;

  @ManyToOne(() => OutboxEvent, { deleteRule: 'cascade', fieldName: 'event_seq' })
  @Index()
  event!: OutboxEvent;

  /** The event's user: deliveries of one user to one endpoint go out in order. */
  @Property({ type: 'uuid' })
  userId!: string;

  @Enum({ items: () => DeliveryStatus })
  status: Opt<DeliveryStatus> = DeliveryStatus.PENDING;

  @Property({ type: 'integer', default: 0 })
  attempts: Opt<number> = 0;

  @Property({ type: 'timestamptz' })
  nextAttemptAt: Opt<Date> = new Date();

  /** The receiver's HTTP status, or null when no answer came (lastError says why). */
  @Property({ type: 'integer', nullable: true })
  lastStatus?: number | null;

  @Property({ type: 'text', nullable: true })
  lastError?: string | null;

  @Property({ type: 'integer', nullable: true })
  lastDurationMs?: number | null;

  @Property({ type: 'timestamptz', nullable: true })
  lastAttemptAt?: Date | null;

  @Property({ type: 'timestamptz', nullable: true })
  deliveredAt?: Date | null;

  @Property({ type: 'timestamptz', onCreate: () => new Date() })
  createdAt: Opt<Date> = new Date();
}
