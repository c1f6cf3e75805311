import type { EntityManager } from '@mikro-orm/postgresql';
import Stripe from 'stripe';
import { CaptureMethod, Payment, PaymentLog, PaymentStatus, User } from '../entities';
import { idempotencyKey } from '../stripe/client';
import { callStripe } from '../stripe/errors';
import { ensureCustomer } from './customers';
import type { BillingDeps } from './deps';
import { DomainError, badInput, conflict, notFound } from '../errors';
import { lockUser } from './locks';
import { fetchPaymentState } from './payments/fetchState';
import { underPaymentLock } from './payments/lock';
import { logPayment, money } from './payments/log';
import { applyStripeState, belongsTo, PAYMENT_ID_KEY, type StripePaymentState } from './payments/stripeState';
import { UUID } from '../ids';
import { parseInput } from '../input';
import { CreatePaymentInput, OperationAmount, type ValidPaymentInput } from './payments/inputs';
import { findPayment, type Actor } from './payments/queries';

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
}

/**
 * The input field behind a Stripe refusal of what the client asked for (an amount under Stripe's minimum,
 * a currency Stripe does not take, an unknown payment method), on either path: the PaymentIntent's own
 * parameters, or the Checkout line item's price_data. Null when Stripe refused something else.
 */
function clientField(err: unknown): string | null {
  if (!(err instanceof Stripe.errors.StripeInvalidRequestError)) return null;
  const param = err.param ?? '';
  if (['amount_too_small', 'amount_too_large', 'invalid_charge_amount'].includes(err.code ?? '')) return 'amount';
  if (param === 'amount' || /^line_items\[0\]\[price_data\]\[unit_amount\]$/.test(param)) return 'amount';
  if (param === 'currency' || /^line_items\[0\]\[price_data\]\[currency\]$/.test(param)) return 'currency';
  if (param === 'payment_method') return 'paymentMethod';
  return null;
}
/** failureCode of a payment Stripe could not be asked about (unreachable, failing): asking again is safe. */
const UNREACHED = 'payment_service_unavailable';
const CANCELABLE = [PaymentStatus.WAITING, PaymentStatus.PREAUTH, PaymentStatus.REJECTED, PaymentStatus.ERROR];

/** The metadata Stripe gets: the client's, stringified, plus our ids. */
function stripeMetadata(payment: Payment): Record<string, string> {
  const own = Object.entries(payment.metadata ?? {}).map(([k, v]) => [k, String(v)]);
  return {
    ...Object.fromEntries(own),
    [PAYMENT_ID_KEY]: payment.id,
    tollgate_user_id: payment.user.id,
    ...(payment.orderId ? { tollgate_order_id: payment.orderId } : {}),
  };
}

const stripeCaptureMethod = (payment: Payment) => (payment.captureMethod === CaptureMethod.MANUAL ? 'manual' : 'automatic');

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
  let failure: unknown;
  const result = await underPaymentLock(em, id, async (tx, payment) => {
    let attempt = 0;
    if (started(payment)) {
      const answer = await replay(tx, deps, payment);
      if (answer) return answer;
      attempt = await answeredFailures(tx, payment);
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
    }
    try {
      return await startInStripe(tx, deps, payment, attempt);
    } catch (err) {
      failure = failedHalfway(tx, deps, payment, err);
      return { payment };
    }
  });
  if (failure) throw failure;
  return result;
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
            `idempotencyKey "${v.idempotencyKey}" was already used for a payment of ${money(prior.amountMinor, prior.currency)}`,
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

/** Stripe was asked about this payment before (or a concurrent call with the same key is answering it). */
const started = (p: Payment) => p.status !== PaymentStatus.WAITING || Boolean(p.stripePaymentIntentId || p.stripeCheckoutSessionId);

/** A declined card answers 402 with the PaymentIntent: that is an outcome (REJECTED), not a failure. */
function declinedIntent(err: unknown): Stripe.PaymentIntent {
  if (err instanceof Stripe.errors.StripeCardError && err.payment_intent) return err.payment_intent;
  throw err;
}

