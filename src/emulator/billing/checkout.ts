import type Stripe from 'stripe';
import type { EmulatorContext } from '../core/context';
import { ApiError, invalidRequest } from '../core/errors';
import { Params } from '../core/params';
import type { ApiRequest } from '../core/router';
import {
  authenticatePaymentIntent,
  authenticationUrl,
  cancelPaymentIntent,
  confirmPaymentIntent,
  createPaymentIntent,
  intentMeta,
} from '../payments/intents';
import { attachPaymentMethod, behaviourOf, cardError, checkAttachable, createCardPaymentMethod } from '../payments/payment_methods';
import { createCustomer } from '../resources/customers';
import { asStripePrice, type PriceObject } from '../resources/prices';
import { createSubscription } from './subscriptions';
import { DAY, idOf } from './util';

/**
 * Checkout Sessions: what the hosted payment page (and the test helper that stands for it) does when the
 * customer pays. Payment mode creates and confirms a PaymentIntent. Subscription mode works as in current
 * API versions (2025-03-31.basil and later): the first payment is taken with a PaymentIntent of its own
 * (saving the card on the customer, created if needed), and only once it has succeeded is the Subscription
 * created, exactly as the API would, with that payment as its first invoice's. A failed attempt leaves no
 * subscription and no invoice. A payment finished later (3-D Secure) completes the session through the
 * payment events (see `registerCheckoutListeners`).
 */

export const SESSION_TTL = DAY;

/** Hidden state of a Checkout Session (store meta). */
export interface SessionMeta {
  /** the test clock the session lives on (its customer's), or null */
  clock: string | null;
  lineItems: string[];
  captureMethod: Stripe.PaymentIntent.CaptureMethod;
  paymentIntentMetadata: Record<string, string>;
  paymentIntentDescription: string | null;
  setupFutureUsage: Stripe.PaymentIntent.SetupFutureUsage | null;
  subscriptionMetadata: Record<string, string>;
  subscriptionDescription: string | null;
  /** subscription mode: `subscription_data[trial_end]`, or `[trial_period_days]` counted from the subscription's creation */
  trialEnd?: number;
  trialPeriodDays?: number;
  /** subscription mode: the PaymentIntent of the first payment, reused by every attempt until it succeeds */
  firstPayment?: string;
  /** subscription mode: the subscription created once the first payment succeeded */
  subscription?: string;
  /** the customer created for this session (subscription mode, or customer_creation=always) */
  createdCustomer?: string;
  email?: string;
  name?: string;
}

/** Hidden link from a subscription or PaymentIntent back to its session. */
interface SessionLink {
  checkoutSession?: string;
}

export function sessionMeta(ctx: EmulatorContext, session: Stripe.Checkout.Session | string): Partial<SessionMeta> {
  return ctx.store.meta<SessionMeta>(typeof session === 'string' ? session : session.id);
}

export function lineItemsOf(ctx: EmulatorContext, session: Stripe.Checkout.Session): Stripe.LineItem[] {
  return (sessionMeta(ctx, session).lineItems ?? [])
    .map((id) => ctx.store.get<Stripe.LineItem>(id))
    .filter((x): x is Stripe.LineItem => !!x);
}

export interface LineItemInput {
  price: PriceObject;
  quantity: number;
}

export interface CreateSessionInput {
  mode: 'payment' | 'subscription';
  lineItems: LineItemInput[];
  customer: string | null;
  customer_email: string | null;
  customer_creation: 'always' | 'if_required' | null;
  client_reference_id: string | null;
  metadata: Record<string, string>;
  success_url: string | null;
  cancel_url: string | null;
  expires_at: number | null;
  capture_method: Stripe.PaymentIntent.CaptureMethod;
  payment_intent_metadata: Record<string, string>;
  payment_intent_description: string | null;
  setup_future_usage: Stripe.PaymentIntent.SetupFutureUsage | null;
  subscription_metadata: Record<string, string>;
  subscription_description: string | null;
  /** subscription mode: a free trial (checked by the caller) */
  subscription_trial: { trial_end?: number; trial_period_days?: number };
  locale: string | null;
  submit_type: Stripe.Checkout.Session.SubmitType | null;
  origin: string;
}

