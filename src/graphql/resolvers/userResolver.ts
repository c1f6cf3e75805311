import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { AuthUser } from '../../auth/principal';
import { findUser, listUsers } from '../../auth/userQueries';
import { upsertUser } from '../../auth/users';
import { ApiKeyScope } from '../../entities';
import { pendingCheckout } from '../../billing/subscriptions/queries';
import { billingDeps, type Context } from '../context';
import { CurrentUser } from '../decorators';
import { toUser, toUserConnection } from '../mappers';
import { PendingCheckoutType } from '../types/subscription';
import { UpsertUserInput, UpsertUserResult, UserConnection, UserType } from '../types/user';

@Resolver(() => UserType)
export class UserResolver {
  @Authorized()
  @Query(() => UserType, { description: 'The user this request acts for: the caller, or the user a service key names in Tollgate-User.' })
  me(@CurrentUser() user: AuthUser): UserType {
    return toUser(user);
  }

  @Authorized(ApiKeyScope.USERS)
  @Mutation(() => UpsertUserResult, { description: "Creates or updates a user by the product's own id; calling it again changes nothing." })
  async upsertUser(@Arg('input') input: UpsertUserInput, @Ctx() { db }: Context): Promise<UpsertUserResult> {
    const { user, created } = await upsertUser(db, input);
    return { user: toUser(user), created };
  }

  @Authorized(ApiKeyScope.USERS)
  @Query(() => UserType, { nullable: true, description: "One user, by Tollgate's id or the product's id (give one)." })
  async user(
    @Ctx() { db }: Context,
    @Arg('id', () => ID, { nullable: true }) id?: string | null,
    @Arg('externalId', () => String, { nullable: true }) externalId?: string | null,
  ): Promise<UserType | null> {
    const row = await findUser(db, { id, externalId });
    return row && toUser(row);
  }

  @Authorized(ApiKeyScope.ADMIN)
  @Query(() => UserConnection, { description: 'Admins: every user, newest first.' })
  async users(
    @Ctx() { db }: Context,
    @Arg('first', () => Int, { nullable: true, description: 'How many (1-100, default 20).' }) first?: number | null,
    @Arg('after', () => String, { nullable: true, description: 'A cursor from a previous page.' }) after?: string | null,
    @Arg('query', () => String, { nullable: true, description: 'Part of the email, the product id or the name.' }) search?: string | null,
  ): Promise<UserConnection> {
    return toUserConnection(await listUsers(db, { first, after, search }));
  }

  @Authorized(ApiKeyScope.BILLING)
  @FieldResolver(() => PendingCheckoutType, {
    nullable: true,
    description: 'The Checkout subscribe opened and not paid yet (open in Stripe).',
  })
  async pendingCheckout(@Root() user: UserType, @Ctx() ctx: Context): Promise<PendingCheckoutType | null> {
    return pendingCheckout(ctx.em, billingDeps(ctx), user.id);
  }
}
