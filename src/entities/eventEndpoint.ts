import { Entity, Property } from '@mikro-orm/core';
import { BaseEntity } from './base';

/** Where the product receives events: a URL, the event types it wants and the secret its deliveries are signed with. */
@Entity({ tableName: 'event_endpoint' })
export class EventEndpoint extends BaseEntity {
  @Property({ type: 'text' })
  url!: string;

  /** Event types or `prefix.*` patterns; `*` is every event. */
  @Property({ type: 'text[]' })
  events!: string[];

  /** `whsec_...`: needed in clear to sign, so stored as is; shown once when made or rotated. */
  @Property({ type: 'text', hidden: true })
  secret!: string;

  @Property({ type: 'timestamptz', nullable: true })
  disabledAt?: Date | null;
}
