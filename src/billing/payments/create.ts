import type { EntityManager } from '@mikro-orm/postgresql';
import { Payment, PaymentLog, PaymentStatus, User } from '../../entities';
import { DomainError, conflict } from '../../errors';
import { parseInput, shorten } from '../../input';
import { nextActionUrl } from '../authentication';
import type { BillingDeps } from '../deps';
import { lockUser } from '../locks';
import { commitThenThrow } from '../transactions';
import { fetchPaymentState } from './fetchState';
import { CreatePaymentInput, type ValidPaymentInput } from './inputs';
import { underPaymentLock } from './lock';
import { logPayment, money } from './log';
import { failedHalfway, startInStripe } from './start';
import { applyStripeState, belongsTo, type StripePaymentState } from './stripeState';

/**
 * One-off payments. Our row is created and committed first, then Stripe is asked for a PaymentIntent
 * (or a Checkout Session) carrying the row's id in its metadata and an idempotency key derived from it,
 * so a failure halfway leaves a row that says what happened and never an object in Stripe that no row
 * knows about. Every state change and every Stripe call outcome is written to the payment's log in the
 * same transaction as the change. Calls of one user are serialised by the billing lock.
 */

export interface CreatePaymentResult {
  payment: Payment;
  checkoutUrl?: string | null;
  clientSecret?: string | null;
  /** Stripe's page for the 3-D Secure step (the emulator's in local mode), beside clientSecret. */
  nextActionUrl?: string | null;
}

/** failureCode of a payment Stripe could not be asked about (unreachable, failing): asking again is safe. */
const UNREACHED = 'payment_service_unavailable';

/**
 * Creates a payment. With a payment method a PaymentIntent is created and confirmed: CONFIRMED,
 * PREAUTH (manual capture), WAITING with a client secret (3-D Secure) or REJECTED (declined; not an
 * error). Without one a Checkout Session is opened and its URL returned. The same idempotency key
 * returns the same payment; with another amount or currency it is a CONFLICT. When Stripe cannot be
 * reached or fails, the payment is left ERROR with the reason in its log and PAYMENT_SERVICE_UNAVAILABLE
 * is answered (with the payment's id).
 */
export async function createPayment(
  em: EntityManager,
  deps: BillingDeps,
  userId: string,
  input: CreatePaymentInput,
): Promise<CreatePaymentResult> {
  const valid = parseInput(CreatePaymentInput, input);
  // Committed on its own before Stripe hears of the payment: whatever happens next, this row knows.
  const id = await recordPayment(em.fork(), userId, valid);
  return commitThenThrow(em, (tx) =>
    underPaymentLock(tx, id, async (tx, payment) => {
      let attempt = 0;
      if (started(payment)) {
        const answer = await replay(tx, deps, payment);
        if (answer) return answer;
        attempt = await retryStart(tx, payment);
      }
      try {
        return await startInStripe(tx, deps, payment, attempt);
      } catch (err) {
        return failedHalfway(tx, deps, payment, err);
      }
    }),
  );
}

/**
 * The payment row and its first log line, or the payment this idempotency key already made (CONFLICT
 * when that one is for other money). Short: no Stripe call happens in this transaction.
 */
async function recordPayment(fork: EntityManager, userId: string, v: ValidPaymentInput): Promise<string> {
  return fork.transactional(async (t) => {
    await lockUser(t, userId);
    if (v.idempotencyKey) {
      const prior = await t.findOne(Payment, { user: userId, idempotencyKey: v.idempotencyKey });
      if (prior) {
        if (prior.amountMinor !== v.amountMinor || prior.currency !== v.currency) {
          throw conflict(
            `idempotencyKey "${shorten(v.idempotencyKey ?? '')}" was already used for a payment of ${money(prior.amountMinor, prior.currency)}`,
            {
              field: 'idempotencyKey',
              paymentId: prior.id,
            },
          );
        }
        return prior.id;
      }
    }
    const payment = t.create(Payment, {
      user: t.getReference(User, userId),
      amountMinor: v.amountMinor,
      currency: v.currency,
      captureMethod: v.captureMethod,
      paymentMethod: v.paymentMethod,
      description: v.description,
      orderId: v.orderId,
      metadata: v.metadata,
      idempotencyKey: v.idempotencyKey,
      successUrl: v.successUrl,
      cancelUrl: v.cancelUrl,
    });
    const how = v.paymentMethod ? `with payment method ${v.paymentMethod}` : 'through Stripe Checkout';
    logPayment(t, payment, 'created', `payment of ${money(v.amountMinor, v.currency)} created, ${v.captureMethod} capture, ${how}`, {
      amountMinor: v.amountMinor,
      currency: v.currency,
      captureMethod: v.captureMethod,
    });
    return payment.id;
  });
}