export function createSession(ctx: EmulatorContext, input: CreateSessionInput): Stripe.Checkout.Session {
  const customer = input.customer ? ctx.retrieve<Stripe.Customer>('customer', input.customer, 'customer') : null;
  const clock = customer?.test_clock ? idOf(customer.test_clock) : null;
  const now = ctx.now(customer?.id);
  const id = ctx.newId('cs_test');
  const currency = input.lineItems[0]?.price.currency ?? 'usd';
  const items: Stripe.LineItem[] = input.lineItems.map((li) => {
    const amount = (li.price.unit_amount ?? 0) * li.quantity;
    const product = typeof li.price.product === 'string' ? ctx.store.find<Stripe.Product>('product', li.price.product) : undefined;
    return ctx.store.insert({
      id: ctx.newId('li'),
      object: 'item' as const,
      adjustable_quantity: null,
      amount_discount: 0,
      amount_subtotal: amount,
      amount_tax: 0,
      amount_total: amount,
      currency: li.price.currency,
      description: product?.name ?? li.price.nickname ?? null,
      discounts: [],
      metadata: {},
      price: asStripePrice(JSON.parse(JSON.stringify(li.price)) as PriceObject),
      quantity: li.quantity,
      taxes: [],
    });
  });
  // with a trial nothing is due today: the session's amounts are the first invoice's, $0
  const trial = input.subscription_trial.trial_end !== undefined || input.subscription_trial.trial_period_days !== undefined;
  const total = trial ? 0 : items.reduce((s, li) => s + li.amount_total, 0);
  const session: Stripe.Checkout.Session = {
    id,
    object: 'checkout.session',
    adaptive_pricing: { enabled: false },
    after_expiration: null,
    allow_promotion_codes: null,
    allowed_payment_method_types: ['card'],
    amount_subtotal: total,
    amount_total: total,
    automatic_tax: { enabled: false, liability: null, provider: null, status: null },
    billing_address_collection: null,
    cancel_url: input.cancel_url,
    client_reference_id: input.client_reference_id,
    client_secret: null,
    collected_information: null,
    consent: null,
    consent_collection: null,
    created: now,
    currency,
    currency_conversion: null,
    custom_fields: [],
    custom_text: { after_submit: null, shipping_address: null, submit: null, terms_of_service_acceptance: null },
    customer: customer?.id ?? null,
    customer_account: null,
    customer_creation: input.mode === 'payment' ? (input.customer_creation ?? 'if_required') : null,
    customer_details: customer
      ? {
          address: customer.address ?? null,
          business_name: null,
          email: customer.email,
          individual_name: null,
          name: customer.name ?? null,
          phone: customer.phone ?? null,
          tax_exempt: customer.tax_exempt ?? 'none',
          tax_ids: [],
        }
      : null,
    customer_email: input.customer_email,
    discounts: [],
    expires_at: input.expires_at ?? now + SESSION_TTL,
    integration_identifier: null,
    invoice: null,
    invoice_creation:
      input.mode === 'payment'
        ? {
            enabled: false,
            invoice_data: {
              account_tax_ids: null,
              custom_fields: null,
              description: null,
              footer: null,
              issuer: null,
              metadata: {},
              rendering_options: null,
            },
          }
        : null,
    livemode: false,
    locale: (input.locale as Stripe.Checkout.Session.Locale | null) ?? null,
    managed_payments: null,
    metadata: input.metadata,
    mode: input.mode,
    origin_context: null,
    payment_intent: null,
    payment_link: null,
    payment_method_collection: input.mode === 'subscription' ? 'always' : null,
    payment_method_configuration_details: null,
    payment_method_options: { card: { request_three_d_secure: 'automatic' } } as Stripe.Checkout.Session.PaymentMethodOptions,
    payment_method_types: ['card'],
    payment_status: 'unpaid',
    permissions: null,
    phone_number_collection: { enabled: false },
    recovered_from: null,
    saved_payment_method_options: null,
    setup_intent: null,
    shipping_address_collection: null,
    shipping_cost: null,
    shipping_options: [],
    status: 'open',
    submit_type: input.submit_type,
    subscription: null,
    success_url: input.success_url,
    total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
    ui_mode: 'hosted_page',
    url: `${input.origin}/c/pay/${id}`,
    wallet_options: null,
  };
  ctx.store.insert(session);
  Object.assign(sessionMeta(ctx, session), {
    clock,
    lineItems: items.map((li) => li.id),
    captureMethod: input.capture_method,
    paymentIntentMetadata: input.payment_intent_metadata,
    paymentIntentDescription: input.payment_intent_description,
    setupFutureUsage: input.setup_future_usage,
    subscriptionMetadata: input.subscription_metadata,
    subscriptionDescription: input.subscription_description,
    trialEnd: input.subscription_trial.trial_end,
    trialPeriodDays: input.subscription_trial.trial_period_days,
  } satisfies SessionMeta);
  return session;
}

