import 'reflect-metadata';
import { GraphQLError, type GraphQLSchema } from 'graphql';
import { buildSchema, type AuthChecker } from 'type-graphql';
import { UserRole } from '../entities';
import { currentUser, type Context } from './context';
import { LimitsResolver } from './resolvers/limitsResolver';
import { PaymentResolver } from './resolvers/paymentResolver';
import { PlanResolver } from './resolvers/planResolver';
import { SubscriptionResolver } from './resolvers/subscriptionResolver';
import { UserResolver } from './resolvers/userResolver';

export const RESOLVERS = [PlanResolver, UserResolver, LimitsResolver, SubscriptionResolver, PaymentResolver] as const;

/** `@Authorized()` needs a user; `@Authorized('admin')` needs that role. */
export const authChecker: AuthChecker<Context> = ({ context }, roles) => {
  const user = currentUser(context);
  if (roles.length > 0 && !roles.includes(user.role)) {
    throw new GraphQLError('You are not allowed to do this', { extensions: { code: 'FORBIDDEN' } });
  }
  return true;
};

export const ADMIN = UserRole.ADMIN;

let cached: Promise<GraphQLSchema> | undefined;

/** The schema is built once per process (type-graphql metadata is global). */
export function getSchema(): Promise<GraphQLSchema> {
  cached ??= buildSchema({ resolvers: RESOLVERS, authChecker, validate: false });
  return cached;
}
