import { Arg, Authorized, Ctx, Int, Mutation, Query, Resolver } from 'type-graphql';
import type { AuthUser, Principal } from '../../auth/principal';
import { checkUsage, getLimits, hasFeature, recordUsage } from '../../billing/limits';
import { MAX_BATCH, recordUsageBatch } from '../../billing/usageBatch';
import { usageHistory } from '../../billing/usageHistory';
import type { Context } from '../context';
import { ApiKeyScope } from '../../entities';
import { CurrentPrincipal, CurrentUser } from '../decorators';
import { batchSender, toLimits, toUsageEventResult } from '../mappers';
import { LocalDateScalar } from '../scalars';
import { DailyUsage, Limits, MetricUsage, RecordUsageInput, UsageCheck } from '../types/limits';
import { UsageEventInput, UsageEventResult } from '../types/usageBatch';

@Resolver()
export class LimitsResolver {
  @Authorized(ApiKeyScope.USAGE)
  @Query(() => Limits, { description: 'What the user may still use, per metric and period, and the features they have.' })
  async myLimits(@Ctx() { db, grace }: Context, @CurrentUser() user: AuthUser): Promise<Limits> {
    return toLimits(await getLimits(db, user, new Date(), grace));
  }

  @Authorized(ApiKeyScope.USAGE)
  @Mutation(() => MetricUsage, {
    description: 'Consumes an amount of a metric in every period it is limited in, atomically; LIMIT_EXCEEDED when any would go over.',
  })
  recordUsage(
    @Arg('input') input: RecordUsageInput,
    @Ctx() { db, grace, usageThresholdPercent }: Context,
    @CurrentUser() user: AuthUser,
  ): Promise<MetricUsage> {
    return recordUsage(db, user, input, new Date(), grace, usageThresholdPercent);
  }

  @Authorized(ApiKeyScope.USAGE)
  @Mutation(() => [UsageEventResult], {
    description: `Records up to ${MAX_BATCH} uses at once, each exactly as recordUsage would; a refused event is answered in its place.`,
  })
  async recordUsageBatch(
    @Arg('events', () => [UsageEventInput]) events: UsageEventInput[],
    @Ctx() { db, grace, usageThresholdPercent }: Context,
    @CurrentPrincipal() principal: Principal,
  ): Promise<UsageEventResult[]> {
    return (await recordUsageBatch(db, batchSender(principal), events, new Date(), grace, usageThresholdPercent)).map(toUsageEventResult);
  }

  @Authorized(ApiKeyScope.USAGE)
  @Query(() => UsageCheck, { description: 'Whether an amount of a metric would be accepted now; consumes nothing.' })
  checkUsage(
    @Arg('metric') metric: string,
    @Arg('amount', () => Int) amount: number,
    @Ctx() { db, grace }: Context,
    @CurrentUser() user: AuthUser,
  ): Promise<UsageCheck> {
    return checkUsage(db, user, { metric, amount }, new Date(), grace);
  }

  @Authorized(ApiKeyScope.USAGE)
  @Query(() => Boolean, { description: 'Whether the plan in force grants the feature.' })
  hasFeature(@Arg('key') key: string, @Ctx() { db, grace }: Context, @CurrentUser() user: AuthUser): Promise<boolean> {
    return hasFeature(db, user, key, new Date(), grace);
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
