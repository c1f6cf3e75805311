import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { DeliveryStatus } from '../../entities';
import { DateTimeScalar } from '../scalars';

registerEnumType(DeliveryStatus, {
  name: 'EventDeliveryStatus',
  description: 'PENDING: to be sent or retried; DELIVERED: a 2xx came back; FAILED: given up after the retry window.',
});

@ObjectType('EventEndpoint', { description: "Where the product receives Tollgate's signed events (docs/events.md)." })
export class EventEndpointType {
  @Field(() => ID)
  id!: string;

  @Field()
  url!: string;

  @Field(() => [String], { description: 'Event types, prefixes such as payment.*, or * for every event.' })
  events!: string[];

  @Field()
  enabled!: boolean;

  @Field(() => DateTimeScalar)
  createdAt!: Date;
}

@ObjectType({ description: 'An endpoint and its signing secret: shown in this answer only.' })
export class EventEndpointSecretResult {
  @Field(() => EventEndpointType)
  endpoint!: EventEndpointType;

  @Field({ description: 'whsec_...: the key of the HMAC in Tollgate-Signature.' })
  secret!: string;
}

@InputType()
export class AddEventEndpointInput {
  @Field({ description: 'An http:// or https:// URL (at most 2048 characters).' })
  url!: string;

  @Field(() => [String], { nullable: true, description: 'Event types or prefixes (subscription.*); default every event.' })
  events?: string[] | null;
}

@ObjectType('EventDelivery', { description: 'One event on its way to one endpoint, with its last attempt.' })
export class EventDeliveryType {
  @Field(() => ID)
  id!: string;

  @Field()
  eventId!: string;

  @Field()
  eventType!: string;

  @Field(() => ID)
  endpointId!: string;

  @Field(() => ID)
  userId!: string;

  @Field(() => DeliveryStatus)
  status!: DeliveryStatus;

  @Field(() => Int)
  attempts!: number;

  @Field(() => Int, { nullable: true, description: "The receiver's HTTP status; null when no answer came (lastError says why)." })
  lastStatus!: number | null;

  @Field(() => String, { nullable: true })
  lastError!: string | null;

  @Field(() => Int, { nullable: true })
  lastDurationMs!: number | null;

  @Field(() => DateTimeScalar, { nullable: true })
  lastAttemptAt!: Date | null;

  @Field(() => DateTimeScalar, { nullable: true, description: 'When it is tried next (pending only).' })
  nextAttemptAt!: Date | null;

  @Field(() => DateTimeScalar, { nullable: true })
  deliveredAt!: Date | null;

  @Field(() => DateTimeScalar)
  createdAt!: Date;
}
