import { Arg, Authorized, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import { cancelSubscription, resumeSubscription } from '../../billing/subscriptions/lifecycle';
import { listSubscriptions } from '../../billing/subscriptions/queries';
import { subscribe } from '../../billing/subscriptions/subscribe';
import type { Plan, Subscription } from '../../entities';
import { billingDeps, type Context } from '../context';
import { PricingOptionType } from '../types/plan';
import { SubscribeInput, SubscribeResult, SubscriptionType } from '../types/subscription';
import { toPricingOption } from './planResolver';

@Resolver(() => SubscriptionType)
export class SubscriptionResolver {
  @Authorized()
  @Query(() => [SubscriptionType], { description: "The user's subscriptions, newest first." })
  mySubscriptions(@Ctx() { em, user }: Context): Promise<Subscription[]> {
    return listSubscriptions(em, user!.id);
  }

  @Authorized()
  @Mutation(() => SubscribeResult)
  async subscribe(@Arg('input') input: SubscribeInput, @Ctx() ctx: Context): Promise<SubscribeResult> {
    return (await subscribe(ctx.em, billingDeps(ctx), ctx.user!.id, input)) as unknown as SubscribeResult;
  }

  @Authorized()
  @Mutation(() => SubscriptionType, { description: 'Cancel at the end of the current period.' })
  cancelSubscription(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<Subscription> {
    return cancelSubscription(ctx.em, billingDeps(ctx), ctx.user!.id, id);
  }

  @Authorized()
  @Mutation(() => SubscriptionType, { description: 'Undo a cancellation before the period ends.' })
  resumeSubscription(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<Subscription> {
    return resumeSubscription(ctx.em, billingDeps(ctx), ctx.user!.id, id);
  }

  @FieldResolver(() => String, { nullable: true })
  stripeSubscriptionId(@Root() sub: Subscription): string | null {
    return sub.stripeSubscriptionId ?? null;
  }

  @FieldResolver(() => PricingOptionType)
  async pricing(@Root() sub: Subscription, @Ctx() { loaders }: Context): Promise<PricingOptionType> {
    return toPricingOption(await loaders.pricingById.load(sub.pricing.id));
  }

  @FieldResolver()
  plan(@Root() sub: Subscription, @Ctx() { loaders }: Context): Promise<Plan> {
    return loaders.planById.load(sub.plan.id);
  }
}