/** Where the customer goes after paying: `success_url` with `{CHECKOUT_SESSION_ID}` replaced. */
export function successUrl(session: Stripe.Checkout.Session): string | null {
  return session.success_url ? session.success_url.split('{CHECKOUT_SESSION_ID}').join(session.id) : null;
}

export interface CardSubmission {
  number: string;
  exp_month?: number;
  exp_year?: number;
  cvc?: string;
  email?: string | null;
  name?: string | null;
  /** param name used in card errors (the hosted page and the helper differ) */
  param?: string;
  /** the emulator's base URL as the customer reached it */
  origin: string;
  /** 3-D Secure: complete or fail it at once instead of leaving it for the customer */
  authenticate?: 'succeed' | 'fail';
}

export type SubmitOutcome =
  | { kind: 'complete' }
  | { kind: 'requires_action'; redirectUrl: string; paymentIntent: Stripe.PaymentIntent }
  | { kind: 'declined'; error: ApiError };

/** The session as long as it can still be paid; Stripe's error otherwise. */
export function assertOpen(session: Stripe.Checkout.Session): void {
  if (session.status === 'complete')
    throw invalidRequest('This Checkout Session is already complete.', { code: 'checkout_session_already_complete' });
  if (session.status === 'expired') throw invalidRequest('This Checkout Session has expired.', { code: 'checkout_session_expired' });
}

/**
 * The customer pays with a card: what the hosted page's Pay button and the test helper both do.
 * Request errors (invalid card number or expiry) throw; a decline is returned as an outcome, and the
 * session stays open so another card can be tried.
 */
export function submitCard(ctx: EmulatorContext, session: Stripe.Checkout.Session, card: CardSubmission): SubmitOutcome {
  assertOpen(session);
  const meta = sessionMeta(ctx, session);
  const email =
    card.email ||
    session.customer_email ||
    meta.email ||
    (session.customer ? ctx.store.find<Stripe.Customer>('customer', idOf(session.customer) ?? '')?.email : null) ||
    null;
  if (!email && session.mode === 'subscription' && !session.customer)
    throw invalidRequest('Your email address is incomplete.', { param: 'email', code: 'email_invalid' });
  meta.email = email ?? undefined;
  if (card.name) meta.name = card.name;
  const pm = createCardPaymentMethod(ctx, {
    number: card.number,
    exp_month: card.exp_month,
    exp_year: card.exp_year,
    cvc: card.cvc,
    billing_details: { email, name: card.name ?? null },
    param: card.param ?? 'card_number',
  });
  const returnUrl = `${card.origin}/c/pay/${session.id}/return`;
  let outcome =
    session.mode === 'subscription'
      ? paySubscription(ctx, session, pm, card.origin, returnUrl)
      : payPayment(ctx, session, pm, card.origin, returnUrl);
  if (outcome.kind === 'requires_action' && card.authenticate) {
    const result = authenticatePaymentIntent(ctx, outcome.paymentIntent, card.authenticate);
    if (session.status === 'complete') outcome = { kind: 'complete' };
    else outcome = { kind: 'declined', error: result.error ?? authenticationFailed(result.paymentIntent) };
  }
  return outcome;
}

