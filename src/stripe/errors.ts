import Stripe from 'stripe';
import { DomainError } from '../billing/errors';

/**
 * Turns a Stripe SDK failure into what a client should see: a card problem is PAYMENT_FAILED with
 * Stripe's decline code; an unreachable or failing Stripe is PAYMENT_SERVICE_UNAVAILABLE. Anything else
 * (a request we built wrong, a bad key) is rethrown as an internal error: it is logged, never shown.
 */
export function toDomainError(err: unknown, host = 'Stripe'): unknown {
  if (!(err instanceof Stripe.errors.StripeError)) return err;
  if (err instanceof Stripe.errors.StripeCardError) {
    return new DomainError('PAYMENT_FAILED', err.message, {
      declineCode: err.decline_code ?? err.code ?? 'card_declined',
      stripeCode: err.code,
    });
  }
  if (err instanceof Stripe.errors.StripeConnectionError) {
    return new DomainError('PAYMENT_SERVICE_UNAVAILABLE', `The payment service at ${host} could not be reached. Try again later.`);
  }
  if (err instanceof Stripe.errors.StripeAPIError || (err.statusCode ?? 0) >= 500) {
    return new DomainError('PAYMENT_SERVICE_UNAVAILABLE', `The payment service at ${host} failed to answer (HTTP ${err.statusCode ?? '?'}). Try again later.`);
  }
  if (err instanceof Stripe.errors.StripeAuthenticationError || err instanceof Stripe.errors.StripePermissionError) {
    return new DomainError('PAYMENT_SERVICE_UNAVAILABLE', 'The payment service is unavailable. Try again later.', { reason: 'configuration' });
  }
  if (err instanceof Stripe.errors.StripeRateLimitError) {
    return new DomainError('PAYMENT_SERVICE_UNAVAILABLE', 'The payment service is busy. Try again shortly.');
  }
  return err;
}

/** Runs a Stripe call and converts its failure with toDomainError. */
export async function callStripe<T>(fn: () => Promise<T>, host?: string): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toDomainError(err, host);
  }
}
