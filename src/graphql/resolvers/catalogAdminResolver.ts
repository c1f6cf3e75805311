import { Arg, Authorized, Ctx, ID, Mutation, Resolver } from 'type-graphql';
import { ApiKeyScope } from '../../entities';
import * as catalog from '../../sync/catalogAdmin';
import type { Context } from '../context';
import { toPricingOption } from '../mappers';
import { CreatePlanInput, PricingOptionChangeInput, PricingOptionInput, UpdatePlanInput } from '../types/catalogAdmin';
import { PlanType, PricingOptionType } from '../types/plan';

/** Admins: the catalog, written and then synced to Stripe (one Product per plan, one Price per paid option). */
@Resolver()
export class CatalogAdminResolver {
  @Authorized(ApiKeyScope.ADMIN)
  @Mutation(() => PlanType, { description: 'Admins: a new plan with its limits, features and pricing options.' })
  createPlan(@Arg('input') input: CreatePlanInput, @Ctx() { em, billing }: Context): Promise<PlanType> {
    return catalog.createPlan(em, billing, input);
  }

  @Authorized(ApiKeyScope.ADMIN)
  @Mutation(() => PlanType, { description: "Admins: change a plan's name, description, rank, default flag, limits or features." })
  updatePlan(@Arg('code') code: string, @Arg('input') input: UpdatePlanInput, @Ctx() { em, billing }: Context): Promise<PlanType> {
    return catalog.updatePlan(em, billing, code, input);
  }

  @Authorized(ApiKeyScope.ADMIN)
  @Mutation(() => PricingOptionType, { description: 'Admins: a new way to pay for a plan.' })
  async addPricingOption(
    @Arg('planCode') planCode: string,
    @Arg('input') input: PricingOptionInput,
    @Ctx() { em, billing }: Context,
  ): Promise<PricingOptionType> {
    return toPricingOption(await catalog.addPricingOption(em, billing, planCode, input));
  }

  @Authorized(ApiKeyScope.ADMIN)
  @Mutation(() => PricingOptionType, {
    description: 'Admins: change a pricing option; existing subscriptions keep the price they were bought at.',
  })
  async updatePricingOption(
    @Arg('id', () => ID) id: string,
    @Arg('input') input: PricingOptionChangeInput,
    @Ctx() { em, billing }: Context,
  ): Promise<PricingOptionType> {
    return toPricingOption(await catalog.updatePricingOption(em, billing, id, input));
  }

  @Authorized(ApiKeyScope.ADMIN)
  @Mutation(() => PricingOptionType, { description: 'Admins: stop offering a pricing option; existing subscriptions go on.' })
  async archivePricingOption(@Arg('id', () => ID) id: string, @Ctx() { em, billing }: Context): Promise<PricingOptionType> {
    return toPricingOption(await catalog.archivePricingOption(em, billing, id));
  }
}
