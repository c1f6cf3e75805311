import type Stripe from 'stripe';
import type { EmulatorContext } from '../core/context';
import { ApiError, invalidRequest } from '../core/errors';
import { MINIMUM_CHARGE } from '../core/currency';
import { cancelPaymentIntent, confirmPaymentIntent, createPaymentIntent, intentMeta } from '../payments/intents';
import { resolvePaymentMethod } from '../payments/payment_methods';
import { publishInvoice } from './invoiceLinks';
import type { PriceObject } from '../resources/prices';
import { idOf, wireDecimal } from './util';

/**
 * Invoices of subscriptions, as the current API has them: the invoice is linked to its subscription by
 * `parent.subscription_details.subscription`, its PaymentIntent by the InvoicePayment objects listed in
 * `payments` (each `payment: { type: 'payment_intent', payment_intent }`), and the intent's client secret is
 * `confirmation_secret.client_secret`. `payments` and `confirmation_secret` appear only when expanded.
 *
 * Payments go through the core payment engine, so declines, 3-D Secure and events are the same as for any
 * PaymentIntent; the outcome reaches the invoice through the `payment_intent.*` events (see `register`), so
 * an intent completed later (3-D Secure page, test helper, client-side confirm) pays its invoice too.
 */

/** Hidden state of an invoice (store meta). */
export interface InvoiceMeta {
  subscription?: string;
  paymentIntent?: string;
  invoicePayment?: string;
}

/** Hidden state of a PaymentIntent created for an invoice. */
interface InvoiceIntentLink {
  invoice?: string;
}

export type BillingReason = 'subscription_create' | 'subscription_cycle' | 'subscription_update';

export interface InvoiceLineInput {
  price: PriceObject;
  quantity: number;
  subscriptionItem: string;
  description: string;
  /** default: unit amount × quantity (prorations carry their own, negative for a credit) */
  amount?: number;
  /** default: the invoice's service period */
  period?: { start: number; end: number };
  proration?: boolean;
  /** for a credit: the invoice line of the time being credited */
  creditedItems?: { invoice: string; invoice_line_items: string[] } | null;
}

export interface SubscriptionInvoiceInput {
  subscription: Stripe.Subscription;
  reason: BillingReason;
  lines: InvoiceLineInput[];
  /** the service period the lines pay for */
  period: { start: number; end: number };
  /** the invoice's own `period_start`/`period_end` (Stripe: the period that just ended, or the creation time for the first) */
  invoicePeriod: { start: number; end: number };
}

export function invoiceMeta(ctx: EmulatorContext, invoice: Stripe.Invoice | string): Partial<InvoiceMeta> {
  return ctx.store.meta<InvoiceMeta>(typeof invoice === 'string' ? invoice : invoice.id);
}

/** The invoice a PaymentIntent pays, if any. */
export function invoiceOfIntent(ctx: EmulatorContext, pi: Stripe.PaymentIntent | string): Stripe.Invoice | undefined {
  const id = (intentMeta(ctx, pi) as InvoiceIntentLink).invoice;
  return id ? ctx.store.find<Stripe.Invoice>('invoice', id) : undefined;
}

/** The PaymentIntent of an invoice, if it has one. */
export function intentOfInvoice(ctx: EmulatorContext, invoice: Stripe.Invoice): Stripe.PaymentIntent | undefined {
  const id = invoiceMeta(ctx, invoice).paymentIntent;
  return id ? ctx.store.find<Stripe.PaymentIntent>('payment_intent', id) : undefined;
}

/** The invoice's subscription id (`parent.subscription_details.subscription`). */
export function subscriptionIdOf(invoice: Stripe.Invoice): string | null {
  return idOf(invoice.parent?.subscription_details?.subscription);
}

/** Creates a draft subscription invoice (`invoice.created`). */
export function createSubscriptionInvoice(ctx: EmulatorContext, input: SubscriptionInvoiceInput): Stripe.Invoice {
  const invoice = buildSubscriptionInvoice(ctx, input, ctx.newId('in'));
  ctx.store.insert(invoice);
  invoiceMeta(ctx, invoice).subscription = input.subscription.id;
  ctx.emit('invoice.created', invoice);
  return invoice;
}

/**
 * A subscription invoice as it would be drafted, neither stored nor announced (`POST /v1/invoices/create_preview`
 * answers one with an `upcoming_in_` id). A negative total (more credited than charged) is due as 0, the
 * credit going to the customer's balance when the invoice is finalized.
 */
