import { createParameterDecorator } from 'type-graphql';
import { currentPrincipal, currentUser, type Context } from './context';

/**
 * `@CurrentUser() user: AuthUser`: the user the request acts for, never null. It asks the context
 * rather than reading `ctx.user`, so a field that forgot `@Authorized()` answers UNAUTHENTICATED
 * instead of failing on null, and resolvers need not change when more kinds of caller act for a user.
 */
export function CurrentUser() {
  return createParameterDecorator<Context>(({ context }) => currentUser(context));
}

/** `@CurrentPrincipal() principal: Principal`: who is calling (a user, or a service key), for operations that name users themselves. */
export function CurrentPrincipal() {
  return createParameterDecorator<Context>(({ context }) => currentPrincipal(context));
}
