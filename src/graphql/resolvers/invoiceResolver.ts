import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Query, Resolver, Root } from 'type-graphql';
import type { AuthUser } from '../../auth/principal';
import { listInvoices, SUBSCRIPTION_INVOICES_DEFAULT, SUBSCRIPTION_INVOICES_MAX, userInvoices } from '../../billing/invoices/queries';
import { ApiKeyScope } from '../../entities';
import type { Context } from '../context';
import { CurrentUser } from '../decorators';
import { toInvoice, toInvoiceConnection } from '../mappers';
import { Money } from '../types/common';
import { InvoiceConnection, InvoiceType } from '../types/invoice';
import { SubscriptionType } from '../types/subscription';

@Resolver(() => InvoiceType)
export class InvoiceResolver {
  @Authorized(ApiKeyScope.BILLING)
  @Query(() => InvoiceConnection, { description: "The user's invoices from finalization on (no drafts), newest first." })
  async myInvoices(
    @Ctx() { em }: Context,
    @CurrentUser() user: AuthUser,
    @Arg('first', () => Int, { nullable: true, description: 'How many (1-100, default 20).' }) first?: number | null,
    @Arg('after', () => String, { nullable: true, description: 'A cursor from a previous page.' }) after?: string | null,
  ): Promise<InvoiceConnection> {
    return toInvoiceConnection(await listInvoices(em, user.id, { first, after }));
  }

  @Authorized(ApiKeyScope.ADMIN)
  @Query(() => InvoiceConnection, { description: "Admins: a user's invoices, newest first, drafts included." })
  async invoices(
    @Arg('userId', () => ID) userId: string,
    @Ctx() { em }: Context,
    @Arg('first', () => Int, { nullable: true, description: 'How many (1-100, default 20).' }) first?: number | null,
    @Arg('after', () => String, { nullable: true, description: 'A cursor from a previous page.' }) after?: string | null,
  ): Promise<InvoiceConnection> {
    return toInvoiceConnection(await userInvoices(em, userId, { first, after }));
  }

  @FieldResolver(() => Money)
  total(@Root() i: InvoiceType): Money {
    return Money.of(i.totalAmountMinor, i.currency);
  }

  @FieldResolver(() => Money)
  amountPaid(@Root() i: InvoiceType): Money {
    return Money.of(i.paidAmountMinor, i.currency);
  }

  @FieldResolver(() => Money, { description: "What the invoice asks for (Stripe's amount_due); it stays the same once paid." })
  amountDue(@Root() i: InvoiceType): Money {
    return Money.of(i.dueAmountMinor, i.currency);
  }

  @FieldResolver(() => Money, { description: 'What is still to be paid (zero once paid or void).' })
  amountRemaining(@Root() i: InvoiceType): Money {
    return Money.of(i.remainingAmountMinor, i.currency);
  }
}

/** Subscription.invoices: batched for every subscription of a list by one DataLoader. */
@Resolver(() => SubscriptionType)
export class SubscriptionInvoicesResolver {
  @Authorized(ApiKeyScope.BILLING)
  @FieldResolver(() => [InvoiceType], {
    description: `The subscription's newest invoices (no drafts), newest first; every invoice is in myInvoices.`,
  })
  async invoices(
    @Root() sub: SubscriptionType,
    @Ctx() { loaders }: Context,
    @Arg('first', () => Int, {
      nullable: true,
      description: `How many (1-${SUBSCRIPTION_INVOICES_MAX}, default ${SUBSCRIPTION_INVOICES_DEFAULT}).`,
    })
    first?: number | null,
  ): Promise<InvoiceType[]> {
    return (await loaders.subscriptionInvoices.load({ subscriptionId: sub.id, first })).map(toInvoice);
  }
}
