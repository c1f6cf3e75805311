import type Stripe from 'stripe';
import { clone, type EmulatorContext } from '../core/context';
import { ApiError, invalidRequest } from '../core/errors';
import { exponent, formatAmount, isSupportedCurrency, MAXIMUM_AMOUNT, MINIMUM_CHARGE, SUPPORTED_CURRENCIES } from '../core/currency';
import { randomToken } from '../core/ids';
import { DECLINES, type Decline } from './cards';
import { createCharge, createDispute, releaseUncaptured } from './charges';
import { assertReusable, attachPaymentMethod, behaviourOf, cardError, paymentMethodMeta, resolvePaymentMethod } from './payment_methods';

/** Hidden state of a PaymentIntent (store meta). Other modules may add their own links (e.g. an invoice id). */
export interface PaymentIntentMeta {
  return_url?: string | null;
  off_session?: boolean;
  /** the payment method waiting for 3-D Secure while `requires_action` */
  pendingPaymentMethod?: string;
  [link: string]: unknown;
}

export type IntentStatus = Stripe.PaymentIntent.Status;

/** Validates a currency code as Stripe does; returns it lowercased. */
export function validateCurrency(value: string, param = 'currency'): string {
  const c = value.toLowerCase();
  if (!isSupportedCurrency(c)) {
    throw invalidRequest(`Invalid currency: ${value}. Stripe currently supports these currencies: ${SUPPORTED_CURRENCIES.join(', ')}`, {
      param,
      code: 'parameter_invalid',
    });
  }
  return c;
}

/** Validates a charge amount: a positive integer in the minor unit, within Stripe's minimum and maximum. */
export function validateAmount(amount: number, currency: string, param = 'amount'): void {
  if (!Number.isInteger(amount) || amount < 1)
    throw invalidRequest('This value must be greater than or equal to 1.', { param, code: 'parameter_invalid_integer' });
  const min = MINIMUM_CHARGE[currency];
  if (min !== undefined && amount < min) {
    throw invalidRequest(`Amount must be at least ${formatAmount(min, currency)} ${currency}`, { param, code: 'amount_too_small' });
  }
  if (amount > MAXIMUM_AMOUNT)
    throw invalidRequest(`Amount must be no more than ${formatAmount(MAXIMUM_AMOUNT, currency)}`, { param, code: 'amount_too_large' });
  if (exponent(currency) === 3 && amount % 10 !== 0) {
    throw invalidRequest(
      `Invalid amount: ${currency.toUpperCase()} is a three-decimal currency and Stripe only charges it in multiples of 10 of its minor unit (the last digit must be 0).`,
      {
        param,
        code: 'invalid_charge_amount',
      },
    );
  }
}

export interface CreatePaymentIntentInput {
  amount: number;
  currency: string;
  customer?: string | null;
  /** an id or magic test id; resolved (and checked against the customer) here */
  payment_method?: string | null;
  capture_method?: Stripe.PaymentIntent.CaptureMethod;
  confirmation_method?: Stripe.PaymentIntent.ConfirmationMethod;
  description?: string | null;
  metadata?: Record<string, string>;
  receipt_email?: string | null;
  setup_future_usage?: Stripe.PaymentIntent.SetupFutureUsage | null;
  statement_descriptor?: string | null;
  statement_descriptor_suffix?: string | null;
  /**
   * `allowed_payment_method_types` (current API versions; `payment_method_types` in older ones): a fixed
   * list instead of automatic payment methods. Only `card` can actually be used here.
   */
  allowed_payment_method_types?: string[];
  automatic_payment_methods?: { enabled: boolean; allow_redirects?: 'always' | 'never' } | null;
  shipping?: Stripe.PaymentIntent.Shipping | null;
  return_url?: string | null;
  /** hidden links stored in the intent's meta (e.g. `{ invoice: 'in_...' }`) */
  meta?: Record<string, unknown>;
}

