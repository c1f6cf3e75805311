import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { InvoiceStatus } from '../../entities';
import { DateTimeScalar } from '../scalars';
import { PageInfo } from './payment';

registerEnumType(InvoiceStatus, {
  name: 'InvoiceStatus',
  description: "Stripe's invoice statuses.",
  valuesConfig: {
    DRAFT: { description: 'Not finalized yet: no number, no hosted page (listed to admins only).' },
    OPEN: { description: 'Finalized and waiting for payment (a failed charge leaves it open, with amountRemaining).' },
    PAID: { description: 'Paid in full.' },
    UNCOLLECTIBLE: { description: 'Written off; it can still be paid.' },
    VOID: { description: 'Canceled: nothing is owed.' },
  },
});

// total, amountPaid, amountDue and amountRemaining are field resolvers (InvoiceResolver).
@ObjectType('Invoice', { description: 'A Stripe invoice of the user (a subscription bills through them), as last synced from Stripe.' })
export class InvoiceType {
  @Field(() => ID)
  id!: string;

  @Field()
  stripeInvoiceId!: string;

  @Field(() => String, { nullable: true, description: 'Set by Stripe when the invoice is finalized.' })
  number!: string | null;

  @Field(() => InvoiceStatus)
  status!: InvoiceStatus;

  @Field(() => DateTimeScalar)
  periodStart!: Date;

  @Field(() => DateTimeScalar)
  periodEnd!: Date;

  @Field(() => String, { nullable: true, description: "Stripe's page where the customer sees (and pays) the invoice; null on a draft." })
  hostedInvoiceUrl!: string | null;

  @Field(() => String, { nullable: true, description: 'The invoice as a PDF; null on a draft.' })
  invoicePdfUrl!: string | null;

  @Field(() => DateTimeScalar, { description: 'When Stripe created the invoice.' })
  created!: Date;

  @Field(() => ID, { nullable: true, description: 'The subscription it bills (Subscription.id); null for none Tollgate keeps.' })
  subscriptionId!: string | null;

  // Not in the schema: what the Money field resolvers are made of.
  currency!: string;
  totalAmountMinor!: number;
  paidAmountMinor!: number;
  dueAmountMinor!: number;
  remainingAmountMinor!: number;
}

@ObjectType()
export class InvoiceEdge {
  @Field({ description: 'Pass as `after` to get the invoices after this one.' })
  cursor!: string;

  @Field(() => InvoiceType)
  node!: InvoiceType;
}

@ObjectType({ description: 'A page of invoices, newest first.' })
export class InvoiceConnection {
  @Field(() => [InvoiceEdge])
  edges!: InvoiceEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}
