import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { LimitPeriod, PricingInterval } from '../../entities';
import { Money } from './common';

registerEnumType(PricingInterval, { name: 'PricingInterval', description: 'How often a pricing option bills.' });

@ObjectType('PlanLimit', { description: "A plan's allowance of one metric in one period." })
export class PlanLimitType {
  @Field({ description: 'Metric name, e.g. "minutes" or "megabytes".' })
  metric!: string;

  @Field(() => LimitPeriod)
  period!: LimitPeriod;

  @Field(() => Int, { nullable: true, description: 'Allowance per period; null means unlimited.' })
  limit!: number | null;

  @Field(() => Int, {
    nullable: true,
    description: 'For a DAY limit, its allowance (null = unlimited); null for other periods.',
    deprecationReason: 'Use period and limit.',
  })
  perDay!: number | null;
}

@ObjectType('PricingOption', { description: 'One way to pay for a plan.' })
export class PricingOptionType {
  @Field(() => ID)
  id!: string;

  @Field({ description: 'Stable key of the option, also its Stripe Price lookup_key.' })
  lookupKey!: string;

  @Field({ description: 'False once archived: no longer offered; subscriptions bought with it go on.' })
  active!: boolean;

  @Field(() => Money)
  amount!: Money;

  @Field(() => PricingInterval)
  interval!: PricingInterval;

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

  // Not in the schema under this name: Plan.rank (PlanResolver) reads it.
  sortOrder!: number;

  @Field(() => [String], { description: 'The boolean features the plan grants, by key.' })
  features!: string[];
}