/** Creates a PaymentIntent (`payment_intent.created`). Does not confirm it. */
export function createPaymentIntent(ctx: EmulatorContext, input: CreatePaymentIntentInput): Stripe.PaymentIntent {
  const currency = validateCurrency(input.currency);
  validateAmount(input.amount, currency);
  const customer = input.customer ? ctx.retrieve<Stripe.Customer>('customer', input.customer, 'customer').id : null;
  const id = ctx.newId('pi');
  let pmId: string | null = null;
  if (input.payment_method) {
    const pm = resolvePaymentMethod(ctx, input.payment_method);
    checkOwnership(pm, customer);
    assertReusable(ctx, pm, id);
    pmId = pm.id;
  }
  const explicitTypes = !!input.allowed_payment_method_types && input.allowed_payment_method_types.length > 0;
  // Without a fixed list of payment method types, automatic payment methods are on (redirects allowed).
  const automatic: Stripe.PaymentIntent.AutomaticPaymentMethods | null =
    explicitTypes || input.automatic_payment_methods?.enabled === false
      ? null
      : { enabled: true, allow_redirects: input.automatic_payment_methods?.allow_redirects ?? 'always' };
  const pi: Stripe.PaymentIntent = {
    id,
    object: 'payment_intent',
    allowed_payment_method_types: explicitTypes ? (input.allowed_payment_method_types as string[]) : null,
    amount: input.amount,
    amount_capturable: 0,
    amount_details: { tip: {} },
    amount_received: 0,
    application: null,
    application_fee_amount: null,
    automatic_payment_methods: automatic,
    canceled_at: null,
    cancellation_reason: null,
    capture_method: input.capture_method ?? 'automatic_async',
    client_secret: `${id}_secret_${randomToken(25)}`,
    confirmation_method: input.confirmation_method ?? 'automatic',
    created: ctx.now(customer),
    currency,
    customer,
    customer_account: null,
    description: input.description ?? null,
    excluded_payment_method_types: null,
    last_payment_error: null,
    latest_charge: null,
    livemode: false,
    managed_payments: null,
    metadata: input.metadata ?? {},
    next_action: null,
    on_behalf_of: null,
    payment_method: pmId,
    payment_method_configuration_details: null,
    payment_method_options: {
      card: { installments: null, mandate_options: null, network: null, request_three_d_secure: 'automatic' },
    },
    payment_method_types: explicitTypes ? (input.allowed_payment_method_types as string[]) : ['card'],
    payment_record: null,
    processing: null,
    receipt_email: input.receipt_email ?? null,
    review: null,
    setup_future_usage: input.setup_future_usage ?? null,
    shipping: input.shipping ?? null,
    source: null,
    statement_descriptor: input.statement_descriptor ?? null,
    statement_descriptor_suffix: input.statement_descriptor_suffix ?? null,
    status: pmId ? 'requires_confirmation' : 'requires_payment_method',
    transfer_data: null,
    transfer_group: null,
  };
  ctx.store.insert(pi);
  const meta = intentMeta(ctx, pi);
  if (input.return_url) meta.return_url = input.return_url;
  if (input.meta) Object.assign(meta, input.meta);
  ctx.emit('payment_intent.created', pi);
  return pi;
}

export function intentMeta(ctx: EmulatorContext, pi: Stripe.PaymentIntent | string): Partial<PaymentIntentMeta> {
  return ctx.store.meta<PaymentIntentMeta>(typeof pi === 'string' ? pi : pi.id);
}

function customerId(pi: Stripe.PaymentIntent): string | null {
  return typeof pi.customer === 'string' ? pi.customer : (pi.customer?.id ?? null);
}

/** Stripe refuses a payment method saved on a customer unless the intent names that customer. */
function checkOwnership(pm: Stripe.PaymentMethod, customer: string | null): void {
  const owner = typeof pm.customer === 'string' ? pm.customer : (pm.customer?.id ?? null);
  if (owner && owner !== customer) {
    throw invalidRequest(
      `The \`payment_method\` parameter supplied ${pm.id} belongs to the Customer ${owner}. Please include the Customer in the \`customer\` parameter on the PaymentIntent.`,
      {
        param: 'payment_method',
        code: 'payment_method_invalid_parameter',
      },
    );
  }
}

function unexpectedState(pi: Stripe.PaymentIntent, message: string): ApiError {
  return new ApiError(
    400,
    { type: 'invalid_request_error', code: 'payment_intent_unexpected_state', message, payment_intent: clone(pi) },
    { idempotentSave: true },
  );
}

