import { Entity, ManyToOne, Opt, PrimaryKey, PrimaryKeyProp, Property } from '@mikro-orm/core';
import { User } from './user';

/**
 * What a user used of one metric on one of their local days. Keyed (user, metric, day), so a new day
 * starts from zero without a reset job. Written only by the single-statement consume in billing/usage.
 */
@Entity({ tableName: 'usage_counter' })
export class UsageCounter {
  [PrimaryKeyProp]?: ['user', 'metric', 'day'];

  @ManyToOne(() => User, { primary: true, deleteRule: 'cascade' })
  user!: User;

  @PrimaryKey({ type: 'text' })
  metric!: string;

  /** The user's local date, YYYY-MM-DD. */
  @PrimaryKey({ type: 'string', columnType: 'date' })
  day!: string;

  @Property({ type: 'integer', default: 0 })
  used: Opt<number> = 0;

  @Property({ type: 'timestamptz', onCreate: () => new Date(), onUpdate: () => new Date() })
  updatedAt: Opt<Date> = new Date();
}
