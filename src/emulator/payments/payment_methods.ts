import { createHash } from 'node:crypto';
import type Stripe from 'stripe';
import { clone, type EmulatorContext } from '../core/context';
import { ApiError, invalidRequest } from '../core/errors';
import { cardBehaviour, magicCardNumber, type CardBehaviour, type Decline } from './cards';

/** Hidden state of a payment method (store meta). */
export interface PaymentMethodMeta {
  /** the full test card number: what the card does comes from it */
  number: string;
  /** authenticated once with 3-D Secure: off-session payments no longer ask ("set up") */
  setUp?: boolean;
  /** used by a PaymentIntent without being attached to a customer: it may not be used again */
  usedBy?: string;
  /** detached from a customer: it may not be used again */
  detached?: boolean;
}

export interface CardInput {
  number: string;
  exp_month?: number;
  exp_year?: number;
  cvc?: string;
  billing_details?: Partial<Stripe.PaymentMethod.BillingDetails>;
  metadata?: Record<string, string>;
  /** param name used in error messages for the number (default `card[number]`) */
  param?: string;
}

/** A `card_error` (HTTP 402), with `payment_intent` / `charge` / `payment_method` when given. */
export function cardError(
  decline: Decline,
  extra: { param?: string; payment_intent?: unknown; charge?: string; payment_method?: unknown } = {},
): ApiError {
  return new ApiError(402, {
    type: 'card_error',
    code: decline.code,
    decline_code: decline.decline_code,
    message: decline.message,
    ...(extra.param ? { param: extra.param } : {}),
    ...(extra.charge ? { charge: extra.charge } : {}),
    ...(extra.payment_intent ? { payment_intent: clone(extra.payment_intent) } : {}),
    ...(extra.payment_method ? { payment_method: clone(extra.payment_method), payment_method_type: 'card' } : {}),
  });
}

function plainCardError(code: string, message: string, param: string): ApiError {
  return new ApiError(402, { type: 'card_error', code, message, param });
}

/**
 * Creates a card PaymentMethod from a card number (test numbers carry behaviour, see cards.ts).
 * Invalid numbers and expiry dates are refused with Stripe's card errors.
 */
export function createCardPaymentMethod(ctx: EmulatorContext, input: CardInput): Stripe.PaymentMethod {
  const param = input.param ?? 'card[number]';
  const card = cardBehaviour(input.number);
  if (!card.valid) throw plainCardError('incorrect_number', 'Your card number is incorrect.', param);
  const base = param.replace(/\[number\]$/, '');
  const now = new Date();
  const expMonth = input.exp_month ?? 12;
  const expYear = input.exp_year ?? now.getUTCFullYear() + 5;
  const year = expYear < 100 ? 2000 + expYear : expYear;
  if (expMonth < 1 || expMonth > 12)
    throw plainCardError('invalid_expiry_month', "Your card's expiration month is invalid.", `${base}[exp_month]`);
  if (year < now.getUTCFullYear() || year > now.getUTCFullYear() + 50)
    throw plainCardError('invalid_expiry_year', "Your card's expiration year is invalid.", `${base}[exp_year]`);
  if (year === now.getUTCFullYear() && expMonth < now.getUTCMonth() + 1)
    throw plainCardError('invalid_expiry_month', "Your card's expiration month is invalid.", `${base}[exp_month]`);
  if (input.cvc !== undefined && !/^\d{3,4}$/.test(input.cvc))
    throw plainCardError('invalid_cvc', "Your card's security code is invalid.", `${base}[cvc]`);

  const pm: Stripe.PaymentMethod = {
    id: ctx.newId('pm'),
    object: 'payment_method',
    allow_redisplay: 'unspecified',
    billing_details: {
      address: input.billing_details?.address ?? { city: null, country: null, line1: null, line2: null, postal_code: null, state: null },
      email: input.billing_details?.email ?? null,
      name: input.billing_details?.name ?? null,
      phone: input.billing_details?.phone ?? null,
      tax_id: input.billing_details?.tax_id ?? null,
    },
    card: cardDetails(card, expMonth, year, input.cvc !== undefined),
    created: ctx.now(),
    customer: null,
    customer_account: null,
    livemode: false,
    metadata: input.metadata ?? {},
    type: 'card',
  };
  ctx.store.insert(pm);
  const meta = ctx.store.meta<PaymentMethodMeta>(pm.id);
  meta.number = card.number;
  return pm;
}