function authenticationFailed(pi: Stripe.PaymentIntent): ApiError {
  const e = pi.last_payment_error;
  return new ApiError(402, {
    type: 'card_error',
    code: e?.code ?? 'payment_intent_authentication_failure',
    message: e?.message ?? 'We are unable to authenticate your payment method. Please choose a different payment method and try again.',
    payment_intent: JSON.parse(JSON.stringify(pi)) as unknown,
  });
}

function payPayment(
  ctx: EmulatorContext,
  session: Stripe.Checkout.Session,
  pm: Stripe.PaymentMethod,
  origin: string,
  returnUrl: string,
): SubmitOutcome {
  const meta = sessionMeta(ctx, session);
  let customerId = idOf(session.customer);
  if (!customerId && session.customer_creation === 'always') customerId = ensureCustomer(ctx, session);
  const pi =
    waitingIntent(ctx, idOf(session.payment_intent)) ??
    createPaymentIntent(ctx, {
      amount: session.amount_total ?? 0,
      currency: session.currency ?? 'usd',
      customer: customerId,
      capture_method: meta.captureMethod ?? 'automatic_async',
      description: meta.paymentIntentDescription ?? null,
      metadata: { ...(meta.paymentIntentMetadata ?? {}) },
      setup_future_usage: meta.setupFutureUsage ?? null,
      receipt_email: meta.email ?? null,
      allowed_payment_method_types: ['card'],
      meta: { checkoutSession: session.id } satisfies SessionLink,
    });
  session.payment_intent = pi.id;
  const result = confirmPaymentIntent(ctx, pi, { payment_method: pm.id, return_url: returnUrl }, origin);
  return outcomeOf(ctx, session, result.paymentIntent, result.error);
}

/**
 * The session's PaymentIntent while it still waits for a payment (declined, or a 3-D Secure step failed or left
 * unfinished): every attempt of a session confirms the same one, as on Stripe's page.
 */
function waitingIntent(ctx: EmulatorContext, id: string | null | undefined): Stripe.PaymentIntent | undefined {
  const pi = id ? ctx.store.find<Stripe.PaymentIntent>('payment_intent', id) : undefined;
  return pi && (pi.status === 'requires_payment_method' || pi.status === 'requires_action' || pi.status === 'requires_confirmation')
    ? pi
    : undefined;
}

