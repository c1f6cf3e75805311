import type Stripe from 'stripe';
import { stripeId } from '../../ids';
import { callStripe } from '../../stripe/errors';
import type { BillingDeps } from '../deps';

/** The PaymentIntent of a subscription's latest invoice (current API: invoice.payments[].payment.payment_intent). */
export async function firstPaymentIntent(deps: BillingDeps, s: Stripe.Subscription): Promise<Stripe.PaymentIntent | null> {
  const invoiceId = stripeId(s.latest_invoice);
  if (!invoiceId) return null;
  const invoice = await callStripe(() => deps.stripe.invoices.retrieve(invoiceId, { expand: ['payments'] }), deps);
  const payment = invoice.payments?.data.find((p) => p.payment.type === 'payment_intent');
  const intentId = stripeId(payment?.payment.payment_intent);
  return intentId ? callStripe(() => deps.stripe.paymentIntents.retrieve(intentId), deps) : null;
}
