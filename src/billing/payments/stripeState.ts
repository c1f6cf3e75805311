import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import { PaymentStatus, type Payment } from '../../entities';
import { stripeId } from '../../ids';
import { logPayment, money } from './log';

/**
 * Stripe is the source of truth for payments; these functions copy its current state onto our rows and
 * write every change to the payment's log in the same transaction. Callers pass freshly retrieved
 * objects, never an event's snapshot, so late or duplicate signals cannot move a payment backwards.
 */

/** Metadata key carrying our payment id on every PaymentIntent and Checkout Session we create. */
export const PAYMENT_ID_KEY = 'tollgate_payment_id';

/** What Stripe says about one payment right now. */
export interface StripePaymentState {
  intent?: Stripe.PaymentIntent | null;
  /** the intent's latest charge (refunds, dispute flag) */
  charge?: Stripe.Charge | null;
  /** the newest dispute of the charge, when it is disputed (for the log) */
  dispute?: Stripe.Dispute | null;
  session?: Stripe.Checkout.Session | null;
}

/**
 * What was refunded at the customer's request. Stripe counts an authorization released by a partial
 * capture in the charge's `amount_refunded`; that part was never captured, so it is left out.
 */
export function refundedOf(charge: Stripe.Charge | null | undefined): number {
  if (!charge || !charge.captured) return 0;
  return Math.max(0, charge.amount_refunded - (charge.amount - charge.amount_captured));
}

/**
 * Our status for Stripe's state of the PaymentIntent and its charge. `checkoutOpen`: the payment's Checkout
 * Session is still open, so a declined card is one attempt on the page, where the person can try another
 * card: the payment stays WAITING until Checkout completes or expires.
 */
export function statusOf(intent: Stripe.PaymentIntent, charge: Stripe.Charge | null | undefined, checkoutOpen = false): PaymentStatus {
  switch (intent.status) {
    case 'requires_capture':
      return PaymentStatus.PREAUTH;
    case 'canceled':
      return PaymentStatus.CANCELED;
    case 'succeeded': {
      if (charge?.disputed) return PaymentStatus.DISPUTED;
      const refunded = refundedOf(charge);
      if (refunded > 0 && refunded >= intent.amount_received) return PaymentStatus.REFUNDED;
      return refunded > 0 ? PaymentStatus.PARTIALLY_REFUNDED : PaymentStatus.CONFIRMED;
    }
    case 'requires_payment_method':
      return intent.last_payment_error && !checkoutOpen ? PaymentStatus.REJECTED : PaymentStatus.WAITING;
    default:
      // requires_confirmation, requires_action, processing
      return PaymentStatus.WAITING;
  }
}

const label = (s: PaymentStatus) => s.toUpperCase();

/** Logs one change to the payment; the messages are what applyStripeState answers. */
type Note = (event: string, message: string, data?: Record<string, unknown>) => void;

/**
 * Copies Stripe's state onto the payment and logs each change (status, decline, capture, refunds,
 * dispute, links). `source` says what asked (e.g. "webhook payment_intent.succeeded"). Returns the
 * changes' messages (empty when nothing changed). Does not flush.
 */
export function applyStripeState(em: EntityManager, payment: Payment, state: StripePaymentState, source: string): string[] {
  const changes: string[] = [];
  const note: Note = (event, message, data = {}) => {
    changes.push(message);
    logPayment(em, payment, event, `${message} (${source})`, { ...data, source });
  };
  link(payment, state, note);
  const status = state.intent ? applyIntent(payment, state.intent, state, note) : statusWithoutIntent(payment, state.session);
  applyStatus(payment, status, state.dispute, note);
  return changes;
}

function link(payment: Payment, { intent, session }: StripePaymentState, note: Note): void {
  if (session && payment.stripeCheckoutSessionId !== session.id) {
    payment.stripeCheckoutSessionId = session.id;
    note('linked', `linked to Checkout Session ${session.id}`, { checkoutSession: session.id });
  }
  if (intent && payment.stripePaymentIntentId !== intent.id) {
    payment.stripePaymentIntentId = intent.id;
    note('linked', `linked to PaymentIntent ${intent.id}`, { paymentIntent: intent.id });
  }
}