export interface ConfirmInput {
  payment_method?: string | null;
  return_url?: string | null;
  off_session?: boolean;
  setup_future_usage?: Stripe.PaymentIntent.SetupFutureUsage | null;
  capture_method?: Stripe.PaymentIntent.CaptureMethod;
  receipt_email?: string | null;
  /** fail instead of asking for 3-D Secure */
  error_on_requires_action?: boolean;
}

export interface PaymentResult {
  paymentIntent: Stripe.PaymentIntent;
  /** the card error the API answers (402) when the payment failed; null otherwise (including requires_action) */
  error: ApiError | null;
}

const CONFIRMABLE: IntentStatus[] = ['requires_payment_method', 'requires_confirmation', 'requires_action'];

/**
 * Confirms a PaymentIntent: 3-D Secure when the card asks for it (`requires_action` with a
 * `redirect_to_url` next action when confirmed with a return_url, `use_stripe_sdk` without), otherwise a charge attempt. Declines do not throw: the result carries
 * the card error, the intent is back to `requires_payment_method` with `last_payment_error`.
 * Request errors (wrong state, missing payment method...) throw.
 */
export function confirmPaymentIntent(
  ctx: EmulatorContext,
  pi: Stripe.PaymentIntent,
  input: ConfirmInput = {},
  origin?: string,
): PaymentResult {
  if (!CONFIRMABLE.includes(pi.status)) {
    if (pi.status === 'succeeded')
      throw unexpectedState(pi, 'You cannot confirm this PaymentIntent because it has already succeeded after being previously confirmed.');
    throw unexpectedState(
      pi,
      `You cannot confirm this PaymentIntent because it has a status of ${pi.status}. Only a PaymentIntent with one of the following statuses may be confirmed: requires_confirmation, requires_payment_method, requires_action.`,
    );
  }
  const meta = intentMeta(ctx, pi);
  const customer = customerId(pi);
  let pmId = typeof pi.payment_method === 'string' ? pi.payment_method : (pi.payment_method?.id ?? null);
  if (input.payment_method) {
    const pm = resolvePaymentMethod(ctx, input.payment_method);
    checkOwnership(pm, customer);
    pmId = pm.id;
  }
  if (!pmId) {
    throw unexpectedState(
      pi,
      customer
        ? `You cannot confirm this PaymentIntent because it's missing a payment method. To confirm the PaymentIntent with ${customer}, specify a payment method attached to this customer along with the customer ID.`
        : "You cannot confirm this PaymentIntent because it's missing a payment method. You can either update the PaymentIntent with a payment method and then confirm it again, or confirm it again directly with a payment method.",
    );
  }
  const pm = ctx.retrieve<Stripe.PaymentMethod>('payment_method', pmId, 'payment_method');
  assertReusable(ctx, pm, pi.id);
  if (input.return_url !== undefined) meta.return_url = input.return_url;
  if (pi.automatic_payment_methods?.enabled && pi.automatic_payment_methods.allow_redirects !== 'never' && !meta.return_url) {
    throw invalidRequest(
      "This PaymentIntent is configured to accept payment methods enabled in your Dashboard. Because some of these payment methods might redirect your customer off of your page, you must provide a `return_url`. If you don't want to accept redirect-based payment methods, set `automatic_payment_methods[enabled]` to `true` and `automatic_payment_methods[allow_redirects]` to `never` when creating Setup Intents and Payment Intents.",
    );
  }
  if (input.setup_future_usage !== undefined) pi.setup_future_usage = input.setup_future_usage;
  if (input.capture_method) pi.capture_method = input.capture_method;
  if (input.receipt_email !== undefined) pi.receipt_email = input.receipt_email;
  meta.off_session = input.off_session ?? false;
  pi.payment_method = pm.id;
  pi.last_payment_error = null;
  pi.next_action = null;

  const card = behaviourOf(ctx, pm);
  const offSession = input.off_session === true;
  const needsAuth =
    card.threeDSecure === 'always' || (card.threeDSecure === 'unless_set_up' && (!offSession || !paymentMethodMeta(ctx, pm).setUp));
  if (needsAuth) {
    if (offSession || input.error_on_requires_action)
      return attemptCharge(ctx, pi, pm, { forcedDecline: DECLINES.authentication_required, authenticated: false });
    pi.status = 'requires_action';
    meta.pendingPaymentMethod = pm.id;
    const url = `${origin ?? ctx.baseUrl}/authenticate/${pi.id}?client_secret=${encodeURIComponent(pi.client_secret ?? '')}`;
    // As Stripe: a page to redirect to only when confirmed with a return_url; otherwise an action for
    // Stripe.js, whose (opaque) details carry the same page.
    pi.next_action = meta.return_url
      ? { type: 'redirect_to_url', redirect_to_url: { url, return_url: meta.return_url } }
      : { type: 'use_stripe_sdk', use_stripe_sdk: { type: 'three_d_secure_redirect', stripe_js: url } };
    ctx.emit('payment_intent.requires_action', pi);
    return { paymentIntent: pi, error: null };
  }
  return attemptCharge(ctx, pi, pm, { authenticated: false });
}