function cardDetails(card: CardBehaviour, expMonth: number, expYear: number, cvcGiven: boolean): Stripe.PaymentMethod.Card {
  return {
    brand: card.brand,
    checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: cvcGiven ? 'unchecked' : null },
    country: card.country,
    display_brand: card.brand === 'amex' ? 'american_express' : card.brand,
    exp_month: expMonth,
    exp_year: expYear,
    fingerprint: fingerprint(card.number),
    funding: card.funding,
    generated_from: null,
    last4: card.last4,
    networks: { available: [card.brand], preferred: null },
    regulated_status: 'unregulated',
    three_d_secure_usage: { supported: true },
    wallet: null,
  };
}

export function fingerprint(number: string): string {
  return createHash('sha256')
    .update(`fp:${number}`)
    .digest('base64')
    .replace(/[^A-Za-z0-9]/g, '')
    .slice(0, 16);
}

/**
 * The PaymentMethod a request refers to: an existing `pm_...`, or a magic test id (`pm_card_visa`,
 * `tok_visa`, ...) which, as in Stripe test mode, creates a new concrete PaymentMethod every time.
 */
export function resolvePaymentMethod(ctx: EmulatorContext, ref: string, param = 'payment_method'): Stripe.PaymentMethod {
  const number = magicCardNumber(ref);
  if (number) return createCardPaymentMethod(ctx, { number, param });
  return ctx.retrieve<Stripe.PaymentMethod>('payment_method', ref, param);
}

export function paymentMethodMeta(ctx: EmulatorContext, pm: Stripe.PaymentMethod | string): Partial<PaymentMethodMeta> {
  return ctx.store.meta<PaymentMethodMeta>(typeof pm === 'string' ? pm : pm.id);
}

/** The behaviour of the card behind a payment method. */
export function behaviourOf(ctx: EmulatorContext, pm: Stripe.PaymentMethod): CardBehaviour {
  return cardBehaviour(paymentMethodMeta(ctx, pm).number ?? '4242424242424242');
}

const SINGLE_USE_MESSAGE =
  'The provided PaymentMethod was previously used with a PaymentIntent without Customer attachment, shared with a connected account without Customer attachment, or was detached from a Customer. It may not be used again. To use a PaymentMethod multiple times, you must attach it to a Customer first.';

/** Refuses a payment method that was used once without a customer, or detached (Stripe's single-use rule). */
export function assertReusable(ctx: EmulatorContext, pm: Stripe.PaymentMethod, forIntent: string | null, param = 'payment_method'): void {
  const meta = paymentMethodMeta(ctx, pm);
  if (meta.detached || (meta.usedBy && meta.usedBy !== forIntent && !pm.customer)) {
    throw invalidRequest(SINGLE_USE_MESSAGE, { param, code: 'payment_method_unexpected_state' });
  }
}

/**
 * Saves a payment method on a customer (`payment_method.attached`). As in Stripe, the card is verified:
 * test cards that always decline cannot be attached; 4000 0000 0000 0341 can (its charges fail).
 */
export function attachPaymentMethod(
  ctx: EmulatorContext,
  pm: Stripe.PaymentMethod,
  customerId: string,
  param = 'customer',
): Stripe.PaymentMethod {
  const customer = ctx.retrieve<Stripe.Customer>('customer', customerId, param);
  if (pm.customer === customer.id) return pm;
  checkAttachable(ctx, pm);
  pm.customer = customer.id;
  ctx.emit('payment_method.attached', pm, { customer: null });
  return pm;
}

/** Throws what attaching this payment method to a customer would fail with (already attached, single-use, declined). */
export function checkAttachable(ctx: EmulatorContext, pm: Stripe.PaymentMethod): void {
  if (pm.customer) {
    throw invalidRequest('The payment method you provided has already been attached to a customer.', {
      code: 'payment_method_unexpected_state',
      param: 'payment_method',
    });
  }
  assertReusable(ctx, pm, null);
  const card = behaviourOf(ctx, pm);
  if (card.attachDecline) throw cardError(card.attachDecline, { payment_method: pm });
}

/** Removes a payment method from its customer (`payment_method.detached`); it cannot be used again. */
export function detachPaymentMethod(ctx: EmulatorContext, pm: Stripe.PaymentMethod): Stripe.PaymentMethod {
  if (!pm.customer) {
    throw invalidRequest('The payment method you provided is not attached to a customer so detachment is impossible.', {
      code: 'payment_method_unexpected_state',
    });
  }
  const customerId = typeof pm.customer === 'string' ? pm.customer : pm.customer.id;
  const customer = ctx.store.find<Stripe.Customer>('customer', customerId);
  if (customer && customer.invoice_settings.default_payment_method === pm.id) {
    customer.invoice_settings.default_payment_method = null;
    ctx.emit('customer.updated', customer, { invoice_settings: { default_payment_method: pm.id } });
  }
  pm.customer = null;
  paymentMethodMeta(ctx, pm).detached = true;
  ctx.emit('payment_method.detached', pm, { customer: customerId });
  return pm;
}
