import { Arg, Authorized, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { AuthUser } from '../../auth/principal';
import { cancelSubscription, resumeSubscription } from '../../billing/subscriptions/lifecycle';
import { listSubscriptions, userSubscriptions } from '../../billing/subscriptions/queries';
import { subscribe } from '../../billing/subscriptions/subscribe';
import { createBillingPortalSession } from '../../billing/portal';
import { billingDeps, type Context } from '../context';
import { ApiKeyScope } from '../../entities';
import { CurrentUser } from '../decorators';
import { toChangePreview, toChangeResult, toPricingOption, toSubscribeResult, toSubscription } from '../mappers';
import { changeSubscription } from '../../billing/subscriptions/change';
import { previewSubscriptionChange } from '../../billing/subscriptions/preview';
import { cancelScheduledChange } from '../../billing/subscriptions/schedule';
import { ChangeSubscriptionInput, ChangeSubscriptionResult, ScheduledChangeType, SubscriptionChangePreviewType } from '../types/planChange';
import { PlanType, PricingOptionType } from '../types/plan';
import { BillingPortalSessionType, SubscribeInput, SubscribeResult, SubscriptionType } from '../types/subscription';

@Resolver(() => SubscriptionType)
export class SubscriptionResolver {
  @Authorized(ApiKeyScope.BILLING)
  @Query(() => [SubscriptionType], {
    description:
      "The user's subscriptions that are or were in force (or wait for 3-D Secure), newest first; unpaid Checkout attempts are not listed (see User.pendingCheckout).",
  })
  async mySubscriptions(@Ctx() { em }: Context, @CurrentUser() user: AuthUser): Promise<SubscriptionType[]> {
    return (await listSubscriptions(em, user.id)).map(toSubscription);
  }

  @Authorized(ApiKeyScope.ADMIN)
  @Query(() => [SubscriptionType], { description: "Admins: a user's subscriptions, newest first, unpaid attempts included." })
  async subscriptions(@Arg('userId', () => ID) userId: string, @Ctx() { em }: Context): Promise<SubscriptionType[]> {
    return (await userSubscriptions(em, userId)).map(toSubscription);
  }

  @Authorized(ApiKeyScope.BILLING)
  @Mutation(() => SubscribeResult)
  async subscribe(@Arg('input') input: SubscribeInput, @Ctx() ctx: Context, @CurrentUser() user: AuthUser): Promise<SubscribeResult> {
    return toSubscribeResult(await subscribe(ctx.em, billingDeps(ctx), user.id, input));
  }

  @Authorized(ApiKeyScope.BILLING)
  @Mutation(() => SubscriptionType, { description: 'Cancel at the end of the current period.' })
  async cancelSubscription(@Arg('id', () => ID) id: string, @Ctx() ctx: Context, @CurrentUser() user: AuthUser): Promise<SubscriptionType> {
    return toSubscription(await cancelSubscription(ctx.em, billingDeps(ctx), user.id, id));
  }

  @Authorized(ApiKeyScope.BILLING)
  @Mutation(() => SubscriptionType, { description: 'Undo a cancellation before the period ends.' })
  async resumeSubscription(@Arg('id', () => ID) id: string, @Ctx() ctx: Context, @CurrentUser() user: AuthUser): Promise<SubscriptionType> {
    return toSubscription(await resumeSubscription(ctx.em, billingDeps(ctx), user.id, id));
  }

  @Authorized(ApiKeyScope.BILLING)
  @Mutation(() => BillingPortalSessionType, {
    description:
      "A link to Stripe's customer portal, where the user cancels or renews, changes plan (upgrades at once, downgrades at period end), replaces the card and sees invoices; returnUrl is where the portal's return link goes.",
  })
  async createBillingPortalSession(
    @Arg('returnUrl') returnUrl: string,
    @Ctx() ctx: Context,
    @CurrentUser() user: AuthUser,
  ): Promise<BillingPortalSessionType> {
    return createBillingPortalSession(ctx.em, billingDeps(ctx), user.id, { returnUrl });
  }

  @Authorized(ApiKeyScope.BILLING)
  @Mutation(() => ChangeSubscriptionResult, {
    description:
      'Move to another pricing option: an upgrade at once (prorated, charged now), a downgrade at the period end (see Plan.rank).',
  })
  async changeSubscription(
    @Arg('input') input: ChangeSubscriptionInput,
    @Ctx() ctx: Context,
    @CurrentUser() user: AuthUser,
  ): Promise<ChangeSubscriptionResult> {
    return toChangeResult(await changeSubscription(ctx.em, billingDeps(ctx), user.id, input));
  }

  @Authorized(ApiKeyScope.BILLING)
  @Query(() => SubscriptionChangePreviewType, {
    description: 'What changeSubscription would charge now and when it takes effect; changes nothing.',
  })
  async previewSubscriptionChange(
    @Arg('id', () => ID) id: string,
    @Arg('pricingId', () => ID) pricingId: string,
    @Ctx() ctx: Context,
    @CurrentUser() user: AuthUser,
  ): Promise<SubscriptionChangePreviewType> {
    return toChangePreview(await previewSubscriptionChange(ctx.em, billingDeps(ctx), user.id, { id, pricingId }));
  }

  @Authorized(ApiKeyScope.BILLING)
  @Mutation(() => SubscriptionType, { description: 'Drop the scheduled change: the subscription keeps its pricing option.' })
  async cancelScheduledChange(
    @Arg('id', () => ID) id: string,
    @Ctx() ctx: Context,
    @CurrentUser() user: AuthUser,
  ): Promise<SubscriptionType> {
    return toSubscription(await cancelScheduledChange(ctx.em, billingDeps(ctx), user.id, id));
  }

  @FieldResolver(() => ScheduledChangeType, { nullable: true, description: 'The downgrade waiting for the period end; null when none.' })
  async scheduledChange(@Root() sub: SubscriptionType, @Ctx() { loaders }: Context): Promise<ScheduledChangeType | null> {
    if (!sub.scheduledPricingId || !sub.scheduledChangeAt) return null;
    return { pricing: toPricingOption(await loaders.pricingById.load(sub.scheduledPricingId)), effectiveAt: sub.scheduledChangeAt };
  }

  @FieldResolver(() => PricingOptionType)
  async pricing(@Root() sub: SubscriptionType, @Ctx() { loaders }: Context): Promise<PricingOptionType> {
    return toPricingOption(await loaders.pricingById.load(sub.pricingId));
  }

  @FieldResolver(() => PlanType)
  plan(@Root() sub: SubscriptionType, @Ctx() { loaders }: Context): Promise<PlanType> {
    return loaders.planById.load(sub.planId);
  }
}