/** The emulator's 3-D Secure page of an intent waiting for it, whichever next action points at it. */
export function authenticationUrl(pi: Stripe.PaymentIntent): string | null {
  if (pi.status !== 'requires_action') return null;
  const sdk = pi.next_action?.use_stripe_sdk as { stripe_js?: string } | undefined;
  return pi.next_action?.redirect_to_url?.url ?? sdk?.stripe_js ?? null;
}

/**
 * Completes (or fails) the 3-D Secure step of an intent in `requires_action`, as the customer would on the
 * authentication page. Success goes on to the charge (which may still decline, e.g. 4000 0082 6000 3178).
 */
export function authenticatePaymentIntent(ctx: EmulatorContext, pi: Stripe.PaymentIntent, outcome: 'succeed' | 'fail'): PaymentResult {
  if (pi.status !== 'requires_action') {
    throw unexpectedState(
      pi,
      `This PaymentIntent has a status of ${pi.status}; only a PaymentIntent with status requires_action can be authenticated.`,
    );
  }
  const meta = intentMeta(ctx, pi);
  const pmId = meta.pendingPaymentMethod ?? (typeof pi.payment_method === 'string' ? pi.payment_method : pi.payment_method?.id);
  const pm = ctx.retrieve<Stripe.PaymentMethod>('payment_method', pmId, 'payment_method');
  delete meta.pendingPaymentMethod;
  pi.next_action = null;
  if (outcome === 'fail') {
    pi.status = 'requires_payment_method';
    pi.payment_method = null;
    pi.last_payment_error = {
      code: 'payment_intent_authentication_failure',
      doc_url: 'https://stripe.com/docs/error-codes/payment-intent-authentication-failure',
      message:
        'The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again.',
      payment_method: clone(pm),
      type: 'invalid_request_error',
    };
    markUsed(ctx, pm, pi);
    ctx.emit('payment_intent.payment_failed', pi);
    return { paymentIntent: pi, error: null };
  }
  paymentMethodMeta(ctx, pm).setUp = true;
  return attemptCharge(ctx, pi, pm, { authenticated: true });
}

function markUsed(ctx: EmulatorContext, pm: Stripe.PaymentMethod, pi: Stripe.PaymentIntent): void {
  if (!pm.customer) {
    const m = paymentMethodMeta(ctx, pm);
    if (!m.usedBy) m.usedBy = pi.id;
  }
}