export function buildSubscriptionInvoice(ctx: EmulatorContext, input: SubscriptionInvoiceInput, id: string): Stripe.Invoice {
  const sub = input.subscription;
  const customerId = idOf(sub.customer) as string;
  const customer = ctx.retrieve<Stripe.Customer>('customer', customerId, 'customer');
  const now = ctx.now(customerId);
  const lines: Stripe.InvoiceLineItem[] = input.lines.map((l) => {
    const amount = l.amount ?? (l.price.unit_amount ?? 0) * l.quantity;
    const period = l.period ?? input.period;
    return {
      id: ctx.newId('il'),
      object: 'line_item',
      amount,
      currency: l.price.currency,
      description: l.description,
      discount_amounts: [],
      discountable: true,
      discounts: [],
      invoice: id,
      livemode: false,
      metadata: {},
      parent: {
        type: 'subscription_item_details',
        invoice_item_details: null,
        subscription_item_details: {
          invoice_item: null,
          proration: l.proration ?? false,
          proration_details: { credited_items: l.creditedItems ?? null },
          subscription: sub.id,
          subscription_item: l.subscriptionItem,
        },
      },
      period: { start: period.start, end: period.end },
      pretax_credit_amounts: [],
      pricing: {
        type: 'price_details',
        price_details: { price: l.price.id, product: l.price.product as string },
        unit_amount_decimal: wireDecimal(l.price.unit_amount_decimal),
      },
      quantity: l.quantity,
      quantity_decimal: wireDecimal(String(l.quantity)),
      subscription: sub.id,
      subtotal: amount,
      taxes: [],
    };
  });
  const total = lines.reduce((s, l) => s + l.amount, 0);
  const due = Math.max(0, total);
  const invoice: Stripe.Invoice = {
    id,
    object: 'invoice',
    account_country: 'US',
    account_name: 'Stripe emulator',
    account_tax_ids: null,
    amount_due: due,
    amount_overpaid: 0,
    amount_paid: 0,
    amount_remaining: due,
    amount_shipping: 0,
    application: null,
    attempt_count: 0,
    attempted: false,
    auto_advance: true,
    automatic_tax: { disabled_reason: null, enabled: false, liability: null, provider: null, status: null },
    automatically_finalizes_at: null,
    billing_reason: input.reason,
    collection_method: 'charge_automatically',
    created: now,
    currency: sub.currency,
    custom_fields: null,
    customer: customer.id,
    customer_account: null,
    customer_address: customer.address ?? null,
    customer_email: customer.email,
    customer_name: customer.name ?? null,
    customer_phone: customer.phone ?? null,
    customer_shipping: customer.shipping ?? null,
    customer_tax_exempt: customer.tax_exempt ?? 'none',
    customer_tax_ids: [],
    default_payment_method: null,
    default_source: null,
    default_tax_rates: [],
    description: null,
    discounts: [],
    due_date: null,
    effective_at: null,
    ending_balance: null,
    footer: null,
    from_invoice: null,
    hosted_invoice_url: null,
    invoice_pdf: null,
    issuer: { type: 'self' },
    last_finalization_error: null,
    latest_revision: null,
    lines: { object: 'list', data: lines, has_more: false, url: `/v1/invoices/${id}/lines` },
    livemode: false,
    metadata: {},
    next_payment_attempt: null,
    number: null,
    on_behalf_of: null,
    parent: {
      type: 'subscription_details',
      quote_details: null,
      subscription_details: { metadata: { ...sub.metadata }, subscription: sub.id },
    },
    payment_settings: { default_mandate: null, payment_method_options: null, payment_method_types: null },
    period_end: input.invoicePeriod.end,
    period_start: input.invoicePeriod.start,
    post_payment_credit_notes_amount: 0,
    pre_payment_credit_notes_amount: 0,
    receipt_number: null,
    rendering: null,
    shipping_cost: null,
    shipping_details: null,
    starting_balance: 0,
    statement_descriptor: null,
    status: 'draft',
    status_transitions: { finalized_at: null, marked_uncollectible_at: null, paid_at: null, voided_at: null },
    subtotal: total,
    subtotal_excluding_tax: total,
    test_clock: customer.test_clock ? idOf(customer.test_clock) : null,
    total,
    total_discount_amounts: [],
    total_excluding_tax: total,
    total_pretax_credit_amounts: [],
    total_taxes: [],
    webhooks_delivered_at: null,
  };
  return invoice;
}

