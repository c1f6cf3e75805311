import { Entity, Index, Opt, PrimaryKey, Property, Unique } from '@mikro-orm/core';

/**
 * An event for the product (docs/events.md), written in the same transaction as the change it reports.
 * `seq` orders events; a trigger (migration 20261210) fans each new row out to the endpoints that want
 * its type and notifies listening servers.
 */
@Entity({ tableName: 'outbox_event' })
export class OutboxEvent {
  @PrimaryKey({ type: 'bigint', autoincrement: true })
  seq!: Opt<string>;

  /** `evt_` and 24 hex characters: what receivers deduplicate on. */
  @Property({ type: 'text' })
  @Unique()
  id!: string;

  @Property({ type: 'text' })
  type!: string;

  /** The user the change is for (no foreign key: events outlive what they describe). */
  @Property({ type: 'uuid' })
  @Index()
  userId!: string;

  /** What changed, as the row was at the change (minor units; rendered for receivers by src/events/payloads.ts). */
  @Property({ type: 'json' })
  data!: Record<string, unknown>;

  @Property({ type: 'timestamptz', onCreate: () => new Date() })
  @Index()
  createdAt: Opt<Date> = new Date();
}
