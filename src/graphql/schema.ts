import 'reflect-metadata';
import type { GraphQLSchema } from 'graphql';
import { buildSchema, type AuthChecker } from 'type-graphql';
import { refusal } from '../auth/permissions';
import { currentPrincipal, type Context } from './context';
import { LimitsResolver } from './resolvers/limitsResolver';
import { InvoiceResolver, SubscriptionInvoicesResolver } from './resolvers/invoiceResolver';
import { PaymentResolver } from './resolvers/paymentResolver';
import { PlanResolver } from './resolvers/planResolver';
import { SubscriptionResolver } from './resolvers/subscriptionResolver';
import { UserResolver } from './resolvers/userResolver';
import { ApiKeyResolver } from './resolvers/apiKeyResolver';
import { CatalogAdminResolver } from './resolvers/catalogAdminResolver';
import { EventEndpointResolver } from './resolvers/eventEndpointResolver';
import { withSubscriptions } from './liveSchema';

export const RESOLVERS = [
  PlanResolver,
  UserResolver,
  LimitsResolver,
  SubscriptionResolver,
  PaymentResolver,
  InvoiceResolver,
  SubscriptionInvoicesResolver,
  ApiKeyResolver,
  CatalogAdminResolver,
  EventEndpointResolver,
] as const;

/**
 * `@Authorized()` needs a caller; `@Authorized('usage' | 'billing' | 'users' | 'admin')` what that names
 * (src/auth/permissions.ts): a service key's scope, or an admin user for `users` and `admin`.
 */
export const authChecker: AuthChecker<Context> = ({ context }, needed) => {
  const refused = refusal(currentPrincipal(context), needed);
  if (refused) throw refused;
  return true;
};

let cached: Promise<GraphQLSchema> | undefined;

/** The schema is built once per process (type-graphql metadata is global). */
export function getSchema(): Promise<GraphQLSchema> {
  cached ??= buildSchema({ resolvers: RESOLVERS, authChecker, validate: false }).then(withSubscriptions);
  return cached;
}
