import type { EntityManager } from '@mikro-orm/postgresql';
import Stripe from 'stripe';
import { Payment, PaymentStatus } from '../../entities';
import { DomainError, badInput, notFound } from '../../errors';
import { UUID } from '../../ids';
import { checkIdLength, parseInput } from '../../input';
import { idempotencyKey } from '../../stripe/client';
import { callStripe } from '../../stripe/errors';
import type { BillingDeps } from '../deps';
import { commitThenThrow, Unexpected } from '../transactions';
import { fetchPaymentState } from './fetchState';
import { moneyExtension } from '../money';
import { CaptureOrRefundAmount } from './inputs';
import { underPaymentLock } from './lock';
import { logPayment, money } from './log';
import { findPayment, type Actor } from './queries';
import { applyStripeState, belongsTo, PAYMENT_ID_KEY } from './stripeState';

/**
 * What can be done to a payment once it exists: capture, refund, cancel. Each runs under the payment's
 * lock, and each Stripe call's outcome is logged in the same transaction, refusals included.
 */

const CANCELABLE = [PaymentStatus.WAITING, PaymentStatus.PREAUTH, PaymentStatus.REJECTED, PaymentStatus.ERROR];

/** What an operation ends in: the payment, or a failure to throw once its log is committed. */
type Outcome = Payment | DomainError | Unexpected;

/**
 * One Stripe call about an existing payment, under its lock: the outcome is logged either way. A
 * refusal (our copy was stale, or Stripe does not allow the amount) re-reads the payment from Stripe and
 * becomes BAD_USER_INPUT; an unreachable or failing Stripe stays PAYMENT_SERVICE_UNAVAILABLE. Failures
 * are returned, to be thrown once the log is committed.
 */
async function paymentCall<T>(
  tx: EntityManager,
  deps: BillingDeps,
  payment: Payment,
  what: string,
  call: () => Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: DomainError | Unexpected }> {
  try {
    return { ok: true, value: await callStripe(call, deps) };
  } catch (err) {
    if (err instanceof Stripe.errors.StripeInvalidRequestError) {
      logPayment(tx, payment, 'stripe_refused', `${what} refused by Stripe: ${err.message}`, { code: err.code, param: err.param });
      await resync(tx, deps, payment, `after a refused ${what}`);
      const field = err.param === 'amount' || err.param === 'amount_to_capture' ? 'amount' : 'id';
      return { ok: false, error: badInput(err.message, { field, stripeCode: err.code }) };
    }
    if (err instanceof DomainError) {
      logPayment(tx, payment, 'stripe_error', `${what} failed: ${err.message}`, { code: err.code });
      return { ok: false, error: err };
    }
    deps.logger.error({ err, payment: payment.id }, `Stripe call failed: ${what}`);
    logPayment(tx, payment, 'stripe_error', `${what} failed with an internal error`, { code: 'INTERNAL_SERVER_ERROR' });
    return { ok: false, error: new Unexpected(err) };
  }
}

async function resync(tx: EntityManager, deps: BillingDeps, payment: Payment, source: string): Promise<void> {
  try {
    const state = await fetchPaymentState(deps, payment);
    if (belongsTo(payment, state)) applyStripeState(tx, payment, state, source);
  } catch (err) {
    deps.logger.warn({ err, payment: payment.id }, 'could not re-read a payment from Stripe');
  }
}

/** Runs an operation on a payment under its user's lock; a failure it returns is thrown after the commit (so its log stays). */
function operate(em: EntityManager, id: string, op: (tx: EntityManager, payment: Payment) => Promise<Outcome>): Promise<Payment> {
  return commitThenThrow(em, (tx) => underPaymentLock(tx, id, op));
}

const state = (p: Payment) => p.status.toUpperCase();

