import { Entity, ManyToOne, Property, Unique } from '@mikro-orm/core';
import { BaseEntity } from './base';
import { User } from './user';

/** One recorded use carrying a client idempotency key, so a retried recordUsage counts once. */
@Entity({ tableName: 'usage_record' })
@Unique({ properties: ['user', 'idempotencyKey'] })
export class UsageRecord extends BaseEntity {
  @ManyToOne(() => User, { deleteRule: 'cascade' })
  user!: User;

  @Property({ type: 'text' })
  idempotencyKey!: string;

  @Property({ type: 'text' })
  metric!: string;

  @Property({ type: 'string', columnType: 'date' })
  day!: string;

  @Property({ type: 'integer' })
  amount!: number;

  /** The counter's value right after this use, returned again on a retry. */
  @Property({ type: 'integer' })
  usedAfter!: number;

  /** The limit reported when this use was recorded (null = unlimited), returned again on a retry. */
  @Property({ type: 'integer', nullable: true })
  perDayAfter?: number | null;

  /** The period of the limit reported, and when its window ended, returned again on a retry. */
  @Property({ type: 'text', nullable: true })
  periodAfter?: string | null;

  @Property({ type: 'timestamptz', nullable: true })
  resetsAtAfter?: Date | null;
}
