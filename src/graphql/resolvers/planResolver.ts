import { Arg, Ctx, FieldResolver, Query, Resolver, Root } from 'type-graphql';
import { findPlan, listPlans } from '../../billing/catalog';
import type { Context } from '../context';
import { toPlanLimit, toPricingOption } from '../mappers';
import { PlanLimitType, PlanType, PricingOptionType } from '../types/plan';

@Resolver(() => PlanType)
export class PlanResolver {
  @Query(() => [PlanType], { description: 'Active plans in display order.' })
  plans(@Ctx() { em }: Context): Promise<PlanType[]> {
    return listPlans(em);
  }

  @Query(() => PlanType, { nullable: true })
  plan(@Arg('code') code: string, @Ctx() { em }: Context): Promise<PlanType | null> {
    return findPlan(em, code);
  }

  @FieldResolver(() => [PlanLimitType])
  async limits(@Root() plan: PlanType, @Ctx() { loaders }: Context): Promise<PlanLimitType[]> {
    return (await loaders.planLimits.load(plan.id)).map(toPlanLimit);
  }

  @FieldResolver(() => [PricingOptionType])
  async pricingOptions(@Root() plan: PlanType, @Ctx() { loaders }: Context): Promise<PricingOptionType[]> {
    return (await loaders.planPricings.load(plan.id)).map(toPricingOption);
  }
}
