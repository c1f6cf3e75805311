import { Arg, Authorized, Ctx, ID, Int, Mutation, Query, Resolver } from 'type-graphql';
import { DeliveryStatus, ApiKeyScope } from '../../entities';
import { listDeliveries } from '../../events/deliveries';
import { addEndpoint, disableEndpoint, listEndpoints, rotateEndpointSecret } from '../../events/endpoints';
import { replayEvents } from '../../events/replay';
import { DateTimeScalar } from '../scalars';
import type { Context } from '../context';
import { AddEventEndpointInput, EventDeliveryType, EventEndpointSecretResult, EventEndpointType } from '../types/events';

@Resolver(() => EventEndpointType)
export class EventEndpointResolver {
  @Authorized(ApiKeyScope.ADMIN)
  @Mutation(() => EventEndpointSecretResult, { description: 'Admins: a new event endpoint; its secret is in this answer only.' })
  addEventEndpoint(@Arg('input') input: AddEventEndpointInput, @Ctx() { em }: Context): Promise<EventEndpointSecretResult> {
    return addEndpoint(em, input);
  }

  @Authorized(ApiKeyScope.ADMIN)
  @Query(() => [EventEndpointType], { description: 'Admins: the event endpoints, oldest first (never their secrets).' })
  eventEndpoints(@Ctx() { em }: Context): Promise<EventEndpointType[]> {
    return listEndpoints(em);
  }

  @Authorized(ApiKeyScope.ADMIN)
  @Mutation(() => EventEndpointType, { description: 'Admins: stop deliveries to an endpoint.' })
  disableEventEndpoint(@Arg('id', () => ID) id: string, @Ctx() { em }: Context): Promise<EventEndpointType> {
    return disableEndpoint(em, id);
  }

  @Authorized(ApiKeyScope.ADMIN)
  @Mutation(() => EventEndpointSecretResult, { description: 'Admins: a new signing secret for an endpoint, at once; in this answer only.' })
  rotateEventEndpointSecret(@Arg('id', () => ID) id: string, @Ctx() { em }: Context): Promise<EventEndpointSecretResult> {
    return rotateEndpointSecret(em, id);
  }

  @Authorized(ApiKeyScope.ADMIN)
  @Query(() => [EventDeliveryType], { description: 'Admins: event deliveries, newest first, with their last attempt.' })
  eventDeliveries(
    @Ctx() { db }: Context,
    @Arg('endpointId', () => ID, { nullable: true }) endpointId?: string,
    @Arg('eventId', () => String, { nullable: true }) eventId?: string,
    @Arg('status', () => DeliveryStatus, { nullable: true }) status?: DeliveryStatus,
    @Arg('first', () => Int, { defaultValue: 20, description: '1 to 100.' }) first?: number,
  ): Promise<EventDeliveryType[]> {
    return listDeliveries(db, { endpointId, eventId, status, first });
  }

  @Authorized(ApiKeyScope.ADMIN)
  @Mutation(() => Int, {
    description: 'Admins: send events again (one by id, or all since a time); answers how many deliveries were queued.',
  })
  replayEvents(
    @Ctx() { db }: Context,
    @Arg('since', () => DateTimeScalar, { nullable: true }) since?: Date,
    @Arg('eventId', () => String, { nullable: true }) eventId?: string,
    @Arg('endpointId', () => ID, { nullable: true }) endpointId?: string,
  ): Promise<number> {
    return replayEvents(db, { since: since?.toISOString(), eventId, endpointId });
  }
}
