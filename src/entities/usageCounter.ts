import { Entity, Enum, ManyToOne, Opt, PrimaryKey, PrimaryKeyProp, Property } from '@mikro-orm/core';
import { LimitPeriod } from './planLimit';
import { User } from './user';

/**
 * What a user used of one metric in one window of one period. Keyed (user, metric, period, window start),
 * so a new window starts from zero without a reset job. Written only by the single-statement consume in
 * billing/limits. Every use also counts in the user's DAY window, limited or not: the usage history reads it.
 */
@Entity({ tableName: 'usage_counter' })
export class UsageCounter {
  [PrimaryKeyProp]?: ['user', 'metric', 'period', 'windowStart'];

  @ManyToOne(() => User, { primary: true, deleteRule: 'cascade' })
  user!: User;

  @PrimaryKey({ type: 'text' })
  metric!: string;

  @Enum({ items: () => LimitPeriod, primary: true })
  period!: LimitPeriod;

  /** The instant the window began (a local midnight, the subscription's period start, or the epoch for TOTAL). */
  @PrimaryKey({ type: 'timestamptz' })
  windowStart!: Date;

  @Property({ type: 'integer', default: 0 })
  used: Opt<number> = 0;

  @Property({ type: 'timestamptz', onCreate: () => new Date(), onUpdate: () => new Date() })
  updatedAt: Opt<Date> = new Date();
}
