import { Field, InputType, Int, ObjectType } from 'type-graphql';
import { JSONObjectScalar } from '../scalars';
import { MetricUsage } from './limits';

@InputType({ description: 'One use of a batch.' })
export class UsageEventInput {
  @Field(() => String, {
    nullable: true,
    description: "The product's id of the user (externalId): required with a service key; a user may leave it out or name themselves.",
  })
  user?: string | null;

  @Field({ description: 'Metric name, e.g. "minutes".' })
  metric!: string;

  @Field(() => Int, { description: 'How much was used; a positive whole number.' })
  amount!: number;

  @Field({ description: 'Required: the same key twice counts once and answers the same.' })
  idempotencyKey!: string;
}

@ObjectType({ description: 'Why an event of a batch was refused: the code and message recordUsage would have answered.' })
export class UsageEventError {
  @Field({ description: 'LIMIT_EXCEEDED, BAD_USER_INPUT, NOT_FOUND, FORBIDDEN, CONFLICT.' })
  code!: string;

  @Field()
  message!: string;

  @Field(() => JSONObjectScalar, { description: 'The error extensions (period, remaining, resetsAt, field, ...).' })
  extensions!: Record<string, unknown>;
}

@ObjectType({ description: "One event's outcome, in the order sent: what it left, or why nothing was recorded for it." })
export class UsageEventResult {
  @Field()
  ok!: boolean;

  @Field(() => MetricUsage, { nullable: true })
  usage!: MetricUsage | null;

  @Field(() => UsageEventError, { nullable: true })
  error!: UsageEventError | null;
}
