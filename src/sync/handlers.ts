import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import type { BillingDeps } from '../billing/deps';
import { onInvoiceObject, onInvoicePayment } from './invoiceEvents';
import { onPaymentCheckout, onPaymentObject } from './paymentEvents';
import { onSchedule, onSubscription, onSubscriptionCheckout } from './subscriptionEvents';

/**
 * What a Stripe event means to Tollgate. An event is only a signal: every handler re-fetches the object
 * from Stripe and writes Stripe's current state, so duplicates, late and out-of-order events cannot move
 * a row backwards. A handler returns a short description of what it did.
 */
export type EventHandler = (em: EntityManager, deps: BillingDeps, event: Stripe.Event) => Promise<string>;

/** A Checkout Session goes to the service that opened it, by its mode. */
const onCheckout: EventHandler = (em, deps, event) => {
  const session = event.data.object as Stripe.Checkout.Session;
  if (session.mode === 'subscription') return onSubscriptionCheckout(em, deps, event);
  if (session.mode === 'payment') return onPaymentCheckout(em, deps, event);
  return Promise.resolve(`checkout ${session.id} (${session.mode}) is not handled`);
};

/** Every event type Tollgate handles, and the only list of them: the webhook endpoint subscribes to exactly these. */
export const HANDLERS = {
  'customer.subscription.created': onSubscription,
  'customer.subscription.updated': onSubscription,
  'customer.subscription.deleted': onSubscription,
  'subscription_schedule.updated': onSchedule,
  'subscription_schedule.released': onSchedule,
  'subscription_schedule.completed': onSchedule,
  'subscription_schedule.canceled': onSchedule,
  'invoice.created': onInvoiceObject,
  'invoice.finalized': onInvoiceObject,
  'invoice.updated': onInvoiceObject,
  'invoice.paid': onInvoicePayment,
  'invoice.payment_failed': onInvoicePayment,
  'invoice.voided': onInvoiceObject,
  'invoice.marked_uncollectible': onInvoiceObject,
  'checkout.session.completed': onCheckout,
  'checkout.session.expired': onCheckout,
  'payment_intent.succeeded': onPaymentObject,
  'payment_intent.payment_failed': onPaymentObject,
  'payment_intent.canceled': onPaymentObject,
  'payment_intent.amount_capturable_updated': onPaymentObject,
  'payment_intent.requires_action': onPaymentObject,
  'charge.refunded': onPaymentObject,
  'refund.created': onPaymentObject,
  'charge.dispute.created': onPaymentObject,
} satisfies Partial<Record<Stripe.Event.Type, EventHandler>>;

export type HandledEventType = keyof typeof HANDLERS;

/** The events Tollgate's webhook endpoint subscribes to. */
export const WEBHOOK_EVENTS = Object.keys(HANDLERS) as HandledEventType[];

export function handlerFor(type: string): EventHandler | undefined {
  return Object.hasOwn(HANDLERS, type) ? HANDLERS[type as HandledEventType] : undefined;
}

export function handledTypes(): string[] {
  return [...WEBHOOK_EVENTS].sort();
}
