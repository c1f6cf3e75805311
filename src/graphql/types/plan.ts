import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { PricingInterval } from '../../entities';
import { Money } from './common';

registerEnumType(PricingInterval, { name: 'PricingInterval', description: 'How often a pricing option bills.' });

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
}
