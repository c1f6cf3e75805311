import { Field, ID, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { SubscriptionStatus } from '../../entities';
import { DateTimeScalar } from '../scalars';

registerEnumType(SubscriptionStatus, { name: 'SubscriptionStatus', description: "Stripe's subscription statuses." });

// plan and pricing are field resolvers (SubscriptionResolver), batched through DataLoaders.
@ObjectType('Subscription')
export class SubscriptionType {
  @Field(() => ID)
  id!: string;

  @Field(() => String, { nullable: true })
  stripeSubscriptionId!: string | null;

  @Field(() => SubscriptionStatus)
  status!: SubscriptionStatus;

  @Field(() => DateTimeScalar, { nullable: true })
  currentPeriodStart!: Date | null;

  @Field(() => DateTimeScalar, { nullable: true })
  currentPeriodEnd!: Date | null;

  @Field({ description: 'The subscription ends at currentPeriodEnd instead of renewing.' })
  cancelAtPeriodEnd!: boolean;

  @Field(() => DateTimeScalar, { nullable: true })
  canceledAt!: Date | null;

  @Field(() => DateTimeScalar, { nullable: true })
  endedAt!: Date | null;

  @Field(() => DateTimeScalar, {
    nullable: true,
    description: 'When its free trial ends, or ended (status TRIALING until then); null when it had none.',
  })
  trialEnd!: Date | null;

  // Not in the schema: what the plan, pricing and scheduledChange field resolvers load.
  planId!: string;
  pricingId!: string;
  scheduledPricingId?: string | null;
  scheduledChangeAt?: Date | null;
}

@InputType()
export class SubscribeInput {
  @Field(() => ID, { description: 'A pricing option of a paid plan (Plan.pricingOptions.id).' })
  pricingId!: string;

  @Field(() => String, {
    nullable: true,
    description: 'A Stripe payment method (e.g. pm_card_visa). Without it the answer carries a Checkout URL.',
  })
  paymentMethod?: string | null;

  @Field(() => String, { nullable: true, description: 'Where Checkout sends the person after paying.' })
  successUrl?: string | null;

  @Field(() => String, { nullable: true, description: 'Where Checkout sends the person who cancels.' })
  cancelUrl?: string | null;

  @Field(() => String, { nullable: true, description: 'The same key returns the first answer instead of subscribing again.' })
  idempotencyKey?: string | null;
}

@ObjectType('PendingCheckout', { description: 'A Checkout opened by subscribe (no paymentMethod) and not paid yet.' })
export class PendingCheckoutType {
  @Field(() => ID, { description: 'The subscription the Checkout pays for (listed by mySubscriptions once paid).' })
  subscriptionId!: string;

  @Field({ description: 'Hosted Checkout page to send the person back to.' })
  url!: string;

  @Field(() => DateTimeScalar, { description: 'When Stripe expires the Checkout unpaid.' })
  expiresAt!: Date;
}

@ObjectType()
export class SubscribeResult {
  @Field(() => SubscriptionType)
  subscription!: SubscriptionType;

  @Field(() => String, { nullable: true, description: 'Hosted Checkout page to send the person to (no paymentMethod given).' })
  checkoutUrl?: string | null;

  @Field(() => String, { nullable: true, description: 'PaymentIntent client secret when the card needs authentication (3-D Secure).' })
  clientSecret?: string | null;

  @Field(() => String, {
    nullable: true,
    description:
      "With clientSecret: the page to send the person to for the authentication step (Stripe's 3-D Secure page); afterwards they come back to successUrl, or to a Tollgate page.",
  })
  nextActionUrl?: string | null;
}

@ObjectType('BillingPortalSession', { description: "A link to Stripe's customer portal for the user." })
export class BillingPortalSessionType {
  @Field({ description: 'Send the person here; it expires soon (Stripe: 5 minutes unless opened), so make one per visit.' })
  url!: string;
}
