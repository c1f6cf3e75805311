import { Field, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { DateTimeScalar, LocalDateScalar } from '../scalars';
import { LimitPeriod } from '../../entities';
import { PlanType } from './plan';

registerEnumType(LimitPeriod, {
  name: 'LimitPeriod',
  description: "The window a limit counts over: the user's local DAY, ISO WEEK or MONTH, the subscription's BILLING_PERIOD, or TOTAL.",
});

export enum LimitSource {
  SUBSCRIPTION = 'SUBSCRIPTION',
  DEFAULT_PLAN = 'DEFAULT_PLAN',
}
registerEnumType(LimitSource, { name: 'LimitSource', description: "Where today's limits come from." });

// Plain data objects: `simpleResolvers` lets graphql-js read their fields directly instead of through a
// type-graphql resolver wrapper per field (they have no middleware or field-level authorization).
@ObjectType({
  description: 'One metric in one period: the limit, what is used and what remains (null = unlimited).',
  simpleResolvers: true,
})
export class MetricUsage {
  @Field()
  metric!: string;

  @Field(() => LimitPeriod)
  period!: LimitPeriod;

  @Field(() => Int, { nullable: true })
  limit!: number | null;

  @Field(() => Int)
  used!: number;

  @Field(() => Int, { nullable: true })
  remaining!: number | null;

  @Field(() => DateTimeScalar, { nullable: true, description: 'When the window ends and the counter starts from zero; null for TOTAL.' })
  resetsAt!: Date | null;
}

@ObjectType({ simpleResolvers: true })
export class Limits {
  @Field(() => PlanType)
  plan!: PlanType;

  @Field(() => LimitSource)
  source!: LimitSource;

  @Field(() => LocalDateScalar, { description: "The user's local date (their IANA time zone)." })
  day!: string;

  @Field(() => DateTimeScalar, { description: 'The next local midnight, when the counters start again from zero.' })
  resetsAt!: Date;

  @Field(() => [String], { description: 'The features the plan in force grants.' })
  features!: string[];

  @Field(() => [MetricUsage], { description: 'One entry per limited metric and period.' })
  metrics!: MetricUsage[];
}

@ObjectType({ simpleResolvers: true })
export class UsageCheck {
  @Field({ description: 'Whether the amount would be accepted now.' })
  allowed!: boolean;

  @Field(() => MetricUsage, { nullable: true, description: 'The period that refuses, or when allowed the tightest one.' })
  limiting!: MetricUsage | null;
}

@ObjectType({ simpleResolvers: true })
export class DailyUsage {
  @Field(() => LocalDateScalar)
  day!: string;

  @Field(() => Int)
  used!: number;
}

@InputType()
export class RecordUsageInput {
  @Field({ description: 'Metric name, e.g. "minutes".' })
  metric!: string;

  @Field(() => Int, { description: 'How much was used; a positive whole number.' })
  amount!: number;

  @Field({ nullable: true, description: 'The same key twice counts once and returns the same answer.' })
  idempotencyKey?: string;
}
