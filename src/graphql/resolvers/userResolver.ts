import { Authorized, Query, Resolver } from 'type-graphql';
import type { AuthUser } from '../../auth/users';
import { CurrentUser } from '../decorators';
import { UserType } from '../types/user';

@Resolver(() => UserType)
export class UserResolver {
  @Authorized()
  @Query(() => UserType, { description: 'The authenticated user.' })
  me(@CurrentUser() user: AuthUser): AuthUser {
    return user;
  }
}
