import { Entity, Enum, ManyToOne, Property, Unique } from '@mikro-orm/core';
import { BaseEntity } from './base';
import { Plan } from './plan';

/** The window an allowance counts over. DAY, WEEK (ISO) and MONTH are the user's own; BILLING_PERIOD is the subscription's. */
export enum LimitPeriod {
  DAY = 'day',
  WEEK = 'week',
  MONTH = 'month',
  BILLING_PERIOD = 'billing_period',
  TOTAL = 'total',
}

/** A plan's allowance of one metric (`minutes`, `megabytes`, ...) per period; allowance null = unlimited. */
@Entity({ tableName: 'plan_limit' })
@Unique({ properties: ['plan', 'metric', 'period'] })
export class PlanLimit extends BaseEntity {
  @ManyToOne(() => Plan, { deleteRule: 'cascade' })
  plan!: Plan;

  @Property({ type: 'text' })
  metric!: string;

  @Enum({ items: () => LimitPeriod, default: LimitPeriod.DAY })
  period!: LimitPeriod;

  @Property({ type: 'integer', nullable: true })
  allowance!: number | null;
}
