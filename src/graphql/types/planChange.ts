import { Field, ID, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { DateTimeScalar } from '../scalars';
import { Money } from './common';
import { PricingOptionType } from './plan';
import { SubscriptionType } from './subscription';

export enum PlanChangeKind {
  UPGRADE = 'UPGRADE',
  DOWNGRADE = 'DOWNGRADE',
}

registerEnumType(PlanChangeKind, {
  name: 'PlanChangeKind',
  description: 'UPGRADE (higher Plan.rank, or a longer interval): at once, prorated. DOWNGRADE: at the end of the current period.',
});

@InputType()
export class ChangeSubscriptionInput {
  @Field(() => ID, { description: 'The subscription to change (one of mySubscriptions, in force).' })
  id!: string;

  @Field(() => ID, { description: 'The pricing option of a paid plan to move to (Plan.pricingOptions.id).' })
  pricingId!: string;

  @Field(() => String, { nullable: true, description: 'The same key answers the first call again instead of changing twice.' })
  idempotencyKey?: string | null;
}

@ObjectType()
export class ChangeSubscriptionResult {
  @Field(() => SubscriptionType)
  subscription!: SubscriptionType;

  @Field(() => PlanChangeKind)
  kind!: PlanChangeKind;

  @Field(() => Money, {
    nullable: true,
    description: "What the upgrade charged now (Stripe's proration); null for a downgrade, or while 3-D Secure waits.",
  })
  amountCharged!: Money | null;

  @Field(() => String, {
    nullable: true,
    description: 'When the card needs authentication (3-D Secure): the PaymentIntent client secret. The change applies once it is paid.',
  })
  clientSecret?: string | null;

  @Field(() => String, { nullable: true, description: "With clientSecret: Stripe's page for the authentication step." })
  nextActionUrl?: string | null;
}

@ObjectType('ProrationLine', { description: "One line of Stripe's invoice for a change: a credit (negative) or a charge." })
export class ProrationLineType {
  @Field()
  description!: string;

  @Field(() => Money)
  amount!: Money;

  @Field(() => DateTimeScalar)
  periodStart!: Date;

  @Field(() => DateTimeScalar)
  periodEnd!: Date;
}

@ObjectType('SubscriptionChangePreview', {
  description: 'What changeSubscription would do, from Stripe’s invoice preview; nothing is changed.',
})
export class SubscriptionChangePreviewType {
  @Field(() => PlanChangeKind)
  kind!: PlanChangeKind;

  @Field(() => PricingOptionType)
  pricing!: PricingOptionType;

  @Field(() => Money, { description: 'Charged at once: the proration of an upgrade; zero for a downgrade.' })
  amountDue!: Money;

  @Field(() => [ProrationLineType])
  lines!: ProrationLineType[];

  @Field(() => DateTimeScalar, { description: 'When the change takes effect: now, or the end of the current period.' })
  effectiveAt!: Date;

  @Field(() => DateTimeScalar, { nullable: true, description: 'The end of the billing period after the change.' })
  newPeriodEnd!: Date | null;
}

@ObjectType('ScheduledChange', { description: 'A downgrade waiting for the end of the current period.' })
export class ScheduledChangeType {
  @Field(() => PricingOptionType)
  pricing!: PricingOptionType;

  @Field(() => DateTimeScalar)
  effectiveAt!: Date;
}