/** Any payment by id (admins), NOT_FOUND when there is none. */
async function existing(em: EntityManager, id: string): Promise<Payment> {
  const payment = UUID.test(checkIdLength(id)) ? await em.findOne(Payment, { id }) : null;
  if (!payment) throw notFound('Payment');
  return payment;
}

/** Captures an authorised (PREAUTH) payment, all of it or part (the rest is released). */
export async function capturePayment(em: EntityManager, deps: BillingDeps, id: string, amount?: string | null): Promise<Payment> {
  const { id: paymentId } = await existing(em, id);
  return operate(em, paymentId, async (tx, payment) => {
    if (payment.status === PaymentStatus.WAITING) {
      // Our copy may be behind Stripe: a 3-D Secure step or a Checkout may have authorised it since, and
      // its webhook not be here yet.
      const current = await paymentCall(tx, deps, payment, 'capture', () => fetchPaymentState(deps, payment));
      if (!current.ok) return current.error;
      if (belongsTo(payment, current.value)) applyStripeState(tx, payment, current.value, 'capturePayment');
    }
    if (payment.status !== PaymentStatus.PREAUTH)
      throw badInput(`Only an authorised (PREAUTH) payment can be captured; this one is ${state(payment)}`, { field: 'id' });
    const minor = parseInput(CaptureOrRefundAmount(payment.currency), { amount }).amount ?? payment.amountMinor;
    if (minor > payment.amountMinor) {
      throw badInput(`Cannot capture ${money(minor, payment.currency)}: ${money(payment.amountMinor, payment.currency)} is authorised`, {
        field: 'amount',
        ...moneyExtension('authorised', payment.amountMinor, payment.currency),
      });
    }
    const key = idempotencyKey('payment', payment.id, 'capture', minor);
    const res = await paymentCall(tx, deps, payment, 'capture', () =>
      deps.stripe.paymentIntents.capture(
        payment.stripePaymentIntentId!,
        { amount_to_capture: minor, expand: ['latest_charge'] },
        { idempotencyKey: key },
      ),
    );
    if (!res.ok) return res.error;
    logPayment(tx, payment, 'stripe', `capture of ${money(minor, payment.currency)} accepted`, {
      call: 'payment_intents.capture',
      idempotencyKey: key,
    });
    const charge = typeof res.value.latest_charge === 'object' ? res.value.latest_charge : null;
    applyStripeState(tx, payment, { intent: res.value, charge }, 'capturePayment');
    return payment;
  });
}

/** Refunds a captured payment, all that is left or part of it. */
export async function refundPayment(em: EntityManager, deps: BillingDeps, id: string, amount?: string | null): Promise<Payment> {
  const { id: paymentId } = await existing(em, id);
  return operate(em, paymentId, async (tx, payment) => {
    if (payment.status === PaymentStatus.DISPUTED)
      throw badInput('A disputed payment cannot be refunded: the dispute settles it', { field: 'id' });
    if (payment.status !== PaymentStatus.CONFIRMED && payment.status !== PaymentStatus.PARTIALLY_REFUNDED) {
      throw badInput(`Only a captured payment can be refunded; this one is ${state(payment)}`, { field: 'id' });
    }
    const left = payment.capturedAmountMinor - payment.refundedAmountMinor;
    const minor = parseInput(CaptureOrRefundAmount(payment.currency), { amount }).amount ?? left;
    if (minor > left) {
      throw badInput(`Cannot refund ${money(minor, payment.currency)}: ${money(left, payment.currency)} is left to refund`, {
        field: 'amount',
        ...moneyExtension('remaining', left, payment.currency),
      });
    }
    // The refunded total so far is part of the key: a retry of this refund is the same refund, a later one is new.
    const key = idempotencyKey('payment', payment.id, 'refund', payment.refundedAmountMinor, minor);
    const res = await paymentCall(tx, deps, payment, 'refund', () =>
      deps.stripe.refunds.create(
        { payment_intent: payment.stripePaymentIntentId!, amount: minor, metadata: { [PAYMENT_ID_KEY]: payment.id } },
        { idempotencyKey: key },
      ),
    );
    if (!res.ok) return res.error;
    logPayment(tx, payment, 'stripe', `refund ${res.value.id} of ${money(minor, payment.currency)}: ${res.value.status}`, {
      call: 'refunds.create',
      refund: res.value.id,
      idempotencyKey: key,
    });
    await resync(tx, deps, payment, 'refundPayment');
    return payment;
  });
}