/**
 * Finalizes a draft (`invoice.finalized`): a number, status `open`, and the PaymentIntent that will pay it
 * with its InvoicePayment. An invoice with nothing to charge (0, or under the currency's minimum charge, which
 * Stripe carries to the customer balance) is paid at once without a payment.
 *
 * `paidBy` is a PaymentIntent that already succeeded for this amount (Checkout in subscription mode takes the
 * first payment before the subscription exists): it becomes the invoice's payment, and the invoice is paid.
 */
export function finalizeInvoice(
  ctx: EmulatorContext,
  invoice: Stripe.Invoice,
  opts: { paidBy?: Stripe.PaymentIntent } = {},
): Stripe.Invoice {
  if (invoice.status !== 'draft')
    throw invalidRequest(`This invoice is already finalized, you can't re-finalize a non-draft invoice.`, { code: 'invoice_not_editable' });
  const customerId = idOf(invoice.customer) as string;
  const now = ctx.now(customerId);
  const customer = ctx.store.find<Stripe.Customer>('customer', customerId);
  if (customer) {
    invoice.number = `${customer.invoice_prefix ?? 'INV'}-${String(customer.next_invoice_sequence ?? 1).padStart(4, '0')}`;
    customer.next_invoice_sequence = (customer.next_invoice_sequence ?? 1) + 1;
  }
  if (customer && invoice.total < 0) creditBalance(ctx, customer, invoice);
  invoice.status = 'open';
  invoice.status_transitions.finalized_at = now;
  invoice.effective_at = now;
  invoice.automatically_finalizes_at = null;
  publishInvoice(ctx, invoice);
  const paidBy = opts.paidBy;
  if (paidBy && (paidBy.status !== 'succeeded' || paidBy.amount_received !== invoice.amount_due || paidBy.currency !== invoice.currency)) {
    throw new Error(
      `PaymentIntent ${paidBy.id} (${paidBy.status}, ${paidBy.amount_received} ${paidBy.currency}) cannot pay invoice ${invoice.id} (${invoice.amount_due} ${invoice.currency})`,
    );
  }
  const chargeable = !!paidBy || invoice.amount_due >= (MINIMUM_CHARGE[invoice.currency] ?? 1);
  if (chargeable) {
    if (paidBy) {
      intentMeta(ctx, paidBy).invoice = invoice.id;
      invoice.attempt_count = 1;
      invoice.attempted = true;
    }
    const pi =
      paidBy ??
      createPaymentIntent(ctx, {
        amount: invoice.amount_due,
        currency: invoice.currency,
        customer: customerId,
        description: invoice.billing_reason === 'subscription_create' ? 'Subscription creation' : 'Subscription update',
        allowed_payment_method_types: ['card'],
        setup_future_usage: invoice.billing_reason === 'subscription_create' ? 'off_session' : null,
        meta: { invoice: invoice.id },
      });
    const payment: Stripe.InvoicePayment = {
      id: ctx.newId('inpay'),
      object: 'invoice_payment',
      amount_paid: null,
      amount_requested: invoice.amount_due,
      created: now,
      currency: invoice.currency,
      invoice: invoice.id,
      is_default: true,
      livemode: false,
      payment: { type: 'payment_intent', payment_intent: pi.id },
      status: 'open',
      status_transitions: { canceled_at: null, paid_at: null },
    };
    ctx.store.insert(payment);
    const meta = invoiceMeta(ctx, invoice);
    meta.paymentIntent = pi.id;
    meta.invoicePayment = payment.id;
  }
  ctx.emit('invoice.finalized', invoice);
  if (!chargeable || paidBy) markInvoicePaid(ctx, invoice);
  return invoice;
}

/** What an invoice credits beyond its charges goes to the customer's balance, as at Stripe (`customer.updated`). */
function creditBalance(ctx: EmulatorContext, customer: Stripe.Customer, invoice: Stripe.Invoice): void {
  const before = customer.balance;
  invoice.starting_balance = before;
  customer.balance = before + invoice.total;
  invoice.ending_balance = customer.balance;
  ctx.emit('customer.updated', customer, { balance: before });
}

export interface PayInvoiceInput {
  /** an id or magic test id; default: the subscription's, then the customer's default payment method */
  payment_method?: string | null;
  off_session?: boolean;
  /** fail instead of asking for 3-D Secure */
  error_on_requires_action?: boolean;
  /** where the 3-D Secure page sends the customer back to */
  return_url?: string;
  origin?: string;
}

