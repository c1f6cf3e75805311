import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { PricingInterval } from '../../entities';
import { Money } from './common';

export enum PricingIntervalGql {
  DAY = 'day',
  MONTH = 'month',
  YEAR = 'year',
  ONE_TIME = 'one_time',
}
registerEnumType(PricingIntervalGql, { name: 'PricingInterval', description: 'How often a pricing option bills.' });

// The GraphQL enum mirrors the entity enum value for value.
export const toIntervalGql = (i: PricingInterval): PricingIntervalGql => i as unknown as PricingIntervalGql;

@ObjectType('PlanLimit', { description: "A plan's allowance of one metric per day." })
export class PlanLimitType {
  @Field({ description: 'Metric name, e.g. "minutes" or "megabytes".' })
  metric!: string;

  @Field(() => Int, { nullable: true, description: 'Allowance per day; null means unlimited.' })
  perDay!: number | null;
}

@ObjectType('PricingOption', { description: 'One way to pay for a plan.' })
export class PricingOptionType {
  @Field(() => ID)
  id!: string;

  @Field(() => Money)
  amount!: Money;

  @Field(() => PricingIntervalGql)
  interval!: PricingIntervalGql;

  @Field(() => Int)
  intervalCount!: number;

  @Field({ description: 'Whether the subscription renews at the end of each period.' })
  autoRenew!: boolean;
}

@ObjectType('Plan', { simpleResolvers: true })
export class PlanType {
  @Field(() => ID)
  id!: string;

  @Field()
  code!: string;

  @Field()
  name!: string;

  @Field()
  description!: string;

  @Field({ description: 'The plan everyone has without a subscription.' })
  isDefault!: boolean;
}