/** One charge attempt with the intent's payment method; updates the intent and emits Stripe's events. */
function attemptCharge(
  ctx: EmulatorContext,
  pi: Stripe.PaymentIntent,
  pm: Stripe.PaymentMethod,
  opts: { authenticated: boolean; forcedDecline?: Decline },
): PaymentResult {
  const card = behaviourOf(ctx, pm);
  const decline = opts.forcedDecline ?? card.decline;
  const manual = pi.capture_method === 'manual';
  const charge = createCharge(ctx, pi, pm, card, { decline, capture: !manual, authenticated: opts.authenticated });
  pi.latest_charge = charge.id;
  if (decline) {
    markUsed(ctx, pm, pi);
    pi.status = 'requires_payment_method';
    pi.payment_method = null;
    pi.last_payment_error = {
      charge: charge.id,
      code: decline.code,
      decline_code: decline.decline_code,
      doc_url: `https://stripe.com/docs/error-codes/${decline.code.replace(/_/g, '-')}`,
      message: decline.message,
      payment_method: clone(pm),
      type: 'card_error',
    };
    ctx.emit('charge.failed', charge);
    ctx.emit('payment_intent.payment_failed', pi);
    return { paymentIntent: pi, error: cardError(decline, { charge: charge.id, payment_intent: pi, payment_method: pm }) };
  }
  // setup_future_usage saves the card on the customer; otherwise an unsaved card is now used up
  if (pi.setup_future_usage && pi.customer && !pm.customer) attachPaymentMethod(ctx, pm, customerId(pi) as string);
  else markUsed(ctx, pm, pi);
  ctx.emit('charge.succeeded', charge);
  if (manual) {
    pi.status = 'requires_capture';
    pi.amount_capturable = pi.amount;
    ctx.emit('payment_intent.amount_capturable_updated', pi, { amount_capturable: 0 });
  } else {
    pi.status = 'succeeded';
    pi.amount_received = pi.amount;
    ctx.emit('payment_intent.succeeded', pi);
    if (card.dispute) createDispute(ctx, charge, { reason: card.dispute });
  }
  return { paymentIntent: pi, error: null };
}

/**
 * Captures an authorized intent (`requires_capture`), fully or partially. A partial capture releases the
 * rest of the authorization (Stripe records that as a refund of the remainder on the charge).
 */
export function capturePaymentIntent(ctx: EmulatorContext, pi: Stripe.PaymentIntent, amountToCapture?: number): Stripe.PaymentIntent {
  if (pi.status !== 'requires_capture') {
    throw unexpectedState(
      pi,
      `This PaymentIntent could not be captured because it has a status of ${pi.status}. Only a PaymentIntent with one of the following statuses may be captured: requires_capture.`,
    );
  }
  const amount = amountToCapture ?? pi.amount_capturable;
  if (amount < 1)
    throw invalidRequest('This value must be greater than or equal to 1.', {
      param: 'amount_to_capture',
      code: 'parameter_invalid_integer',
    });
  if (amount > pi.amount_capturable) {
    throw invalidRequest(
      `The amount to capture (${formatAmount(amount, pi.currency)}) cannot be greater than the amount capturable (${formatAmount(pi.amount_capturable, pi.currency)}).`,
      {
        param: 'amount_to_capture',
        code: 'amount_too_large',
      },
    );
  }
  const chargeId = typeof pi.latest_charge === 'string' ? pi.latest_charge : pi.latest_charge?.id;
  const charge = ctx.retrieve<Stripe.Charge>('charge', chargeId, 'payment_intent');
  const previousCharge = {
    amount_captured: charge.amount_captured,
    captured: charge.captured,
    amount_refunded: charge.amount_refunded,
    refunded: charge.refunded,
  };
  charge.captured = true;
  charge.amount_captured = amount;
  releaseUncaptured(ctx, charge, charge.amount - amount);
  pi.status = 'succeeded';
  pi.amount_received = amount;
  pi.amount_capturable = 0;
  ctx.emit('charge.captured', charge, previousCharge);
  ctx.emit('payment_intent.succeeded', pi);
  const pm =
    typeof charge.payment_method === 'string' ? ctx.store.find<Stripe.PaymentMethod>('payment_method', charge.payment_method) : undefined;
  const dispute = pm ? behaviourOf(ctx, pm).dispute : null;
  if (dispute) createDispute(ctx, charge, { reason: dispute });
  return pi;
}

const CANCELABLE: IntentStatus[] = [
  'requires_payment_method',
  'requires_capture',
  'requires_confirmation',
  'requires_action',
  'processing',
];

