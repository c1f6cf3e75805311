import { Arg, Ctx, FieldResolver, Int, Query, Resolver, Root } from 'type-graphql';
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

  @FieldResolver(() => Int, {
    description:
      'Orders the plans (Free 0, Day Pass 1, Premium 2): moving to a higher rank is an upgrade, at once; to a lower one a downgrade, at the period end.',
  })
  rank(@Root() plan: PlanType): number {
    return plan.sortOrder;
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
