import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import { Payment, PaymentLog, PaymentStatus, type User } from '../entities';
import { callStripe } from '../stripe/errors';
import type { BillingDeps } from './deps';
import { notFound } from '../errors';
import { lockUser } from './locks';
import { formatAmount } from './money';
import { stripeId, UUID } from '../ids';

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

/** Appends a line to a payment's audit log (written with the surrounding flush). */
export function logPayment(em: EntityManager, payment: Payment, event: string, message: string, data?: Record<string, unknown>): void {
  em.create(PaymentLog, { payment, event, message, data: data ?? null });
}

export const money = (minor: number, currency: string) => `${formatAmount(minor, currency)} ${currency.toUpperCase()}`;

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

/**
 * Copies Stripe's state onto the payment and logs each change (status, decline, capture, refunds,
 * dispute, links). `source` says what asked (e.g. "webhook payment_intent.succeeded"). Returns the
 * changes' messages (empty when nothing changed). Does not flush.
 */
export function applyStripeState(em: EntityManager, payment: Payment, state: StripePaymentState, source: string): string[] {
  const changes: string[] = [];
  const log = (event: string, message: string, data: Record<string, unknown> = {}) => {
    changes.push(message);
    logPayment(em, payment, event, `${message} (${source})`, { ...data, source });
  };
  const { intent, session } = state;
  if (session && payment.stripeCheckoutSessionId !== session.id) {
    payment.stripeCheckoutSessionId = session.id;
    log('linked', `linked to Checkout Session ${session.id}`, { checkoutSession: session.id });
  }
  let status = payment.status;
  if (intent) {
    if (payment.stripePaymentIntentId !== intent.id) {
      payment.stripePaymentIntentId = intent.id;
      log('linked', `linked to PaymentIntent ${intent.id}`, { paymentIntent: intent.id });
    }
    const checkoutOpen = session?.status === 'open';
    status = statusOf(intent, state.charge, checkoutOpen);
    const captured = intent.status === 'succeeded' ? intent.amount_received : 0;
    if (captured !== payment.capturedAmountMinor) {
      payment.capturedAmountMinor = captured;
      log('captured', `captured ${money(captured, payment.currency)}`, { capturedAmountMinor: captured });
    }
    const refunded = intent.status === 'succeeded' ? refundedOf(state.charge) : 0;
    if (refunded !== payment.refundedAmountMinor) {
      const before = payment.refundedAmountMinor;
      payment.refundedAmountMinor = refunded;
      log('refunded', `refunded ${money(refunded, payment.currency)} in total (was ${money(before, payment.currency)})`, {
        refundedAmountMinor: refunded,
      });
    }
    const error = intent.last_payment_error;
    const failureCode = error ? (error.decline_code ?? error.code ?? 'payment_failed') : null;
    const failureMessage = error ? (error.message ?? null) : null;
    const declined = status === PaymentStatus.REJECTED || (checkoutOpen && error);
    if (declined && (failureCode !== payment.failureCode || status !== payment.status)) {
      const open = status === PaymentStatus.REJECTED ? '' : '; the Checkout page stays open for another card';
      log('declined', `declined: ${failureCode}${failureMessage ? `: ${failureMessage}` : ''}${open}`, {
        failureCode,
        stripeCode: error?.code,
      });
    }
    payment.failureCode = failureCode;
    payment.failureMessage = failureMessage;
  } else if (session?.status === 'expired' && !payment.stripePaymentIntentId) {
    status = PaymentStatus.CANCELED;
  }
  if (status !== payment.status) {
    const from = payment.status;
    payment.status = status;
    log('status', `${label(from)} -> ${label(status)}`, { from, to: status });
    if (status === PaymentStatus.DISPUTED) {
      const d = state.dispute;
      log(
        'disputed',
        d ? `disputed by the cardholder: ${d.reason} (${d.id}, ${money(d.amount, d.currency)}, ${d.status})` : 'disputed by the cardholder',
        d ? { dispute: d.id, reason: d.reason } : {},
      );
    }
  }
  return changes;
}

/**
 * A Checkout payment whose PaymentIntent was declined: whether that is final depends on its Checkout
 * Session (still open: the person may try another card), so the session is read too.
 */
async function withCheckout(deps: BillingDeps, payment: Payment, state: StripePaymentState): Promise<StripePaymentState> {
  const { intent } = state;
  if (state.session || !payment.stripeCheckoutSessionId || intent?.status !== 'requires_payment_method' || !intent.last_payment_error)
    return state;
  const session = await callStripe(() => deps.stripe.checkout.sessions.retrieve(payment.stripeCheckoutSessionId!), deps);
  return { ...state, session };
}