function outcomeOf(
  ctx: EmulatorContext,
  session: Stripe.Checkout.Session,
  pi: Stripe.PaymentIntent | null,
  error: ApiError | null,
): SubmitOutcome {
  const fresh = ctx.store.find<Stripe.Checkout.Session>('checkout.session', session.id) ?? session;
  if (fresh.status === 'complete') return { kind: 'complete' };
  const redirectUrl = pi ? authenticationUrl(pi) : null;
  if (pi && redirectUrl) return { kind: 'requires_action', redirectUrl, paymentIntent: pi };
  return {
    kind: 'declined',
    error:
      error ??
      new ApiError(402, { type: 'card_error', code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.' }),
  };
}

function paySubscription(
  ctx: EmulatorContext,
  session: Stripe.Checkout.Session,
  pm: Stripe.PaymentMethod,
  origin: string,
  returnUrl: string,
): SubmitOutcome {
  const meta = sessionMeta(ctx, session);
  // A card that cannot be saved, or whose payment would simply be declined, is refused before anything is created.
  try {
    checkAttachable(ctx, pm);
  } catch (err) {
    if (err instanceof ApiError && err.status === 402) return { kind: 'declined', error: err };
    throw err;
  }
  const card = behaviourOf(ctx, pm);
  if (card.decline && card.threeDSecure === 'none') return { kind: 'declined', error: cardError(card.decline, { payment_method: pm }) };
  if (hasTrial(meta)) return startTrial(ctx, session, pm);

  const customerId = ensureCustomer(ctx, session);
  const pi =
    waitingIntent(ctx, meta.firstPayment) ??
    createPaymentIntent(ctx, {
      amount: session.amount_total ?? 0,
      currency: session.currency ?? 'usd',
      customer: customerId,
      description: 'Subscription creation',
      // the card is saved on the customer once the payment succeeds, to pay the renewals
      setup_future_usage: 'off_session',
      receipt_email: meta.email ?? null,
      allowed_payment_method_types: ['card'],
      meta: { checkoutSession: session.id } satisfies SessionLink,
    });
  meta.firstPayment = pi.id;
  // a success creates the subscription and completes the session (the payment_intent.succeeded listener)
  const result = confirmPaymentIntent(ctx, pi, { payment_method: pm.id, return_url: returnUrl }, origin);
  return outcomeOf(ctx, session, result.paymentIntent, result.error);
}

function hasTrial(meta: Partial<SessionMeta>): boolean {
  return meta.trialEnd !== undefined || meta.trialPeriodDays !== undefined;
}

/**
 * Subscription mode with a trial: nothing is charged today. The card is saved on the customer (Stripe does
 * it with a SetupIntent; the emulator attaches it, with no 3-D Secure step) and the subscription is created
 * `trialing` with it as its default payment method, to be charged at the trial's end.
 */
function startTrial(ctx: EmulatorContext, session: Stripe.Checkout.Session, pm: Stripe.PaymentMethod): SubmitOutcome {
  const meta = sessionMeta(ctx, session);
  const customerId = ensureCustomer(ctx, session);
  attachPaymentMethod(ctx, pm, customerId);
  const now = ctx.now(customerId);
  const sub = createSubscription(ctx, {
    customer: customerId,
    items: lineItemsOf(ctx, session).map((li) => ({ price: li.price as unknown as PriceObject, quantity: li.quantity ?? 1 })),
    default_payment_method: pm.id,
    metadata: { ...(meta.subscriptionMetadata ?? {}) },
    description: meta.subscriptionDescription ?? null,
    trial_end: meta.trialEnd ?? now + (meta.trialPeriodDays ?? 0) * DAY,
  });
  meta.subscription = sub.id;
  completeSession(ctx, session);
  return { kind: 'complete' };
}

/**
 * Subscription mode, once the first payment succeeded: the Subscription is created as `POST /v1/subscriptions`
 * would (the paying card as its default payment method, `subscription_data`'s metadata and description), its
 * first invoice paid by that payment; then the session completes.
 */
function fulfilSubscription(ctx: EmulatorContext, session: Stripe.Checkout.Session, pi: Stripe.PaymentIntent): void {
  const meta = sessionMeta(ctx, session);
  const customerId = idOf(pi.customer) as string;
  const prices = lineItemsOf(ctx, session).map((li) => ({ price: li.price as unknown as PriceObject, quantity: li.quantity ?? 1 }));
  const sub = createSubscription(ctx, {
    customer: customerId,
    items: prices,
    default_payment_method: idOf(pi.payment_method),
    metadata: { ...(meta.subscriptionMetadata ?? {}) },
    description: meta.subscriptionDescription ?? null,
    paidBy: pi,
  });
  meta.subscription = sub.id;
  completeSession(ctx, session);
}

/** The session's customer: the one it was created with, or one created now from the email entered. */
function ensureCustomer(ctx: EmulatorContext, session: Stripe.Checkout.Session): string {
  const existing = idOf(session.customer);
  if (existing) return existing;
  const meta = sessionMeta(ctx, session);
  if (meta.createdCustomer && ctx.store.find('customer', meta.createdCustomer)) return meta.createdCustomer;
  const customer = newCustomer(ctx, { email: meta.email ?? null, name: meta.name ?? null });
  meta.createdCustomer = customer.id;
  return customer.id;
}

/** Creates a customer exactly as `POST /v1/customers` does (`customer.created`). */
function newCustomer(ctx: EmulatorContext, fields: { email: string | null; name: string | null }): Stripe.Customer {
  const raw: Record<string, string> = {};
  if (fields.email) raw['email'] = fields.email;
  if (fields.name) raw['name'] = fields.name;
  return createCustomer({ ctx, params: Params.of(raw) } as unknown as ApiRequest);
}

/** The session is paid: `complete`, its customer, subscription or PaymentIntent, `checkout.session.completed`. */
export function completeSession(ctx: EmulatorContext, session: Stripe.Checkout.Session): void {
  if (session.status !== 'open') return;
  const meta = sessionMeta(ctx, session);
  const customerId = idOf(session.customer) ?? meta.createdCustomer ?? null;
  const customer = customerId ? ctx.store.find<Stripe.Customer>('customer', customerId) : undefined;
  session.status = 'complete';
  session.customer = customerId;
  session.customer_details = {
    address: customer?.address ?? null,
    business_name: null,
    email: meta.email ?? customer?.email ?? null,
    individual_name: null,
    name: meta.name ?? customer?.name ?? null,
    phone: customer?.phone ?? null,
    tax_exempt: customer?.tax_exempt ?? 'none',
    tax_ids: [],
  };
  if (session.mode === 'subscription') {
    const sub = meta.subscription ? ctx.store.find<Stripe.Subscription>('subscription', meta.subscription) : undefined;
    session.subscription = sub?.id ?? null;
    session.invoice = sub ? idOf(sub.latest_invoice) : null;
    session.payment_status = hasTrial(meta) ? 'no_payment_required' : 'paid';
  } else {
    const pi = session.payment_intent
      ? ctx.store.find<Stripe.PaymentIntent>('payment_intent', idOf(session.payment_intent) ?? '')
      : undefined;
    // an authorization (capture_method=manual) is not a payment yet
    session.payment_status = pi?.status === 'succeeded' ? 'paid' : 'unpaid';
  }
  session.url = null;
  ctx.emit('checkout.session.completed', session);
}

/** Expires an open session (`checkout.session.expired`); its unpaid PaymentIntent is canceled. */
export function expireSession(ctx: EmulatorContext, session: Stripe.Checkout.Session): Stripe.Checkout.Session {
  if (session.status !== 'open') {
    throw invalidRequest(
      `Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of ${session.status}.`,
      { code: 'checkout_session_not_open' },
    );
  }
  // payment mode: `payment_intent`; subscription mode: the first payment, which the session does not show
  const pi = waitingIntent(ctx, idOf(session.payment_intent) ?? sessionMeta(ctx, session).firstPayment);
  if (pi) cancelPaymentIntent(ctx, pi, 'abandoned');
  session.status = 'expired';
  session.url = null;
  ctx.emit('checkout.session.expired', session);
  return session;
}

/** Completes sessions when their payment succeeds, whenever that happens (at once, after 3-D Secure, test helpers). */
export function registerCheckoutListeners(ctx: EmulatorContext): void {
  const fromIntent = (event: Stripe.EventBase) => {
    const pi = ctx.store.find<Stripe.PaymentIntent>('payment_intent', (event.data.object as Stripe.PaymentIntent).id);
    const sessionId = pi ? (intentMeta(ctx, pi.id) as SessionLink).checkoutSession : undefined;
    const session = sessionId ? ctx.store.find<Stripe.Checkout.Session>('checkout.session', sessionId) : undefined;
    if (!pi || session?.status !== 'open') return;
    if (session.mode === 'subscription') {
      if (pi.status === 'succeeded' && sessionMeta(ctx, session).firstPayment === pi.id) fulfilSubscription(ctx, session, pi);
    } else completeSession(ctx, session);
  };
  ctx.on('payment_intent.succeeded', fromIntent);
  ctx.on('payment_intent.amount_capturable_updated', fromIntent);
}
