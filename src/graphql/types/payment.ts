import { Field, ID, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { CaptureMethod, PaymentStatus } from '../../entities';
import { DateTimeScalar, JSONObjectScalar } from '../scalars';

registerEnumType(PaymentStatus, {
  name: 'PaymentStatus',
  description: 'Where a one-off payment stands.',
  valuesConfig: {
    WAITING: {
      description:
        'Created; waiting for the customer (3-D Secure, Checkout: also after a card declined on a Checkout page that is still open) or for Stripe.',
    },
    PREAUTH: { description: 'Authorised (manual capture): capture or cancel it.' },
    CONFIRMED: { description: 'Paid (captured).' },
    PARTIALLY_REFUNDED: { description: 'Paid, and part of it refunded.' },
    REFUNDED: { description: 'Paid, and all of it refunded.' },
    REJECTED: {
      description: 'The card was declined or failed authentication (failureCode, failureMessage); not while a Checkout page is still open.',
    },
    CANCELED: { description: 'Canceled before capture, or its Checkout expired.' },
    DISPUTED: { description: 'The cardholder disputed the payment.' },
    ERROR: { description: 'Stripe failed while the payment was being started; the log says why.' },
  },
});
registerEnumType(CaptureMethod, {
  name: 'CaptureMethod',
  description: 'AUTOMATIC charges at once; MANUAL only authorises (PREAUTH) until an admin captures.',
});

@ObjectType('PaymentLogEntry', { description: "One line of a payment's audit log: a state change or the outcome of a Stripe call." })
export class PaymentLogType {
  @Field({ description: 'created, stripe, stripe_error, stripe_refused, status, linked, declined, captured, refunded or disputed.' })
  event!: string;

  @Field()
  message!: string;

  @Field(() => DateTimeScalar)
  createdAt!: Date;
}

// amount, capturedAmount, refundedAmount and logs are field resolvers (PaymentResolver), made only when
// a query asks for them.
@ObjectType('Payment', { description: 'A one-off payment through Stripe.' })
export class PaymentType {
  @Field(() => ID)
  id!: string;

  @Field(() => PaymentStatus)
  status!: PaymentStatus;

  @Field(() => CaptureMethod)
  captureMethod!: CaptureMethod;

  @Field(() => String, { nullable: true })
  description!: string | null;

  @Field(() => String, { nullable: true })
  orderId!: string | null;

  @Field(() => JSONObjectScalar, { nullable: true })
  metadata!: Record<string, unknown> | null;

  @Field(() => String, { nullable: true, description: "Stripe's decline code (e.g. insufficient_funds), or why Stripe could not be used." })
  failureCode!: string | null;

  @Field(() => String, { nullable: true })
  failureMessage!: string | null;

  @Field(() => String, { nullable: true })
  stripePaymentIntentId!: string | null;

  @Field(() => DateTimeScalar)
  createdAt!: Date;

  @Field(() => DateTimeScalar)
  updatedAt!: Date;

  // Not in the schema: what the Money field resolvers are made of.
  amountMinor!: number;
  capturedAmountMinor!: number;
  refundedAmountMinor!: number;
  currency!: string;
}

@InputType()
export class CreatePaymentInput {
  @Field({ description: 'Decimal string in the currency\'s major unit: "10.00" USD, "500" JPY, "1.230" BHD.' })
  amount!: string;

  @Field({ description: 'ISO-4217 code, e.g. "USD" or "usd".' })
  currency!: string;

  @Field(() => String, { nullable: true })
  description?: string | null;

  @Field(() => String, { nullable: true, description: 'Your own order reference.' })
  orderId?: string | null;

  @Field(() => JSONObjectScalar, { nullable: true, description: 'Up to 40 keys of strings, numbers or booleans; copied to Stripe.' })
  metadata?: Record<string, unknown> | null;

  @Field(() => String, {
    nullable: true,
    description: 'A Stripe payment method (e.g. pm_card_visa). Without it the answer carries a Checkout URL.',
  })
  paymentMethod?: string | null;

  @Field(() => CaptureMethod, { nullable: true, description: 'AUTOMATIC (default) or MANUAL.' })
  captureMethod?: CaptureMethod | null;

  @Field(() => String, { nullable: true, description: 'Where Checkout sends the person after paying.' })
  successUrl?: string | null;

  @Field(() => String, { nullable: true, description: 'Where Checkout sends the person who cancels.' })
  cancelUrl?: string | null;

  @Field(() => String, { nullable: true, description: 'The same key returns the same payment instead of paying again.' })
  idempotencyKey?: string | null;
}

@ObjectType()
export class PaymentResult {
  @Field(() => PaymentType)
  payment!: PaymentType;

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

@ObjectType()
export class PaymentEdge {
  @Field({ description: 'Pass as `after` to get the payments after this one.' })
  cursor!: string;

  @Field(() => PaymentType)
  node!: PaymentType;
}

@ObjectType()
export class PageInfo {
  @Field()
  hasNextPage!: boolean;

  @Field(() => String, { nullable: true, description: 'Cursor of the last edge; null on an empty page.' })
  endCursor!: string | null;
}

@ObjectType({ description: 'A page of payments, newest first.' })
export class PaymentConnection {
  @Field(() => [PaymentEdge])
  edges!: PaymentEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}