/**
 * Cancels a payment before capture (the owner or an admin): an open Checkout is expired, a
 * PaymentIntent canceled (an authorisation released). A payment Stripe never heard of is canceled here.
 */
export async function cancelPayment(em: EntityManager, deps: BillingDeps, actor: Actor, id: string): Promise<Payment> {
  const { id: paymentId } = await findPayment(em, actor, id);
  return operate(em, paymentId, async (tx, payment) => {
    // Stripe's current state first: the payment may have been captured, paid or canceled meanwhile.
    const current = await paymentCall(tx, deps, payment, 'cancel', () => fetchPaymentState(deps, payment));
    if (!current.ok) return current.error;
    if (belongsTo(payment, current.value)) applyStripeState(tx, payment, current.value, 'cancelPayment');
    if (!CANCELABLE.includes(payment.status))
      throw badInput(`Only a payment that has not been captured can be canceled; this one is ${state(payment)}`, { field: 'id' });
    const session = current.value.session;
    if (session?.status === 'open') return expireCheckout(tx, deps, payment, session.id);
    if (payment.stripePaymentIntentId) return cancelIntent(tx, deps, payment, payment.stripePaymentIntentId);
    return cancelUnstarted(tx, payment);
  });
}

const cancelKey = (payment: Payment) => idempotencyKey('payment', payment.id, 'cancel');

/** A payment still on its Checkout page: the session is expired, and what that did is read back. */
async function expireCheckout(tx: EntityManager, deps: BillingDeps, payment: Payment, sessionId: string): Promise<Outcome> {
  const key = cancelKey(payment);
  const res = await paymentCall(tx, deps, payment, 'cancel', () =>
    deps.stripe.checkout.sessions.expire(sessionId, {}, { idempotencyKey: key }),
  );
  if (!res.ok) return res.error;
  logPayment(tx, payment, 'stripe', `Checkout Session ${res.value.id} expired`, {
    call: 'checkout.sessions.expire',
    idempotencyKey: key,
  });
  await resync(tx, deps, payment, 'cancelPayment');
  return payment;
}

/** A PaymentIntent not yet captured: canceled, which releases an authorisation. */
async function cancelIntent(tx: EntityManager, deps: BillingDeps, payment: Payment, intentId: string): Promise<Outcome> {
  const key = cancelKey(payment);
  const res = await paymentCall(tx, deps, payment, 'cancel', () =>
    deps.stripe.paymentIntents.cancel(
      intentId,
      { cancellation_reason: 'requested_by_customer', expand: ['latest_charge'] },
      { idempotencyKey: key },
    ),
  );
  if (!res.ok) return res.error;
  logPayment(tx, payment, 'stripe', `PaymentIntent ${res.value.id} canceled`, { call: 'payment_intents.cancel', idempotencyKey: key });
  const charge = typeof res.value.latest_charge === 'object' ? res.value.latest_charge : null;
  applyStripeState(tx, payment, { intent: res.value, charge }, 'cancelPayment');
  return payment;
}

/** A payment Stripe never heard of: there is nothing to cancel there. */
function cancelUnstarted(tx: EntityManager, payment: Payment): Outcome {
  logPayment(tx, payment, 'status', `${state(payment)} -> CANCELED (cancelPayment: nothing in Stripe to cancel)`, {
    from: payment.status,
    to: PaymentStatus.CANCELED,
    source: 'cancelPayment',
  });
  payment.status = PaymentStatus.CANCELED;
  return payment;
}
