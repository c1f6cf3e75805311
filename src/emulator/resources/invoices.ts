import type Stripe from 'stripe';
import { clone, diff, type EmulatorContext } from '../core/context';
import { ApiError, invalidRequest } from '../core/errors';
import { filterCreated, paginate } from '../core/list';
import type { ApiRequest, Router } from '../core/router';
import {
  confirmationSecret,
  finalizeInvoice,
  intentOfInvoice,
  markUncollectible,
  payInvoice,
  paymentsList,
  registerInvoicePaymentListeners,
  subscriptionIdOf,
  voidInvoice,
} from '../billing/invoices';
import { idOf } from '../billing/util';
import { previewPriceChange } from '../billing/proration';
import { priceChange } from './subscriptions';

const STATUSES = ['draft', 'open', 'paid', 'uncollectible', 'void'] as const;

export function register(router: Router, ctx: EmulatorContext): void {
  ctx.registerType({ object: 'invoice', prefix: 'in', name: 'invoice' });
  ctx.registerType({ object: 'invoice_payment', prefix: 'inpay', name: 'invoice_payment' });
  registerInvoicePaymentListeners(ctx);

  // Includable fields of the current API: present only when expanded.
  ctx.registerExpandable('invoice', 'payments', (owner) => paymentsList(ctx, owner['id'] as string));
  ctx.registerExpandable('invoice', 'confirmation_secret', (owner) => {
    const invoice = ctx.store.find<Stripe.Invoice>('invoice', owner['id'] as string);
    return invoice ? confirmationSecret(ctx, invoice) : null;
  });

  router.post('/v1/invoices/create_preview', (req) => preview(req));
  router.get('/v1/invoices/:id', (req) => ctx.retrieve<Stripe.Invoice>('invoice', req.pathParams['id']));
  router.post('/v1/invoices/:id', (req) => {
    const invoice = ctx.retrieve<Stripe.Invoice>('invoice', req.pathParams['id']);
    const p = req.params;
    const before = clone(invoice);
    if (p.has('metadata')) invoice.metadata = p.metadata(invoice.metadata ?? {}) ?? {};
    if (p.has('description')) invoice.description = p.nullableStr('description') ?? null;
    if (p.has('footer')) invoice.footer = p.nullableStr('footer') ?? null;
    const previous = diff(before, invoice);
    if (previous) ctx.emit('invoice.updated', invoice, previous);
    return invoice;
  });
  router.get('/v1/invoices', (req) => {
    const p = req.params;
    let items = ctx.store.newest<Stripe.Invoice>('invoice');
    const customer = p.str('customer');
    if (customer !== undefined) items = items.filter((i) => idOf(i.customer) === customer);
    const subscription = p.str('subscription');
    if (subscription !== undefined) items = items.filter((i) => subscriptionIdOf(i) === subscription);
    const status = p.enum('status', STATUSES);
    if (status !== undefined) items = items.filter((i) => i.status === status);
    const collection = p.enum('collection_method', ['charge_automatically', 'send_invoice']);
    if (collection !== undefined) items = items.filter((i) => i.collection_method === collection);
    return paginate(req, filterCreated(p, items));
  });
  router.get('/v1/invoices/:id/lines', (req) => {
    const invoice = ctx.retrieve<Stripe.Invoice>('invoice', req.pathParams['id']);
    return { ...invoice.lines, url: `/v1/invoices/${invoice.id}/lines` };
  });
  router.post('/v1/invoices/:id/finalize', (req) => finalizeInvoice(ctx, ctx.retrieve<Stripe.Invoice>('invoice', req.pathParams['id'])));
  router.post('/v1/invoices/:id/void', (req) => voidInvoice(ctx, ctx.retrieve<Stripe.Invoice>('invoice', req.pathParams['id'])));
  router.post('/v1/invoices/:id/mark_uncollectible', (req) =>
    markUncollectible(ctx, ctx.retrieve<Stripe.Invoice>('invoice', req.pathParams['id'])),
  );
  router.post('/v1/invoices/:id/pay', (req) => pay(req));

  router.get('/v1/invoice_payments/:id', (req) => ctx.retrieve<Stripe.InvoicePayment>('invoice_payment', req.pathParams['id']));
  router.get('/v1/invoice_payments', (req) => {
    const p = req.params;
    let items = ctx.store.newest<Stripe.InvoicePayment>('invoice_payment');
    const invoice = p.str('invoice');
    if (invoice !== undefined) items = items.filter((i) => i.invoice === invoice);
    const payment = p.obj('payment');
    const pi = payment?.str('payment_intent');
    if (pi !== undefined) items = items.filter((i) => i.payment.payment_intent === pi);
    const status = p.enum('status', ['canceled', 'open', 'paid']);
    if (status !== undefined) items = items.filter((i) => i.status === status);
    return paginate(req, filterCreated(p, items));
  });
}

/**
 * `POST /v1/invoices/:id/pay`: one attempt with `payment_method`, or the subscription's or customer's
 * default. A decline answers the 402 card error; a payment waiting for 3-D Secure answers
 * `invoice_payment_intent_requires_action` (the intent's client secret is in `confirmation_secret`).
 */
function pay(req: ApiRequest): Stripe.Invoice {
  const { ctx, params: p } = req;
  const invoice = ctx.retrieve<Stripe.Invoice>('invoice', req.pathParams['id']);
  const result = payInvoice(ctx, invoice, {
    payment_method: p.str('payment_method') ?? null,
    off_session: p.bool('off_session') ?? true,
    origin: req.origin,
  });
  if (result.error) throw result.error;
  const pi = intentOfInvoice(ctx, invoice);
  if (pi?.status === 'requires_action') {
    throw new ApiError(402, {
      type: 'card_error',
      code: 'invoice_payment_intent_requires_action',
      message:
        'This payment requires additional user action before it can be completed successfully. Payment can be completed using the PaymentIntent associated with the invoice. For more details see: https://stripe.com/docs/billing/subscriptions/overview#requires-action',
      payment_intent: clone(pi),
    });
  }
  return invoice;
}

/**
 * `POST /v1/invoices/create_preview` for a change of an existing subscription: `subscription` with
 * `subscription_details[items]`, `[proration_behavior]`, `[proration_date]`. Nothing is stored.
 */
function preview(req: ApiRequest): Stripe.Invoice {
  const { ctx, params: p } = req;
  const subId = p.str('subscription');
  if (!subId)
    throw invalidRequest('The Stripe emulator previews changes of an existing subscription only (subscription).', {
      param: 'subscription',
    });
  const sub = ctx.retrieve<Stripe.Subscription>('subscription', subId, 'subscription');
  const customer = p.str('customer');
  if (customer !== undefined && customer !== idOf(sub.customer))
    throw invalidRequest(`The subscription ${sub.id} does not belong to customer ${customer}.`, { param: 'customer' });
  const details = p.obj('subscription_details');
  const change = details ? priceChange({ ...req, params: details }, sub) : null;
  if (!change)
    throw invalidRequest('The Stripe emulator previews item changes only (subscription_details[items]).', {
      param: 'subscription_details[items]',
    });
  return previewPriceChange(ctx, sub, change);
}