/**
 * Asks Stripe for the payment's PaymentIntent or Checkout Session. Everything sent comes from the row and
 * the idempotency key from its id, so asking again (a retry, a crash before the answer was stored) is
 * answered with the same object.
 */
async function startInStripe(tx: EntityManager, deps: BillingDeps, payment: Payment, attempt = 0): Promise<CreatePaymentResult> {
  const retry = attempt > 0 ? [`after-5xx-${attempt}`] : [];
  const customer = await ensureCustomer(tx, deps.stripe, payment.user.id, deps);
  const metadata = stripeMetadata(payment);
  const description = payment.description ?? undefined;
  const paymentMethod = payment.paymentMethod;
  if (!paymentMethod) {
    const key = idempotencyKey('payment', payment.id, 'checkout', ...retry);
    const session = await callStripe(
      () =>
        deps.stripe.checkout.sessions.create(
          {
            mode: 'payment',
            customer,
            client_reference_id: payment.user.id,
            line_items: [
              {
                quantity: 1,
                price_data: {
                  currency: payment.currency,
                  unit_amount: payment.amountMinor,
                  product_data: { name: payment.description ?? (payment.orderId ? `Order ${payment.orderId}` : 'Payment') },
                },
              },
            ],
            payment_intent_data: { capture_method: stripeCaptureMethod(payment), description, metadata },
            metadata,
            success_url: `${deps.publicUrl}/payments/${payment.id}/success?session_id={CHECKOUT_SESSION_ID}`,
            cancel_url: `${deps.publicUrl}/payments/${payment.id}/cancel`,
          },
          { idempotencyKey: key },
        ),
      deps,
    );
    logPayment(tx, payment, 'stripe', `Checkout Session ${session.id} opened`, {
      call: 'checkout.sessions.create',
      checkoutSession: session.id,
      idempotencyKey: key,
    });
    applyStripeState(tx, payment, { session }, 'createPayment');
    return { payment, checkoutUrl: session.url };
  }
  const key = idempotencyKey('payment', payment.id, 'create', ...retry);
  const intent = await callStripe(
    () =>
      deps.stripe.paymentIntents
        .create(
          {
            amount: payment.amountMinor,
            currency: payment.currency,
            customer,
            payment_method: paymentMethod,
            confirm: true,
            capture_method: stripeCaptureMethod(payment),
            allowed_payment_method_types: ['card'],
            description,
            metadata,
          },
          { idempotencyKey: key },
        )
        .catch(declinedIntent),
    deps,
  );
  logPayment(tx, payment, 'stripe', `PaymentIntent ${intent.id} created and confirmed: ${intent.status}`, {
    call: 'payment_intents.create',
    paymentIntent: intent.id,
    stripeStatus: intent.status,
    idempotencyKey: key,
  });
  applyStripeState(tx, payment, { intent }, 'createPayment');
  return { payment, clientSecret: intent.status === 'requires_action' ? intent.client_secret : null };
}

/**
 * Stripe failed while the payment was being started. If Stripe refused what the client asked for
 * (an unknown payment method, an amount below its minimum) it made nothing, so neither do we: the row is
 * removed and BAD_USER_INPUT answered. Otherwise the row stays, ERROR, with the reason in its log, and
 * the error is answered with the payment's id. Returns the error to throw once this is committed.
 */