export interface InvoicePaymentResult {
  invoice: Stripe.Invoice;
  paymentIntent: Stripe.PaymentIntent | null;
  /** the card error (402) of a declined attempt, or null */
  error: ApiError | null;
}

/**
 * Attempts to pay an open invoice with its PaymentIntent. A missing payment method counts as a failed
 * attempt (`invoice.payment_failed`); declines and 3-D Secure are the core engine's.
 */
export function payInvoice(ctx: EmulatorContext, invoice: Stripe.Invoice, input: PayInvoiceInput = {}): InvoicePaymentResult {
  if (invoice.status === 'draft') finalizeInvoice(ctx, invoice);
  if (invoice.status === 'paid') throw invalidRequest('Invoice is already paid', { code: 'invoice_already_paid' });
  // as at Stripe, an invoice marked uncollectible can still be paid
  if (!isPayable(invoice))
    throw invalidRequest(`You can only pay an open or uncollectible invoice. This invoice has a status of ${invoice.status}.`, {
      code: 'invoice_not_editable',
    });
  const pi = intentOfInvoice(ctx, invoice);
  if (!pi) {
    markInvoicePaid(ctx, invoice);
    return { invoice, paymentIntent: null, error: null };
  }
  const pmRef = input.payment_method ?? defaultPaymentMethodFor(ctx, invoice);
  invoice.attempt_count += 1;
  invoice.attempted = true;
  if (!pmRef) {
    ctx.emit('invoice.payment_failed', invoice);
    return {
      invoice,
      paymentIntent: pi,
      error: invalidRequest(
        'This customer has no attached payment source or default payment method. Please consider adding a default payment method.',
        { code: 'resource_missing', status: 400 },
      ),
    };
  }
  const customerId = idOf(invoice.customer);
  const pm = resolvePaymentMethod(ctx, pmRef, 'payment_method');
  if (pm.customer && idOf(pm.customer) !== customerId) {
    throw invalidRequest(`The payment method ${pm.id} belongs to another customer.`, {
      param: 'payment_method',
      code: 'payment_method_invalid_parameter',
    });
  }
  if (pi.status === 'requires_action') {
    // a new attempt replaces the pending authentication
    pi.status = 'requires_payment_method';
    pi.next_action = null;
  }
  const result = confirmPaymentIntent(
    ctx,
    pi,
    {
      payment_method: pm.id,
      off_session: input.off_session ?? false,
      error_on_requires_action: input.error_on_requires_action,
      ...(input.return_url ? { return_url: input.return_url } : {}),
    },
    input.origin,
  );
  return { invoice, paymentIntent: result.paymentIntent, error: result.error };
}

/** An invoice that can still be paid: `open`, or `uncollectible` (written off, but payable). */
export function isPayable(invoice: Stripe.Invoice): boolean {
  return invoice.status === 'open' || invoice.status === 'uncollectible';
}

/** The payment method an automatic attempt uses: the subscription's default, then the customer's. */
export function defaultPaymentMethodFor(ctx: EmulatorContext, invoice: Stripe.Invoice): string | null {
  const subId = subscriptionIdOf(invoice);
  const sub = subId ? ctx.store.find<Stripe.Subscription>('subscription', subId) : undefined;
  const fromSub = sub ? idOf(sub.default_payment_method) : null;
  if (fromSub) return fromSub;
  const customer = ctx.store.find<Stripe.Customer>('customer', idOf(invoice.customer) ?? '');
  return customer ? idOf(customer.invoice_settings?.default_payment_method) : null;
}

/** Marks an open invoice paid (`invoice_payment.paid`, `invoice.paid`, `invoice.payment_succeeded`). */
export function markInvoicePaid(ctx: EmulatorContext, invoice: Stripe.Invoice): void {
  if (invoice.status === 'paid') return;
  const now = ctx.now(idOf(invoice.customer));
  const payment = invoicePaymentOf(ctx, invoice);
  invoice.status = 'paid';
  delete invoice.status_details;
  invoice.amount_paid = invoice.amount_due;
  invoice.amount_remaining = 0;
  invoice.status_transitions.paid_at = now;
  invoice.next_payment_attempt = null;
  if (payment) {
    payment.status = 'paid';
    payment.amount_paid = invoice.amount_due;
    payment.status_transitions.paid_at = now;
    ctx.emit('invoice_payment.paid', payment);
  }
  ctx.emit('invoice.paid', invoice);
  ctx.emit('invoice.payment_succeeded', invoice);
}