/** The PaymentIntent's amounts and decline onto the payment; returns the status they mean. */
function applyIntent(payment: Payment, intent: Stripe.PaymentIntent, { charge, session }: StripePaymentState, note: Note): PaymentStatus {
  const checkoutOpen = session?.status === 'open';
  const status = statusOf(intent, charge, checkoutOpen);
  applyAmounts(payment, intent, charge, note);
  applyDecline(payment, intent, status, checkoutOpen, note);
  return status;
}

function applyAmounts(payment: Payment, intent: Stripe.PaymentIntent, charge: Stripe.Charge | null | undefined, note: Note): void {
  const captured = intent.status === 'succeeded' ? intent.amount_received : 0;
  if (captured !== payment.capturedAmountMinor) {
    payment.capturedAmountMinor = captured;
    note('captured', `captured ${money(captured, payment.currency)}`, { capturedAmountMinor: captured });
  }
  const refunded = intent.status === 'succeeded' ? refundedOf(charge) : 0;
  if (refunded !== payment.refundedAmountMinor) {
    const before = payment.refundedAmountMinor;
    payment.refundedAmountMinor = refunded;
    note('refunded', `refunded ${money(refunded, payment.currency)} in total (was ${money(before, payment.currency)})`, {
      refundedAmountMinor: refunded,
    });
  }
}

/** The intent's last error becomes the payment's failure; a decline is logged once per code and status. */
function applyDecline(payment: Payment, intent: Stripe.PaymentIntent, status: PaymentStatus, checkoutOpen: boolean, note: Note): void {
  const error = intent.last_payment_error;
  const failureCode = error ? (error.decline_code ?? error.code ?? 'payment_failed') : null;
  const failureMessage = error ? (error.message ?? null) : null;
  const declined = status === PaymentStatus.REJECTED || (checkoutOpen && error);
  if (declined && (failureCode !== payment.failureCode || status !== payment.status)) {
    const open = status === PaymentStatus.REJECTED ? '' : '; the Checkout page stays open for another card';
    note('declined', `declined: ${failureCode}${failureMessage ? `: ${failureMessage}` : ''}${open}`, {
      failureCode,
      stripeCode: error?.code,
    });
  }
  payment.failureCode = failureCode;
  payment.failureMessage = failureMessage;
}

/** A Checkout Session that expired before any PaymentIntent was made: nothing was paid. */
function statusWithoutIntent(payment: Payment, session: Stripe.Checkout.Session | null | undefined): PaymentStatus {
  return session?.status === 'expired' && !payment.stripePaymentIntentId ? PaymentStatus.CANCELED : payment.status;
}

function applyStatus(payment: Payment, status: PaymentStatus, dispute: Stripe.Dispute | null | undefined, note: Note): void {
  if (status === payment.status) return;
  const from = payment.status;
  payment.status = status;
  note('status', `${label(from)} -> ${label(status)}`, { from, to: status });
  if (status === PaymentStatus.DISPUTED) {
    const d = dispute;
    note(
      'disputed',
      d ? `disputed by the cardholder: ${d.reason} (${d.id}, ${money(d.amount, d.currency)}, ${d.status})` : 'disputed by the cardholder',
      d ? { dispute: d.id, reason: d.reason } : {},
    );
  }
}

/**
 * A Stripe object may only be linked to our payment when it is the payment's user's customer's, for the
 * same money and not already another's: metadata naming our payment can be copied onto anything.
 */
export function belongsTo(payment: Payment, state: StripePaymentState): boolean {
  const { intent, session } = state;
  const customer = payment.user.stripeCustomerId ?? null;
  if (intent && stripeId(intent.customer) !== customer) return false;
  if (session && stripeId(session.customer) !== customer) return false;
  if (intent && (intent.amount !== payment.amountMinor || intent.currency !== payment.currency)) return false;
  if (intent && payment.stripePaymentIntentId && payment.stripePaymentIntentId !== intent.id) return false;
  if (session && payment.stripeCheckoutSessionId && payment.stripeCheckoutSessionId !== session.id) return false;
  return true;
}
