import { Field, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { DateTimeScalar, LocalDateScalar } from '../scalars';
import { PlanType } from './plan';

export enum LimitSource {
  SUBSCRIPTION = 'SUBSCRIPTION',
  DEFAULT_PLAN = 'DEFAULT_PLAN',
}
registerEnumType(LimitSource, { name: 'LimitSource', description: "Where today's limits come from." });

// Plain data objects: `simpleResolvers` lets graphql-js read their fields directly instead of through a
// type-graphql resolver wrapper per field (they have no middleware or field-level authorization).
@ObjectType({ description: 'One metric today: the limit, what is used and what remains (null = unlimited).', simpleResolvers: true })
export class MetricUsage {
  @Field()
  metric!: string;

  @Field(() => Int, { nullable: true })
  limit!: number | null;

  @Field(() => Int)
  used!: number;

  @Field(() => Int, { nullable: true })
  remaining!: number | null;
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

  @Field(() => [MetricUsage])
  metrics!: MetricUsage[];
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