/** Voids an open or draft invoice (`invoice.voided`); its pending PaymentIntent is canceled. */
export function voidInvoice(ctx: EmulatorContext, invoice: Stripe.Invoice): Stripe.Invoice {
  if (invoice.status === 'void') return invoice;
  if (invoice.status === 'paid')
    throw invalidRequest('You can only void invoices that are open or uncollectible.', { code: 'invoice_not_editable' });
  if (invoice.status === 'draft')
    throw invalidRequest('You can only void invoices that are open or uncollectible. Delete a draft invoice instead.', {
      code: 'invoice_not_editable',
    });
  const now = ctx.now(idOf(invoice.customer));
  const pi = intentOfInvoice(ctx, invoice);
  if (pi && pi.status !== 'succeeded' && pi.status !== 'canceled') cancelPaymentIntent(ctx, pi, 'void_invoice');
  const payment = invoicePaymentOf(ctx, invoice);
  if (payment && payment.status === 'open') {
    payment.status = 'canceled';
    payment.status_transitions.canceled_at = now;
  }
  invoice.status = 'void';
  delete invoice.status_details;
  invoice.amount_remaining = 0;
  invoice.status_transitions.voided_at = now;
  ctx.emit('invoice.voided', invoice);
  return invoice;
}

/**
 * Marks an open invoice uncollectible (`invoice.marked_uncollectible`), with Stripe's
 * `status_details.uncollectible.reason: 'user_forgiven'` (shown only while uncollectible). It can still be paid or voided.
 */
export function markUncollectible(ctx: EmulatorContext, invoice: Stripe.Invoice): Stripe.Invoice {
  if (invoice.status !== 'open')
    throw invalidRequest(`You can only mark open invoices as uncollectible. This invoice has a status of ${invoice.status}.`, {
      code: 'invoice_not_editable',
    });
  invoice.status = 'uncollectible';
  invoice.status_details = { uncollectible: { reason: 'user_forgiven' } };
  invoice.status_transitions.marked_uncollectible_at = ctx.now(idOf(invoice.customer));
  ctx.emit('invoice.marked_uncollectible', invoice);
  return invoice;
}

export function invoicePaymentOf(ctx: EmulatorContext, invoice: Stripe.Invoice): Stripe.InvoicePayment | undefined {
  const id = invoiceMeta(ctx, invoice).invoicePayment;
  return id ? ctx.store.find<Stripe.InvoicePayment>('invoice_payment', id) : undefined;
}

/** What `invoice.payments` expands to. */
export function paymentsList(ctx: EmulatorContext, invoiceId: string): Stripe.ApiList<Stripe.InvoicePayment> {
  const data = ctx.store.newest<Stripe.InvoicePayment>('invoice_payment').filter((p) => p.invoice === invoiceId);
  return { object: 'list', data, has_more: false, url: `/v1/invoice_payments?invoice=${invoiceId}` };
}

/** What `invoice.confirmation_secret` expands to: the client secret of the invoice's PaymentIntent. */
export function confirmationSecret(ctx: EmulatorContext, invoice: Stripe.Invoice): Stripe.Invoice.ConfirmationSecret | null {
  const pi = intentOfInvoice(ctx, invoice);
  return pi?.client_secret ? { client_secret: pi.client_secret, type: 'payment_intent' } : null;
}

/**
 * Links the payment engine's outcomes to invoices. Runs on every payment_intent event, whatever confirmed
 * the intent (an automatic attempt, `POST /v1/invoices/:id/pay`, a client-side confirm, 3-D Secure).
 */
export function registerInvoicePaymentListeners(ctx: EmulatorContext): void {
  ctx.on('payment_intent.succeeded', (event) => {
    const invoice = invoiceOfIntent(ctx, (event.data.object as Stripe.PaymentIntent).id);
    if (invoice && isPayable(invoice)) markInvoicePaid(ctx, invoice);
  });
  ctx.on('payment_intent.payment_failed', (event) => {
    const pi = event.data.object as Stripe.PaymentIntent;
    const invoice = invoiceOfIntent(ctx, pi.id);
    if (invoice && isPayable(invoice)) {
      // Stripe schedules Smart Retries; the emulator does not retry by itself (pay the invoice again instead)
      invoice.next_payment_attempt = null;
      ctx.emit('invoice.payment_failed', invoice);
    }
  });
  ctx.on('payment_intent.requires_action', (event) => {
    const invoice = invoiceOfIntent(ctx, (event.data.object as Stripe.PaymentIntent).id);
    if (invoice && isPayable(invoice)) ctx.emit('invoice.payment_action_required', invoice);
  });
}
