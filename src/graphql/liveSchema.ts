import type { EntityManager } from '@mikro-orm/postgresql';
import { GraphQLNonNull, GraphQLObjectType, GraphQLSchema, type GraphQLFieldConfig, type GraphQLOutputType } from 'graphql';
import { refusal } from '../auth/permissions';
import { getLimits } from '../billing/limits';
import { subscriptionOfEvent, type LiveSignal } from '../events/live';
import { ApiKeyScope } from '../entities';
import { currentPrincipal, currentUser, liveUpdates, type Context } from './context';
import { toLimits, toSubscription } from './mappers';

/** Any use recorded for the user, or a change of subscription (which may change the plan in force). */
const changesLimits = (s: LiveSignal) => s.type === 'usage.recorded' || s.type.startsWith('subscription.');

/** The notices of the user the subscriber acts for, once the scope is checked and the connection LISTENs. */
async function follow(ctx: Context, scope: ApiKeyScope, accept: (s: LiveSignal) => boolean, first?: boolean) {
  const refused = refusal(currentPrincipal(ctx), [scope]);
  if (refused) throw refused;
  const userId = currentUser(ctx).id;
  const live = liveUpdates(ctx);
  // Listening before the current state is read: a change in between is not missed, at most shown twice.
  const updates = live.listen(userId, accept, { coalesce: first, first: first ? { type: 'subscribed', userId } : undefined });
  await live.ready();
  return updates;
}

/**
 * The root Subscription type, written with graphql-js: type-graphql names its root `Subscription`, which
 * our billing type is already called. Each notice is a signal only; the answer is read afresh, so a
 * subscriber gets the state as it is, whichever server process changed it.
 */
export function withSubscriptions(schema: GraphQLSchema): GraphQLSchema {
  const type = (name: string) => new GraphQLNonNull(schema.getType(name) as GraphQLOutputType);
  const fields: Record<string, GraphQLFieldConfig<LiveSignal, Context>> = {
    limitsChanged: {
      type: type('Limits'),
      description: "The user's limits now, then again after every use recorded for them and every change of their subscription.",
      subscribe: (_root, _args, ctx) => follow(ctx, ApiKeyScope.USAGE, changesLimits, true),
      resolve: async (_signal, _args, ctx) => toLimits(await getLimits(ctx.db, currentUser(ctx))),
    },
    subscriptionChanged: {
      type: type('Subscription'),
      description: "One of the user's subscriptions, as it is after it was created, updated, renewed or ended.",
      subscribe: (_root, _args, ctx) => follow(ctx, ApiKeyScope.BILLING, (s) => s.type.startsWith('subscription.')),
      // A fresh fork per notice: the subscription's context lives as long as it does, its identity map would go stale.
      resolve: async (signal, _args, ctx) =>
        toSubscription(await subscriptionOfEvent(ctx.db.fork() as EntityManager, currentUser(ctx).id, signal.seq!)),
    },
  };
  return new GraphQLSchema({ ...schema.toConfig(), subscription: new GraphQLObjectType({ name: 'SubscriptionRoot', fields }) });
}