function failedHalfway(tx: EntityManager, deps: BillingDeps, payment: Payment, err: unknown): unknown {
  const field = clientField(err);
  if (field) {
    tx.remove(payment);
    return badInput(err instanceof Error ? err.message : String(err), {
      field,
      stripeCode: (err as Stripe.errors.StripeInvalidRequestError).code,
    });
  }
  const known = err instanceof DomainError;
  if (!known) deps.logger.error({ err, payment: payment.id }, 'starting a payment in Stripe failed');
  const message = known ? err.message : 'The payment could not be started because of an internal error.';
  logPayment(tx, payment, 'stripe_error', `starting the payment in Stripe failed: ${message}`, {
    code: known ? err.code : 'INTERNAL_SERVER_ERROR',
    ...(known && err.extensions.reason ? { reason: err.extensions.reason } : {}),
  });
  payment.failureCode = known ? err.code.toLowerCase() : 'internal_error';
  payment.failureMessage = message;
  logPayment(tx, payment, 'status', `${payment.status.toUpperCase()} -> ERROR (createPayment)`, {
    from: payment.status,
    to: PaymentStatus.ERROR,
    source: 'createPayment',
  });
  payment.status = PaymentStatus.ERROR;
  deps.logger.warn({ payment: payment.id, reason: message }, 'payment left in ERROR: Stripe failed while it was being started');
  return known ? new DomainError(err.code, err.message, { ...err.extensions, paymentId: payment.id }) : err;
}

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
  };
}

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
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
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
    return { ok: false, error: err };
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
async function operate(em: EntityManager, id: string, fn: (tx: EntityManager, payment: Payment) => Promise<unknown>): Promise<Payment> {
  let failure: unknown;
  const payment = await underPaymentLock(em, id, async (tx, p) => {
    failure = await fn(tx, p);
    return p;
  });
  if (failure) throw failure;
  return payment;
}

const state = (p: Payment) => p.status.toUpperCase();

/** Any payment by id (admins), NOT_FOUND when there is none. */
async function existing(em: EntityManager, id: string): Promise<Payment> {
  const payment = UUID.test(id) ? await em.findOne(Payment, { id }) : null;
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
    const minor = parseInput(OperationAmount(payment.currency), { amount }).amount ?? payment.amountMinor;
    if (minor > payment.amountMinor) {
      throw badInput(`Cannot capture ${money(minor, payment.currency)}: ${money(payment.amountMinor, payment.currency)} is authorised`, {
        field: 'amount',
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
    return undefined;
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
    const minor = parseInput(OperationAmount(payment.currency), { amount }).amount ?? left;
    if (minor > left) {
      throw badInput(`Cannot refund ${money(minor, payment.currency)}: ${money(left, payment.currency)} is left to refund`, {
        field: 'amount',
        remaining: left,
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
    return undefined;
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
    const key = idempotencyKey('payment', payment.id, 'cancel');
    const session = current.value.session;
    if (session?.status === 'open') {
      const res = await paymentCall(tx, deps, payment, 'cancel', () =>
        deps.stripe.checkout.sessions.expire(session.id, {}, { idempotencyKey: key }),
      );
      if (!res.ok) return res.error;
      logPayment(tx, payment, 'stripe', `Checkout Session ${res.value.id} expired`, {
        call: 'checkout.sessions.expire',
        idempotencyKey: key,
      });
      await resync(tx, deps, payment, 'cancelPayment');
    } else if (payment.stripePaymentIntentId) {
      const res = await paymentCall(tx, deps, payment, 'cancel', () =>
        deps.stripe.paymentIntents.cancel(
          payment.stripePaymentIntentId!,
          { cancellation_reason: 'requested_by_customer', expand: ['latest_charge'] },
          { idempotencyKey: key },
        ),
      );
      if (!res.ok) return res.error;
      logPayment(tx, payment, 'stripe', `PaymentIntent ${res.value.id} canceled`, { call: 'payment_intents.cancel', idempotencyKey: key });
      const charge = typeof res.value.latest_charge === 'object' ? res.value.latest_charge : null;
      applyStripeState(tx, payment, { intent: res.value, charge }, 'cancelPayment');
    } else {
      logPayment(tx, payment, 'status', `${state(payment)} -> CANCELED (cancelPayment: nothing in Stripe to cancel)`, {
        from: payment.status,
        to: PaymentStatus.CANCELED,
        source: 'cancelPayment',
      });
      payment.status = PaymentStatus.CANCELED;
    }
    return undefined;
  });
}
