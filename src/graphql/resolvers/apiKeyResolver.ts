import { Arg, Authorized, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import { createApiKey, listApiKeys, revokeApiKey } from '../../auth/apiKeys';
import { ApiKeyScope } from '../../entities';
import type { Context } from '../context';
import { ApiKeyType, CreateApiKeyInput, CreateApiKeyResult } from '../types/user';

@Resolver(() => ApiKeyType)
export class ApiKeyResolver {
  @Authorized(ApiKeyScope.ADMIN)
  @Mutation(() => CreateApiKeyResult, { description: 'Admins: a service API key for the product backend; the key is in this answer only.' })
  createApiKey(@Arg('input') input: CreateApiKeyInput, @Ctx() { db }: Context): Promise<CreateApiKeyResult> {
    return createApiKey(db, input);
  }

  @Authorized(ApiKeyScope.ADMIN)
  @Query(() => [ApiKeyType], { description: 'Admins: the service API keys, newest first (never the keys themselves).' })
  apiKeys(@Ctx() { db }: Context, @Arg('includeRevoked', { defaultValue: false }) includeRevoked: boolean): Promise<ApiKeyType[]> {
    return listApiKeys(db, { includeRevoked });
  }

  @Authorized(ApiKeyScope.ADMIN)
  @Mutation(() => ApiKeyType, { description: 'Admins: revoke a key by its name, prefix or id; it stops working at once.' })
  revokeApiKey(
    @Arg('key', { description: 'The name, prefix (tg_sk_...) or id of the key.' }) key: string,
    @Ctx() { db }: Context,
  ): Promise<ApiKeyType> {
    return revokeApiKey(db, key);
  }
}
