import { Arg, Ctx, FieldResolver, Query, Resolver, Root } from 'type-graphql';
import { findPlan, listPlans } from '../../billing/catalog';
import type { Plan, PlanPricing } from '../../entities';
import type { Context } from '../context';
import { Money } from '../types/common';
import { PlanLimitType, PlanType, PricingOptionType, toIntervalGql } from '../types/plan';

export const toPricingOption = (p: PlanPricing): PricingOptionType => ({
  id: p.id,
  amount: Money.of(p.amountMinor, p.currency),
  interval: toIntervalGql(p.interval),
  intervalCount: p.intervalCount,
  autoRenew: p.autoRenew,
});

@Resolver(() => PlanType)
export class PlanResolver {
  @Query(() => [PlanType], { description: 'Active plans in display order.' })
  plans(@Ctx() { em }: Context): Promise<Plan[]> {
    return listPlans(em);
  }

  @Query(() => PlanType, { nullable: true })
  plan(@Arg('code') code: string, @Ctx() { em }: Context): Promise<Plan | null> {
    return findPlan(em, code);
  }

  @FieldResolver(() => [PlanLimitType])
  async limits(@Root() plan: Plan, @Ctx() { loaders }: Context): Promise<PlanLimitType[]> {
    return (await loaders.planLimits.load(plan.id)).map((l) => ({ metric: l.metric, perDay: l.perDay }));
  }

  @FieldResolver(() => [PricingOptionType])
  async pricingOptions(@Root() plan: Plan, @Ctx() { loaders }: Context): Promise<PricingOptionType[]> {
    return (await loaders.planPricings.load(plan.id)).map(toPricingOption);
  }
}
