import { Entity, Enum, ManyToOne, Opt, Property, Unique } from '@mikro-orm/core';
import { BaseEntity } from './base';
import { Plan } from './plan';

export enum PricingInterval {
  DAY = 'day',
  MONTH = 'month',
  YEAR = 'year',
  ONE_TIME = 'one_time',
}

/** One way to pay for a plan: an amount in minor units per interval. */
@Entity({ tableName: 'plan_pricing' })
export class PlanPricing extends BaseEntity {
  @ManyToOne(() => Plan, { deleteRule: 'cascade', index: true })
  plan!: Plan;

  /** Stable key of this pricing option (also the Stripe Price lookup_key). */
  @Property({ type: 'text' })
  @Unique()
  lookupKey!: string;

  /** Minor units (cents); Stripe caps a charge at eight digits, so an integer column holds any amount. */
  @Property({ type: 'integer' })
  amountMinor!: number;

  @Property({ type: 'character', length: 3 })
  currency!: string;

  @Enum({ items: () => PricingInterval })
  interval!: PricingInterval;

  @Property({ type: 'integer', default: 1 })
  intervalCount: Opt<number> = 1;

  @Property({ type: 'boolean', default: true })
  autoRenew: Opt<boolean> = true;

  @Property({ type: 'boolean', default: true })
  active: Opt<boolean> = true;

  /** Days of free trial a new subscriber gets (0: none); one trial per user and plan. */
  @Property({ type: 'integer', default: 0 })
  trialDays: Opt<number> = 0;

  @Property({ type: 'text', nullable: true })
  @Unique()
  stripePriceId?: string | null;
}
