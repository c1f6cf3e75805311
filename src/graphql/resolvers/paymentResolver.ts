import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { AuthUser } from '../../auth/principal';
import { createPayment } from '../../billing/payments/create';
import { cancelPayment, capturePayment, refundPayment } from '../../billing/payments/operations';
import { findPayment, listPayments } from '../../billing/payments/queries';
import { ApiKeyScope, type PaymentLog } from '../../entities';
import { billingDeps, type Context } from '../context';
import { CurrentUser } from '../decorators';
import { toPayment, toPaymentConnection, toPaymentResult } from '../mappers';
import { Money } from '../types/common';
import { CreatePaymentInput, PaymentConnection, PaymentLogType, PaymentResult, PaymentType } from '../types/payment';

@Resolver(() => PaymentType)
export class PaymentResolver {
  @Authorized(ApiKeyScope.BILLING)
  @Mutation(() => PaymentResult, { description: 'Charge the user: with paymentMethod directly, without it through Stripe Checkout.' })
  async createPayment(@Arg('input') input: CreatePaymentInput, @Ctx() ctx: Context, @CurrentUser() user: AuthUser): Promise<PaymentResult> {
    return toPaymentResult(await createPayment(ctx.em, billingDeps(ctx), user.id, input));
  }

  @Authorized(ApiKeyScope.ADMIN)
  @Mutation(() => PaymentType, { description: 'Admins: capture an authorised (PREAUTH) payment, all of it or `amount`.' })
  async capturePayment(
    @Arg('id', () => ID) id: string,
    @Arg('amount', () => String, { nullable: true }) amount: string | null,
    @Ctx() ctx: Context,
  ): Promise<PaymentType> {
    return toPayment(await capturePayment(ctx.em, billingDeps(ctx), id, amount));
  }

  @Authorized(ApiKeyScope.ADMIN)
  @Mutation(() => PaymentType, { description: 'Admins: refund a captured payment, all that is left or `amount`.' })
  async refundPayment(
    @Arg('id', () => ID) id: string,
    @Arg('amount', () => String, { nullable: true }) amount: string | null,
    @Ctx() ctx: Context,
  ): Promise<PaymentType> {
    return toPayment(await refundPayment(ctx.em, billingDeps(ctx), id, amount));
  }

  @Authorized(ApiKeyScope.BILLING)
  @Mutation(() => PaymentType, { description: 'The owner or an admin: cancel a payment before it is captured.' })
  async cancelPayment(@Arg('id', () => ID) id: string, @Ctx() ctx: Context, @CurrentUser() user: AuthUser): Promise<PaymentType> {
    return toPayment(await cancelPayment(ctx.em, billingDeps(ctx), user, id));
  }

  @Authorized(ApiKeyScope.BILLING)
  @Query(() => PaymentConnection, { description: "The user's payments, newest first." })
  async myPayments(
    @Ctx() { em }: Context,
    @CurrentUser() user: AuthUser,
    @Arg('first', () => Int, { nullable: true, description: 'How many (1-100, default 20).' }) first?: number | null,
    @Arg('after', () => String, { nullable: true, description: 'A cursor from a previous page.' }) after?: string | null,
  ): Promise<PaymentConnection> {
    return toPaymentConnection(await listPayments(em, user.id, { first, after }));
  }

  @Authorized(ApiKeyScope.BILLING)
  @Query(() => PaymentType, { description: 'One payment: its owner or an admin; NOT_FOUND for anyone else.' })
  async payment(@Arg('id', () => ID) id: string, @Ctx() { em }: Context, @CurrentUser() user: AuthUser): Promise<PaymentType> {
    return toPayment(await findPayment(em, user, id));
  }

  @FieldResolver(() => Money)
  amount(@Root() p: PaymentType): Money {
    return Money.of(p.amountMinor, p.currency);
  }

  @FieldResolver(() => Money, { description: 'What was captured (zero until then).' })
  capturedAmount(@Root() p: PaymentType): Money {
    return Money.of(p.capturedAmountMinor, p.currency);
  }

  @FieldResolver(() => Money, { description: 'What was refunded so far.' })
  refundedAmount(@Root() p: PaymentType): Money {
    return Money.of(p.refundedAmountMinor, p.currency);
  }

  @FieldResolver(() => [PaymentLogType], { description: 'The audit log, oldest entry first.' })
  logs(@Root() p: PaymentType, @Ctx() { loaders }: Context): Promise<PaymentLog[]> {
    return loaders.paymentLogs.load(p.id);
  }
}
