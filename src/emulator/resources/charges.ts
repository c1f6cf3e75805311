import type Stripe from 'stripe';
import { clone, diff, type EmulatorContext } from '../core/context';
import { filterCreated, paginate } from '../core/list';
import type { Router } from '../core/router';
import { closeDispute, createDispute, createRefund, refundsOf } from '../payments/charges';

const REFUND_REASONS = ['duplicate', 'fraudulent', 'requested_by_customer'] as const;

export function register(router: Router, ctx: EmulatorContext): void {
  ctx.registerType({ object: 'charge', prefix: 'ch', name: 'charge' });
  ctx.registerType({ object: 'refund', prefix: 're', name: 'refund' });
  ctx.registerType({ object: 'dispute', prefix: 'dp', name: 'dispute' });

  // `refunds` is not part of a charge unless expanded (current API versions).
  ctx.registerExpandable('charge', 'refunds', (owner) => {
    const data = refundsOf(ctx, owner['id'] as string);
    return { object: 'list', data, has_more: false, url: `/v1/charges/${owner['id'] as string}/refunds` };
  });

  // ---------------------------------------------------------------- charges
  router.get('/v1/charges/:id', (req) => ctx.retrieve<Stripe.Charge>('charge', req.pathParams['id']));
  router.post('/v1/charges/:id', (req) => {
    const charge = ctx.retrieve<Stripe.Charge>('charge', req.pathParams['id']);
    const p = req.params;
    const before = clone(charge);
    if (p.has('description')) charge.description = p.nullableStr('description') ?? null;
    if (p.has('receipt_email')) charge.receipt_email = p.nullableStr('receipt_email') ?? null;
    charge.metadata = p.metadata(charge.metadata) ?? {};
    const previous = diff(before, charge);
    if (previous) ctx.emit('charge.updated', charge, previous);
    return charge;
  });
  router.get('/v1/charges', (req) => {
    const p = req.params;
    let items = ctx.store.newest<Stripe.Charge>('charge');
    const pi = p.str('payment_intent');
    if (pi !== undefined) items = items.filter((c) => c.payment_intent === pi);
    const customer = p.str('customer');
    if (customer !== undefined) items = items.filter((c) => c.customer === customer);
    return paginate(req, filterCreated(p, items));
  });
  router.get('/v1/charges/:id/refunds', (req) => {
    const charge = ctx.retrieve<Stripe.Charge>('charge', req.pathParams['id']);
    return paginate(req, refundsOf(ctx, charge.id));
  });

  // ---------------------------------------------------------------- refunds
  router.post('/v1/refunds', (req) => {
    const p = req.params;
    return createRefund(ctx, {
      charge: p.str('charge'),
      payment_intent: p.str('payment_intent'),
      amount: p.int('amount'),
      reason: p.enum('reason', REFUND_REASONS),
      metadata: p.metadata(),
      instructions_email: p.str('instructions_email'),
    });
  });
  router.get('/v1/refunds/:id', (req) => ctx.retrieve<Stripe.Refund>('refund', req.pathParams['id']));
  router.post('/v1/refunds/:id', (req) => {
    const refund = ctx.retrieve<Stripe.Refund>('refund', req.pathParams['id']);
    const before = clone(refund);
    refund.metadata = req.params.metadata(refund.metadata ?? {}) ?? {};
    const previous = diff(before, refund);
    if (previous) ctx.emit('refund.updated', refund, previous);
    return refund;
  });
  router.get('/v1/refunds', (req) => {
    const p = req.params;
    let items = ctx.store.newest<Stripe.Refund>('refund');
    const charge = p.str('charge');
    if (charge !== undefined) items = items.filter((r) => r.charge === charge);
    const pi = p.str('payment_intent');
    if (pi !== undefined) items = items.filter((r) => r.payment_intent === pi);
    return paginate(req, filterCreated(p, items));
  });

  // ---------------------------------------------------------------- disputes
  router.get('/v1/disputes/:id', (req) => ctx.retrieve<Stripe.Dispute>('dispute', req.pathParams['id']));
  router.post('/v1/disputes/:id', (req) => {
    const dispute = ctx.retrieve<Stripe.Dispute>('dispute', req.pathParams['id']);
    const before = clone(dispute);
    dispute.metadata = req.params.metadata(dispute.metadata) ?? {};
    const previous = diff(before, dispute);
    if (previous) ctx.emit('charge.dispute.updated', dispute, previous);
    return dispute;
  });
  router.post('/v1/disputes/:id/close', (req) => closeDispute(ctx, ctx.retrieve<Stripe.Dispute>('dispute', req.pathParams['id'])));
  router.get('/v1/disputes', (req) => {
    const p = req.params;
    let items = ctx.store.newest<Stripe.Dispute>('dispute');
    const charge = p.str('charge');
    if (charge !== undefined) items = items.filter((d) => d.charge === charge);
    const pi = p.str('payment_intent');
    if (pi !== undefined) items = items.filter((d) => d.payment_intent === pi);
    return paginate(req, filterCreated(p, items));
  });

  // Test helper: the cardholder disputes a charge.
  router.post(
    '/v1/test_helpers/charges/:id/dispute',
    (req) => {
      const charge = ctx.retrieve<Stripe.Charge>('charge', req.pathParams['id']);
      const p = req.params;
      return createDispute(ctx, charge, { reason: p.str('reason'), amount: p.int('amount') });
    },
    { customerAction: true },
  );
}
