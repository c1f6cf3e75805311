import type { EntityManager } from '@mikro-orm/postgresql';
import Stripe from 'stripe';
import { CaptureMethod, PaymentStatus, type Payment } from '../../entities';
import { DomainError, badInput } from '../../errors';
import { idempotencyKey } from '../../stripe/client';
import { callStripe } from '../../stripe/errors';
import { ensureCustomer } from '../customers';
import { authenticationReturnUrl, nextActionUrl } from '../authentication';
import type { BillingDeps } from '../deps';
import { Unexpected } from '../transactions';
import type { CreatePaymentResult } from './create';
import { logPayment } from './log';
import { applyStripeState, PAYMENT_ID_KEY } from './stripeState';

/** Asking Stripe to start a payment (a PaymentIntent, or a Checkout Session), and what a failure there leaves. */

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
export async function startInStripe(tx: EntityManager, deps: BillingDeps, payment: Payment, attempt = 0): Promise<CreatePaymentResult> {
  const retry = attempt > 0 ? [`after-5xx-${attempt}`] : [];
  const customer = await ensureCustomer(tx, deps.stripe, payment.user.id, deps);
  if (payment.paymentMethod) return confirmIntent(tx, deps, payment, { customer, paymentMethod: payment.paymentMethod, retry });
  return openCheckout(tx, deps, payment, { customer, retry });
}

/** Without a payment method: a Checkout Session, whose page the person pays on. */
async function openCheckout(
  tx: EntityManager,
  deps: BillingDeps,
  payment: Payment,
  { customer, retry }: { customer: string; retry: string[] },
): Promise<CreatePaymentResult> {
  const metadata = stripeMetadata(payment);
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
          payment_intent_data: { capture_method: stripeCaptureMethod(payment), description: payment.description ?? undefined, metadata },
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

/** With a payment method: a PaymentIntent, created and confirmed at once. */
async function confirmIntent(
  tx: EntityManager,
  deps: BillingDeps,
  payment: Payment,
  { customer, paymentMethod, retry }: { customer: string; paymentMethod: string; retry: string[] },
): Promise<CreatePaymentResult> {
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
            return_url: authenticationReturnUrl(deps, payment.successUrl),
            capture_method: stripeCaptureMethod(payment),
            allowed_payment_method_types: ['card'],
            description: payment.description ?? undefined,
            metadata: stripeMetadata(payment),
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
  return { payment, clientSecret: intent.status === 'requires_action' ? intent.client_secret : null, nextActionUrl: nextActionUrl(intent) };
}

/**
 * Stripe failed while the payment was being started. Returns the error to throw once what this did is
 * committed: BAD_USER_INPUT when Stripe refused what the client asked for, else the failure with the
 * payment's id.
 */
export function failedHalfway(tx: EntityManager, deps: BillingDeps, payment: Payment, err: unknown): DomainError | Unexpected {
  const field = clientField(err);
  if (!field) return leftInError(tx, deps, payment, err);
  // Stripe made nothing (an unknown payment method, an amount below its minimum), so neither do we.
  tx.remove(payment);
  return badInput(err instanceof Error ? err.message : String(err), {
    field,
    stripeCode: (err as Stripe.errors.StripeInvalidRequestError).code,
  });
}

/** The payment stays, ERROR, with the reason in its log; the error answered carries the payment's id. */
function leftInError(tx: EntityManager, deps: BillingDeps, payment: Payment, err: unknown): DomainError | Unexpected {
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
  return known ? new DomainError(err.code, err.message, { ...err.extensions, paymentId: payment.id }) : new Unexpected(err);
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