/** The PaymentIntent with its latest charge, and the dispute when the charge is disputed. */
export async function fetchIntentState(deps: BillingDeps, intentId: string): Promise<StripePaymentState> {
  const intent = await callStripe(() => deps.stripe.paymentIntents.retrieve(intentId, { expand: ['latest_charge'] }), deps);
  const charge = typeof intent.latest_charge === 'object' ? intent.latest_charge : null;
  return { intent, charge, dispute: await disputeOf(deps, intent, charge) };
}

async function disputeOf(deps: BillingDeps, intent: Stripe.PaymentIntent, charge: Stripe.Charge | null): Promise<Stripe.Dispute | null> {
  if (!charge?.disputed) return null;
  const list = await callStripe(() => deps.stripe.disputes.list({ payment_intent: intent.id, limit: 1 }), deps);
  return list.data[0] ?? null;
}

/** A Checkout Session with its PaymentIntent once the person has paid (or tried to). */
export async function sessionState(deps: BillingDeps, session: Stripe.Checkout.Session): Promise<StripePaymentState> {
  const intentId = stripeId(session.payment_intent);
  return { session, ...(intentId ? await fetchIntentState(deps, intentId) : {}) };
}

/** Everything Stripe knows about the payment: by its Checkout Session (and the session's PaymentIntent), else its PaymentIntent. */
export async function fetchPaymentState(deps: BillingDeps, payment: Payment): Promise<StripePaymentState> {
  if (payment.stripeCheckoutSessionId) {
    const session = await callStripe(() => deps.stripe.checkout.sessions.retrieve(payment.stripeCheckoutSessionId!), deps);
    return sessionState(deps, session);
  }
  if (payment.stripePaymentIntentId) return fetchIntentState(deps, payment.stripePaymentIntentId);
  return located(deps, payment);
}

/**
 * A payment whose Stripe call failed halfway has no Stripe id, yet Stripe may have made the object:
 * it carries our payment id in its metadata, so the customer's Checkout Sessions and PaymentIntents
 * are searched for it.
 */