/** Cancels an intent (`payment_intent.canceled`); an uncaptured authorization is released. */
export function cancelPaymentIntent(
  ctx: EmulatorContext,
  pi: Stripe.PaymentIntent,
  reason?: Stripe.PaymentIntent.CancellationReason | null,
): Stripe.PaymentIntent {
  if (!CANCELABLE.includes(pi.status)) {
    throw unexpectedState(
      pi,
      `You cannot cancel this PaymentIntent because it has a status of ${pi.status}. Only a PaymentIntent with one of the following statuses may be canceled: ${CANCELABLE.join(', ')}.`,
    );
  }
  if (pi.status === 'requires_capture') {
    const chargeId = typeof pi.latest_charge === 'string' ? pi.latest_charge : pi.latest_charge?.id;
    const charge = chargeId ? ctx.store.find<Stripe.Charge>('charge', chargeId) : undefined;
    if (charge) {
      const previous = { amount_refunded: charge.amount_refunded, refunded: charge.refunded };
      releaseUncaptured(ctx, charge, charge.amount - charge.amount_refunded);
      ctx.emit('charge.refunded', charge, previous);
    }
  }
  pi.status = 'canceled';
  pi.canceled_at = ctx.now(customerId(pi));
  pi.cancellation_reason = reason ?? null;
  pi.amount_capturable = 0;
  pi.next_action = null;
  delete intentMeta(ctx, pi).pendingPaymentMethod;
  ctx.emit('payment_intent.canceled', pi);
  return pi;
}

export interface UpdatePaymentIntentInput {
  amount?: number;
  currency?: string;
  customer?: string | null;
  payment_method?: string | null;
  description?: string | null;
  metadata?: Record<string, string>;
  receipt_email?: string | null;
  setup_future_usage?: Stripe.PaymentIntent.SetupFutureUsage | null;
  capture_method?: Stripe.PaymentIntent.CaptureMethod;
  statement_descriptor?: string | null;
  statement_descriptor_suffix?: string | null;
  shipping?: Stripe.PaymentIntent.Shipping | null;
}

const AMOUNT_UPDATABLE: IntentStatus[] = ['requires_payment_method', 'requires_confirmation', 'requires_action'];

/** Updates an intent; amount, currency, customer and payment method only before it is confirmed. */
export function updatePaymentIntent(ctx: EmulatorContext, pi: Stripe.PaymentIntent, input: UpdatePaymentIntentInput): Stripe.PaymentIntent {
  const guarded: Array<keyof UpdatePaymentIntentInput> = [
    'amount',
    'currency',
    'customer',
    'payment_method',
    'capture_method',
    'setup_future_usage',
  ];
  for (const key of guarded) {
    if (input[key] !== undefined && !AMOUNT_UPDATABLE.includes(pi.status)) {
      throw unexpectedState(
        pi,
        `This PaymentIntent's ${key} could not be updated because it has a status of ${pi.status}. You may only update the ${key} of a PaymentIntent with one of the following statuses: ${AMOUNT_UPDATABLE.join(', ')}.`,
      );
    }
  }
  const currency = input.currency !== undefined ? validateCurrency(input.currency) : pi.currency;
  if (input.amount !== undefined || input.currency !== undefined) validateAmount(input.amount ?? pi.amount, currency);
  if (input.customer !== undefined) {
    pi.customer = input.customer ? ctx.retrieve<Stripe.Customer>('customer', input.customer, 'customer').id : null;
  }
  if (input.payment_method !== undefined) {
    if (input.payment_method) {
      const pm = resolvePaymentMethod(ctx, input.payment_method);
      checkOwnership(pm, customerId(pi));
      assertReusable(ctx, pm, pi.id);
      pi.payment_method = pm.id;
      if (pi.status === 'requires_payment_method' || pi.status === 'requires_action') pi.status = 'requires_confirmation';
    } else {
      pi.payment_method = null;
      pi.status = 'requires_payment_method';
    }
    pi.next_action = null;
  }
  if (input.amount !== undefined) pi.amount = input.amount;
  pi.currency = currency;
  if (input.description !== undefined) pi.description = input.description;
  if (input.metadata !== undefined) pi.metadata = input.metadata;
  if (input.receipt_email !== undefined) pi.receipt_email = input.receipt_email;
  if (input.setup_future_usage !== undefined) pi.setup_future_usage = input.setup_future_usage;
  if (input.capture_method !== undefined) pi.capture_method = input.capture_method;
  if (input.statement_descriptor !== undefined) pi.statement_descriptor = input.statement_descriptor;
  if (input.statement_descriptor_suffix !== undefined) pi.statement_descriptor_suffix = input.statement_descriptor_suffix;
  if (input.shipping !== undefined) pi.shipping = input.shipping;
  return pi;
}
