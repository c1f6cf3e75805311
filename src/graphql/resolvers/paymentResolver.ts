import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { createPayment } from '../../billing/payments/create';
import { cancelPayment, capturePayment, refundPayment } from '../../billing/payments/operations';
import { findPayment, listPayments } from '../../billing/payments/queries';
import { UserRole, type Payment, type PaymentLog } from '../../entities';
import { billingDeps, type Context } from '../context';
import { Money } from '../types/common';
import { CreatePaymentInput, PaymentConnection, PaymentLogType, PaymentResult, PaymentType } from '../types/payment';

@Resolver(() => PaymentType)
export class PaymentResolver {
  @Authorized()
  @Mutation(() => PaymentResult, { description: 'Charge the user: with paymentMethod directly, without it through Stripe Checkout.' })
  async createPayment(@Arg('input') input: CreatePaymentInput, @Ctx() ctx: Context): Promise<PaymentResult> {
    return (await createPayment(ctx.em, billingDeps(ctx), ctx.user!.id, input)) as unknown as PaymentResult;
  }

  @Authorized(UserRole.ADMIN)
  @Mutation(() => PaymentType, { description: 'Admins: capture an authorised (PREAUTH) payment, all of it or `amount`.' })
  capturePayment(
    @Arg('id', () => ID) id: string,
    @Arg('amount', () => String, { nullable: true }) amount: string | null,
    @Ctx() ctx: Context,
  ): Promise<Payment> {
    return capturePayment(ctx.em, billingDeps(ctx), id, amount);
  }

  @Authorized(UserRole.ADMIN)
  @Mutation(() => PaymentType, { description: 'Admins: refund a captured payment, all that is left or `amount`.' })
  refundPayment(
    @Arg('id', () => ID) id: string,
    @Arg('amount', () => String, { nullable: true }) amount: string | null,
    @Ctx() ctx: Context,
  ): Promise<Payment> {
    return refundPayment(ctx.em, billingDeps(ctx), id, amount);
  }

  @Authorized()
  @Mutation(() => PaymentType, { description: 'The owner or an admin: cancel a payment before it is captured.' })
  cancelPayment(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<Payment> {
    return cancelPayment(ctx.em, billingDeps(ctx), ctx.user!, id);
  }

  @Authorized()
  @Query(() => PaymentConnection, { description: "The user's payments, newest first." })
  async myPayments(
    @Ctx() { em, user }: Context,
    @Arg('first', () => Int, { nullable: true, description: 'How many (1-100, default 20).' }) first?: number | null,
    @Arg('after', () => String, { nullable: true, description: 'A cursor from a previous page.' }) after?: string | null,
  ): Promise<PaymentConnection> {
    const page = await listPayments(em, user!.id, { first, after });
    return {
      edges: page.payments.map((node, i) => ({ cursor: page.cursors[i], node: node as unknown as PaymentType })),
      pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.cursors.at(-1) ?? null },
    };
  }

  @Authorized()
  @Query(() => PaymentType, { description: 'One payment: its owner or an admin; NOT_FOUND for anyone else.' })
  payment(@Arg('id', () => ID) id: string, @Ctx() { em, user }: Context): Promise<Payment> {
    return findPayment(em, user!, id);
  }

  @FieldResolver(() => Money)
  amount(@Root() p: Payment): Money {
    return Money.of(p.amountMinor, p.currency);
  }

  @FieldResolver(() => Money)
  capturedAmount(@Root() p: Payment): Money {
    return Money.of(p.capturedAmountMinor, p.currency);
  }

  @FieldResolver(() => Money)
  refundedAmount(@Root() p: Payment): Money {
    return Money.of(p.refundedAmountMinor, p.currency);
  }

  @FieldResolver(() => String, { nullable: true })
  stripePaymentIntentId(@Root() p: Payment): string | null {
    return p.stripePaymentIntentId ?? null;
  }

  @FieldResolver(() => [PaymentLogType])
  logs(@Root() p: Payment, @Ctx() { loaders }: Context): Promise<PaymentLog[]> {
    return loaders.paymentLogs.load(p.id);
  }
}