/**
 * How often Stripe answered this payment's start with a 5xx (logged by failedHalfway). Stripe saves such an
 * answer under its idempotency key and replays it to every retry with that key for 24 hours, so once a
 * search found nothing the payment's id made, the next attempt needs a key of its own. A failure that got
 * no answer at all (unreachable, timeout) keeps the key: Stripe may still be working on that request.
 */
async function answeredFailures(tx: EntityManager, payment: Payment): Promise<number> {
  const failures = await tx.find(PaymentLog, { payment: payment.id, event: 'stripe_error' });
  return failures.filter((l) => l.data?.reason === 'stripe_error').length;
}

/**
 * A payment whose last attempt failed and that Stripe has nothing for is asked for again: the retry is
 * logged, and the payment is WAITING once more. Returns the attempt, which decides the idempotency key.
 */
async function retryStart(tx: EntityManager, payment: Payment): Promise<number> {
  const attempt = await answeredFailures(tx, payment);
  logPayment(
    tx,
    payment,
    'retry',
    attempt > 0
      ? `Stripe failed to answer an earlier attempt (HTTP 5xx) and has nothing for this payment: asking again under a new idempotency key, as Stripe replays a saved 5xx to the same key (idempotent retry)`
      : 'the last attempt never reached Stripe and Stripe has nothing for this payment: asking again (idempotent retry)',
    { attempt },
  );
  logPayment(tx, payment, 'status', 'ERROR -> WAITING (idempotent retry)', {
    from: payment.status,
    to: PaymentStatus.WAITING,
    source: 'idempotent retry',
  });
  payment.status = PaymentStatus.WAITING;
  // The earlier failure stays in the log; the new attempt's outcome decides what the payment says.
  payment.failureCode = null;
  payment.failureMessage = null;
  return attempt;
}

/** Stripe was asked about this payment before (or a concurrent call with the same key is answering it). */
const started = (p: Payment) => p.status !== PaymentStatus.WAITING || Boolean(p.stripePaymentIntentId || p.stripeCheckoutSessionId);

/**
 * The same idempotency key again: the same payment, brought up to date from Stripe when it is still
 * open (the 3-D Secure step or Checkout may have finished; a call that failed halfway may have made its
 * object after all), with the client secret or Checkout URL while the customer still has a step to take.
 * Null when the last attempt never reached Stripe and Stripe has nothing for the payment: ask again.
 */
async function replay(tx: EntityManager, deps: BillingDeps, payment: Payment): Promise<CreatePaymentResult | null> {
  if (payment.status !== PaymentStatus.WAITING && payment.status !== PaymentStatus.ERROR) return { payment };
  let state: StripePaymentState;
  try {
    state = await fetchPaymentState(deps, payment);
  } catch (err) {
    if (err instanceof DomainError) return { payment };
    throw err;
  }
  const found = Boolean(state.intent || state.session);
  if (!found && payment.status === PaymentStatus.ERROR && payment.failureCode === UNREACHED) return null;
  if (found && belongsTo(payment, state)) applyStripeState(tx, payment, state, 'idempotent retry');
  return {
    payment,
    checkoutUrl: state.session?.status === 'open' ? state.session.url : null,
    clientSecret: state.intent?.status === 'requires_action' ? state.intent.client_secret : null,
    nextActionUrl: nextActionUrl(state.intent),
  };
}
