import { Arg, Authorized, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import type { AuthUser } from '../../auth/principal';
import { getLimits, recordUsage } from '../../billing/limits';
import type { Context } from '../context';
import { ApiKeyScope } from '../../entities';
import { CurrentUser } from '../decorators';
import { toLimits } from '../mappers';
import { Limits, MetricUsage, RecordUsageInput } from '../types/limits';

@Resolver()
export class LimitsResolver {
  @Authorized(ApiKeyScope.USAGE)
  @Query(() => Limits, { description: 'What the user may still use today, per metric.' })
  async myLimits(@Ctx() { db }: Context, @CurrentUser() user: AuthUser): Promise<Limits> {
    return toLimits(await getLimits(db, user));
  }

  @Authorized(ApiKeyScope.USAGE)
  @Mutation(() => MetricUsage, { description: 'Consumes an amount of a metric atomically; LIMIT_EXCEEDED when it would go over.' })
  recordUsage(@Arg('input') input: RecordUsageInput, @Ctx() { db }: Context, @CurrentUser() user: AuthUser): Promise<MetricUsage> {
    return recordUsage(db, user, input);
  }
}