async function located(deps: BillingDeps, payment: Payment): Promise<StripePaymentState> {
  const customer = payment.user.stripeCustomerId;
  if (!customer) return {};
  const ours = (o: { metadata?: Stripe.Metadata | null }) => o.metadata?.[PAYMENT_ID_KEY] === payment.id;
  for await (const session of deps.stripe.checkout.sessions.list({ customer, limit: 100 })) {
    if (ours(session)) return sessionState(deps, session);
  }
  for await (const intent of deps.stripe.paymentIntents.list({ customer, limit: 100 })) {
    if (ours(intent)) return fetchIntentState(deps, intent.id);
  }
  return {};
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

/**
 * Runs `fn` on the payment under its user's billing lock, with the row re-read after the lock is
 * taken. Inside the caller's transaction when there is one (a webhook), else in a new one.
 */
export async function underPaymentLock<T>(
  em: EntityManager,
  paymentId: string,
  fn: (tx: EntityManager, payment: Payment) => Promise<T>,
): Promise<T> {
  const run = async (tx: EntityManager) => {
    const owner = await tx.findOne(Payment, paymentId, { fields: ['user'] });
    if (!owner) throw notFound('Payment');
    await lockUser(tx, owner.user.id);
    const payment = await tx.findOne(Payment, paymentId, { populate: ['user'], refresh: true });
    if (!payment) throw notFound('Payment');
    return fn(tx, payment);
  };
  return em.isInTransaction() ? run(em) : em.transactional(run);
}

/** Our payment for a Stripe object: by its id, else by the payment id in its metadata. */
export async function findPaymentFor(
  em: EntityManager,
  object: { id: string; metadata?: Stripe.Metadata | null },
  by: 'stripePaymentIntentId' | 'stripeCheckoutSessionId',
): Promise<Payment | null> {
  const direct = await em.findOne(Payment, { [by]: object.id });
  if (direct) return direct;
  const ourId = object.metadata?.[PAYMENT_ID_KEY];
  return ourId && UUID.test(ourId) ? em.findOne(Payment, { id: ourId }) : null;
}

/**
 * A webhook about a PaymentIntent (or its charge, refund or dispute): re-fetch the intent and apply it
 * to our payment. `snapshot` is the event's copy of the intent, when the event carries one: it tells
 * whether the intent is ours without asking Stripe (most are not, e.g. those of subscription invoices).
 * Returns the inbox outcome.
 */
export async function syncPaymentIntent(
  em: EntityManager,
  deps: BillingDeps,
  intentId: string,
  source: string,
  snapshot?: Pick<Stripe.PaymentIntent, 'id' | 'metadata'>,
): Promise<string> {
  const found = await findPaymentFor(em, snapshot ?? (await fetchIntentState(deps, intentId)).intent!, 'stripePaymentIntentId');
  if (!found) return `payment_intent ${intentId} is not a Tollgate payment`;
  return underPaymentLock(em, found.id, async (tx, payment) => {
    // Read under the lock: a change made while we waited for it is applied, not lost.
    const state = await withCheckout(deps, payment, await fetchIntentState(deps, intentId));
    if (!belongsTo(payment, state)) {
      deps.logger.warn(
        { payment: payment.id, paymentIntent: intentId },
        'a PaymentIntent names a Tollgate payment it does not match; not applied',
      );
      return `payment_intent ${intentId} does not match payment ${payment.id}; not applied`;
    }
    const changes = applyStripeState(tx, payment, state, source);
    return `payment ${payment.id} from ${intentId}: ${payment.status}${changes.length ? '' : ' (no change)'}`;
  });
}

/**
 * A Checkout Session of payment mode changed (the person paid, came back, or it expired): re-read it
 * and its PaymentIntent and apply them. Returns our payment, or null when the session is not ours.
 */
export async function syncPaymentCheckout(
  em: EntityManager,
  deps: BillingDeps,
  sessionId: string,
  source: string,
): Promise<Payment | null> {
  const session = await callStripe(() => deps.stripe.checkout.sessions.retrieve(sessionId), deps);
  if (session.mode !== 'payment') return null;
  const found = await findPaymentFor(em, session, 'stripeCheckoutSessionId');
  if (!found) return null;
  return underPaymentLock(em, found.id, async (tx, payment) => {
    if (payment.stripeCheckoutSessionId && payment.stripeCheckoutSessionId !== session.id) return null;
    const state = await sessionState(deps, session);
    if (!belongsTo(payment, state)) return null;
    applyStripeState(tx, payment, state, source);
    return payment;
  });
}

/**
 * stripe:sync for one customer: every PaymentIntent of the customer that carries one of our payment ids
 * (or is linked to one) is applied, then Checkout payments still without a PaymentIntent are read from
 * their sessions. Runs inside the reconciler's transaction and never flushes, so a dry run can show the
 * pending changes.
 */
export async function reconcilePayments(em: EntityManager, deps: BillingDeps, user: User, pageSize = 100): Promise<void> {
  await lockUser(em, user.id);
  const payments = await em.find(Payment, { user }, { populate: ['user'] });
  if (payments.length === 0 || !user.stripeCustomerId) return;
  const byId = new Map(payments.map((p) => [p.id, p]));
  const byIntent = new Map(payments.filter((p) => p.stripePaymentIntentId).map((p) => [p.stripePaymentIntentId!, p]));
  const done = new Set<string>();
  for await (const intent of deps.stripe.paymentIntents.list({
    customer: user.stripeCustomerId,
    limit: pageSize,
    expand: ['data.latest_charge'],
  })) {
    const payment = byIntent.get(intent.id) ?? byId.get(intent.metadata?.[PAYMENT_ID_KEY] ?? '');
    if (!payment || done.has(payment.id)) continue;
    const charge = typeof intent.latest_charge === 'object' ? intent.latest_charge : null;
    const state = await withCheckout(deps, payment, { intent, charge, dispute: await disputeOf(deps, intent, charge) });
    if (!belongsTo(payment, state)) continue;
    applyStripeState(em, payment, state, 'stripe:sync');
    done.add(payment.id);
  }
  const unlinked = payments.filter((p) => !done.has(p.id) && !p.stripePaymentIntentId);
  if (unlinked.length === 0) return;
  const unlinkedById = new Map(unlinked.map((p) => [p.id, p]));
  for await (const session of deps.stripe.checkout.sessions.list({ customer: user.stripeCustomerId, limit: pageSize })) {
    const payment =
      unlinked.find((p) => p.stripeCheckoutSessionId === session.id) ?? unlinkedById.get(session.metadata?.[PAYMENT_ID_KEY] ?? '');
    if (!payment || session.mode !== 'payment' || !belongsTo(payment, { session })) continue;
    applyStripeState(em, payment, { session }, 'stripe:sync');
  }
}
