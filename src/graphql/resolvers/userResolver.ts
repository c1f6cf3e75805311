import { Authorized, Ctx, Query, Resolver } from 'type-graphql';
import type { AuthUser } from '../../auth/users';
import type { Context } from '../context';
import { UserType } from '../types/user';

@Resolver(() => UserType)
export class UserResolver {
  @Authorized()
  @Query(() => UserType, { description: 'The authenticated user.' })
  me(@Ctx() { user }: Context): AuthUser {
    return user!;
  }
}
