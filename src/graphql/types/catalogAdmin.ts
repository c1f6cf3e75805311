import { Field, InputType, Int } from 'type-graphql';
import { LimitPeriod, PricingInterval } from '../../entities';

// Admins' catalog changes. Sizes and formats are checked by the service's schemas (billing/catalogInputs).

@InputType({ description: "A plan's allowance of one metric in one period." })
export class PlanLimitInput {
  @Field({ description: 'Metric name: a-z, 0-9 and _, e.g. "minutes".' })
  metric!: string;

  @Field(() => LimitPeriod)
  period!: LimitPeriod;

  @Field(() => Int, { nullable: true, description: 'Allowance per period, 0 to 1,000,000,000; null means unlimited.' })
  limit!: number | null;
}

@InputType({ description: 'A way to pay for a plan.' })
export class PricingOptionInput {
  @Field({ description: 'Stable key of the option, also the Stripe Price lookup_key: a-z, 0-9 and _, at most 100.' })
  lookupKey!: string;

  @Field({ description: 'Decimal string in the currency\'s major unit, e.g. "9.99"; "0" is a free option.' })
  amount!: string;

  @Field({ description: 'ISO-4217 code, e.g. "usd".' })
  currency!: string;

  @Field(() => PricingInterval)
  interval!: PricingInterval;

  @Field(() => Int, { nullable: true, description: 'Intervals per billing period (default 1); at most one year in all.' })
  intervalCount?: number | null;

  @Field(() => Boolean, { nullable: true, description: 'Whether the subscription renews (default true).' })
  autoRenew?: boolean | null;

  @Field(() => Int, {
    nullable: true,
    description: 'Days of free trial before the first charge, 0 to 730 (default 0: none); renewing options only.',
  })
  trialDays?: number | null;
}

@InputType({ description: 'What to change in a pricing option; a new amount, currency or interval makes a new Stripe Price.' })
export class PricingOptionChangeInput {
  @Field(() => String, { nullable: true })
  amount?: string | null;

  @Field(() => String, { nullable: true, description: 'A new currency needs the amount too.' })
  currency?: string | null;

  @Field(() => PricingInterval, { nullable: true })
  interval?: PricingInterval | null;

  @Field(() => Int, { nullable: true })
  intervalCount?: number | null;

  @Field(() => Boolean, { nullable: true })
  autoRenew?: boolean | null;

  @Field(() => Int, { nullable: true, description: 'Applies to subscriptions made from then on.' })
  trialDays?: number | null;
}

@InputType()
export class CreatePlanInput {
  @Field({ description: 'Stable code: a-z, 0-9 and _, at most 50.' })
  code!: string;

  @Field()
  name!: string;

  @Field(() => String, { nullable: true })
  description?: string | null;

  @Field(() => Int, { nullable: true, description: 'Display order, lowest first (default 0).' })
  rank?: number | null;

  @Field(() => Boolean, {
    nullable: true,
    description: 'Whether this is the default plan; refused while another is (use updatePlan to move the default).',
  })
  isDefault?: boolean | null;

  @Field(() => [PlanLimitInput], { nullable: true })
  limits?: PlanLimitInput[] | null;

  @Field(() => [String], { nullable: true, description: 'Feature keys: a-z, 0-9 and _.' })
  features?: string[] | null;

  @Field(() => [PricingOptionInput], { nullable: true })
  pricingOptions?: PricingOptionInput[] | null;
}

@InputType({ description: 'What to change in a plan; limits and features, when given, replace the whole set.' })
export class UpdatePlanInput {
  @Field(() => String, { nullable: true })
  name?: string | null;

  @Field(() => String, { nullable: true })
  description?: string | null;

  @Field(() => Int, { nullable: true })
  rank?: number | null;

  @Field(() => Boolean, { nullable: true, description: 'true makes this the default plan, taking the flag from the current one.' })
  isDefault?: boolean | null;

  @Field(() => [PlanLimitInput], { nullable: true })
  limits?: PlanLimitInput[] | null;

  @Field(() => [String], { nullable: true })
  features?: string[] | null;
}
