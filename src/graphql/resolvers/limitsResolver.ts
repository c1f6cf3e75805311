import { Arg, Authorized, Ctx, Int, Mutation, Query, Resolver } from 'type-graphql';
import type { AuthUser } from '../../auth/principal';
import { checkUsage, getLimits, hasFeature, recordUsage } from '../../billing/limits';
import { usageHistory } from '../../billing/usageHistory';
import type { Context } from '../context';
import { ApiKeyScope } from '../../entities';
import { CurrentUser } from '../decorators';
import { toLimits } from '../mappers';
import { LocalDateScalar } from '../scalars';
import { DailyUsage, Limits, MetricUsage, RecordUsageInput, UsageCheck } from '../types/limits';

@Resolver()
export class LimitsResolver {
  @Authorized(ApiKeyScope.USAGE)
  @Query(() => Limits, { description: 'What the user may still use, per metric and period, and the features they have.' })
  async myLimits(@Ctx() { db }: Context, @CurrentUser() user: AuthUser): Promise<Limits> {
    return toLimits(await getLimits(db, user));
  }

  @Authorized(ApiKeyScope.USAGE)
  @Mutation(() => MetricUsage, {
    description: 'Consumes an amount of a metric in every period it is limited in, atomically; LIMIT_EXCEEDED when any would go over.',
  })
  recordUsage(
    @Arg('input') input: RecordUsageInput,
    @Ctx() { db, usageThresholdPercent }: Context,
    @CurrentUser() user: AuthUser,
  ): Promise<MetricUsage> {
    return recordUsage(db, user, input, new Date(), usageThresholdPercent);
  }

  @Authorized(ApiKeyScope.USAGE)
  @Query(() => UsageCheck, { description: 'Whether an amount of a metric would be accepted now; consumes nothing.' })
  checkUsage(
    @Arg('metric') metric: string,
    @Arg('amount', () => Int) amount: number,
    @Ctx() { db }: Context,
    @CurrentUser() user: AuthUser,
  ): Promise<UsageCheck> {
    return checkUsage(db, user, { metric, amount });
  }

  @Authorized(ApiKeyScope.USAGE)
  @Query(() => Boolean, { description: 'Whether the plan in force grants the feature.' })
  hasFeature(@Arg('key') key: string, @Ctx() { db }: Context, @CurrentUser() user: AuthUser): Promise<boolean> {
    return hasFeature(db, user, key);
  }

  @Authorized(ApiKeyScope.USAGE)
  @Query(() => [DailyUsage], { description: 'What the user used of a metric per local day, from and to included.' })
  myUsageHistory(
    @Arg('metric') metric: string,
    @Arg('from', () => LocalDateScalar) from: string,
    @Arg('to', () => LocalDateScalar, { description: 'Included; at most 400 days after from.' }) to: string,
    @Ctx() { db }: Context,
    @CurrentUser() user: AuthUser,
  ): Promise<DailyUsage[]> {
    return usageHistory(db, user, { metric, from, to });
  }
}
