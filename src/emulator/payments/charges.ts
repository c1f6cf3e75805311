import type Stripe from 'stripe';
import type { EmulatorContext } from '../core/context';
import { invalidRequest } from '../core/errors';
import { formatAmount } from '../core/currency';
import type { CardBehaviour, Decline } from './cards';

/** Hidden state of a refund (store meta). */
export interface RefundMeta {
  /** the uncaptured remainder released by a partial capture or a cancel, not a refund someone asked for */
  release?: boolean;
}

/**
 * Builds and stores the Charge of one payment attempt on a PaymentIntent. A failed attempt gives a
 * `failed` charge carrying the decline; a successful one is `succeeded`, captured unless `capture` is false.
 */
export function createCharge(
  ctx: EmulatorContext,
  pi: Stripe.PaymentIntent,
  pm: Stripe.PaymentMethod,
  card: CardBehaviour,
  outcome: { decline: Decline | null; capture: boolean; authenticated: boolean },
): Stripe.Charge {
  const failed = outcome.decline !== null;
  const customer = typeof pi.customer === 'string' ? pi.customer : (pi.customer?.id ?? null);
  const pmCard = pm.card;
  const charge: Stripe.Charge = {
    id: ctx.newId('ch'),
    object: 'charge',
    amount: pi.amount,
    amount_captured: !failed && outcome.capture ? pi.amount : 0,
    amount_refunded: 0,
    application: null,
    application_fee: null,
    application_fee_amount: null,
    balance_transaction: null,
    billing_details: pm.billing_details,
    calculated_statement_descriptor: pi.statement_descriptor ?? 'STRIPE EMULATOR',
    captured: !failed && outcome.capture,
    created: ctx.now(customer),
    currency: pi.currency,
    customer,
    description: pi.description,
    disputed: false,
    failure_balance_transaction: null,
    failure_code: outcome.decline?.code ?? null,
    failure_message: outcome.decline?.message ?? null,
    fraud_details: {},
    livemode: false,
    metadata: { ...pi.metadata },
    on_behalf_of: null,
    outcome: chargeOutcome(outcome.decline, card),
    paid: !failed,
    payment_intent: pi.id,
    payment_method: pm.id,
    payment_method_details: {
      type: 'card',
      card: {
        amount_authorized: failed ? null : pi.amount,
        authorization_code: failed ? null : String(100000 + Math.floor(Math.random() * 900000)),
        brand: pmCard?.brand ?? card.brand,
        checks: pmCard?.checks ?? null,
        country: pmCard?.country ?? card.country,
        electronic_commerce_indicator: outcome.authenticated ? '05' : null,
        exp_month: pmCard?.exp_month ?? 12,
        exp_year: pmCard?.exp_year ?? new Date().getUTCFullYear() + 5,
        extended_authorization: { status: 'disabled' },
        fingerprint: pmCard?.fingerprint ?? null,
        funding: pmCard?.funding ?? card.funding,
        incremental_authorization: { status: 'unavailable' },
        installments: null,
        last4: pmCard?.last4 ?? card.last4,
        mandate: null,
        multicapture: { status: 'unavailable' },
        network: pmCard?.brand ?? card.brand,
        network_token: { used: false },
        network_transaction_id: failed ? null : String(Math.floor(Math.random() * 1e15)),
        overcapture: { maximum_amount_capturable: pi.amount, status: 'unavailable' },
        regulated_status: 'unregulated',
        three_d_secure: outcome.authenticated
          ? {
              authentication_flow: 'challenge',
              electronic_commerce_indicator: '05',
              exemption_indicator: null,
              result: 'authenticated',
              result_reason: null,
              transaction_id: cryptoUuid(),
              version: '2.2.0',
            }
          : null,
        transaction_link_id: null,
        wallet: null,
      },
    },
    receipt_email: pi.receipt_email,
    receipt_number: null,
    receipt_url: null,
    refunded: false,
    review: null,
    shipping: pi.shipping,
    source: null,
    source_transfer: null,
    statement_descriptor: pi.statement_descriptor,
    statement_descriptor_suffix: pi.statement_descriptor_suffix,
    status: failed ? 'failed' : 'succeeded',
    transfer_data: null,
    transfer_group: null,
  };
  return ctx.store.insert(charge);
}

function cryptoUuid(): string {
  return globalThis.crypto.randomUUID();
}

function chargeOutcome(decline: Decline | null, card: CardBehaviour): Stripe.Charge.Outcome {
  if (!decline) {
    return {
      advice_code: null,
      network_advice_code: null,
      network_decline_code: null,
      network_status: 'approved_by_network',
      reason: null,
      risk_level: 'normal',
      risk_score: 32,
      seller_message: 'Payment complete.',
      type: 'authorized',
    };
  }
  if (card.blocked) {
    return {
      advice_code: 'do_not_try_again',
      network_advice_code: null,
      network_decline_code: null,
      network_status: 'not_sent_to_network',
      reason: 'highest_risk_level',
      risk_level: 'highest',
      risk_score: 95,
      seller_message: 'Stripe blocked this payment as too risky.',
      type: 'blocked',
    };
  }
  return {
    advice_code:
      decline.decline_code === 'insufficient_funds' || decline.decline_code === 'processing_error' ? 'try_again_later' : 'do_not_try_again',
    network_advice_code: null,
    network_decline_code: null,
    network_status: 'declined_by_network',
    reason: decline.decline_code,
    risk_level: 'normal',
    risk_score: 20,
    seller_message:
      decline.decline_code === 'generic_decline'
        ? 'The bank did not return any further details with this decline.'
        : `The bank returned the decline code \`${decline.decline_code}\`.`,
    type: 'issuer_declined',
  };
}

function customerIdOf(charge: Stripe.Charge): string | null {
  return typeof charge.customer === 'string' ? charge.customer : (charge.customer?.id ?? null);
}

function buildRefund(
  ctx: EmulatorContext,
  charge: Stripe.Charge,
  amount: number,
  opts: { reason?: Stripe.Refund.Reason | null; metadata?: Record<string, string>; instructions_email?: string },
): Stripe.Refund {
  return {
    id: ctx.newId('re'),
    object: 'refund',
    amount,
    balance_transaction: null,
    charge: charge.id,
    created: ctx.now(customerIdOf(charge)),
    currency: charge.currency,
    customer: customerIdOf(charge),
    customer_account: null,
    destination_details: {
      type: 'card',
      card: { reference_status: 'pending', reference_type: 'acquirer_reference_number', type: 'refund' },
    },
    ...(opts.instructions_email ? { instructions_email: opts.instructions_email } : {}),
    metadata: opts.metadata ?? {},
    payment_intent: typeof charge.payment_intent === 'string' ? charge.payment_intent : (charge.payment_intent?.id ?? null),
    payment_method: charge.payment_method,
    reason: opts.reason ?? null,
    receipt_number: null,
    source_transfer_reversal: null,
    status: 'succeeded',
    transfer_reversal: null,
  };
}

/**
 * Releases the uncaptured part of an authorization (partial capture, or cancel of an uncaptured payment):
 * Stripe records it as a refund of the remainder and counts it in `amount_refunded`.
 */
export function releaseUncaptured(ctx: EmulatorContext, charge: Stripe.Charge, amount: number): Stripe.Refund | null {
  if (amount <= 0) return null;
  const refund = ctx.store.insert(buildRefund(ctx, charge, amount, {}));
  ctx.store.meta<RefundMeta>(refund.id).release = true;
  charge.amount_refunded += amount;
  charge.refunded = charge.amount_refunded >= charge.amount;
  return refund;
}

export interface RefundInput {
  charge?: string;
  payment_intent?: string;
  amount?: number;
  reason?: Stripe.Refund.Reason;
  metadata?: Record<string, string>;
  instructions_email?: string;
}

/**
 * Refunds a captured charge, in full or in part (`refund.created`, `charge.refunded`). Refusals as
 * Stripe words them: already fully refunded (`charge_already_refunded`), more than what is left
 * (param `amount`, no code), disputed charges (`charge_disputed`), payments not captured yet.
 */
export function createRefund(ctx: EmulatorContext, input: RefundInput): Stripe.Refund {
  let charge: Stripe.Charge;
  if (input.payment_intent) {
    const pi = ctx.retrieve<Stripe.PaymentIntent>('payment_intent', input.payment_intent, 'payment_intent');
    if (pi.status === 'requires_capture') {
      throw invalidRequest(
        `This PaymentIntent (${pi.id}) has not been captured yet. Cancel it to release the authorization instead of refunding it.`,
        { param: 'payment_intent', code: 'charge_not_refundable' },
      );
    }
    const chargeId = typeof pi.latest_charge === 'string' ? pi.latest_charge : pi.latest_charge?.id;
    if (pi.status !== 'succeeded' || !chargeId) {
      throw invalidRequest(`This PaymentIntent (${pi.id}) does not have a successful charge to refund.`, {
        param: 'payment_intent',
        code: 'charge_not_refundable',
      });
    }
    charge = ctx.retrieve<Stripe.Charge>('charge', chargeId, 'payment_intent');
    if (input.charge && input.charge !== charge.id) {
      throw invalidRequest(`The charge ${input.charge} does not belong to the PaymentIntent ${pi.id}.`, { param: 'charge' });
    }
  } else if (input.charge) {
    charge = ctx.retrieve<Stripe.Charge>('charge', input.charge, 'charge');
    if (charge.status !== 'succeeded')
      throw invalidRequest(`Charge ${charge.id} has not succeeded and cannot be refunded.`, {
        param: 'charge',
        code: 'charge_not_refundable',
      });
    if (!charge.captured) {
      throw invalidRequest(
        `Charge ${charge.id} has not been captured yet. Cancel its PaymentIntent to release the authorization instead of refunding it.`,
        { param: 'charge', code: 'charge_not_refundable' },
      );
    }
  } else {
    throw invalidRequest('One of the following params should be provided for this request: payment_intent or charge.', {
      code: 'parameter_missing',
    });
  }
  if (charge.disputed)
    throw invalidRequest(`Charge ${charge.id} has been charged back; cannot issue a refund.`, { code: 'charge_disputed' });
  const remaining = charge.amount - charge.amount_refunded;
  if (remaining <= 0) throw invalidRequest(`Charge ${charge.id} has already been refunded.`, { code: 'charge_already_refunded' });
  const amount = input.amount ?? remaining;
  if (amount <= 0) throw invalidRequest('Invalid positive integer', { param: 'amount', code: 'parameter_invalid_integer' });
  if (amount > remaining) {
    // Stripe's wording depends on whether anything was refunded (or released) before; the error has no `code`.
    const limit =
      charge.amount_refunded > 0
        ? `unrefunded amount on charge (${formatAmount(remaining, charge.currency)})`
        : `charge amount (${formatAmount(charge.amount, charge.currency)})`;
    throw invalidRequest(`Refund amount (${formatAmount(amount, charge.currency)}) is greater than ${limit}`, { param: 'amount' });
  }
  const refund = ctx.store.insert(buildRefund(ctx, charge, amount, input));
  const previous = { amount_refunded: charge.amount_refunded, refunded: charge.refunded };
  charge.amount_refunded += amount;
  charge.refunded = charge.amount_refunded >= charge.amount;
  ctx.emit('refund.created', refund);
  ctx.emit('charge.refunded', charge, previous);
  return refund;
}

/** Refunds of a charge, newest first (what `charge.refunds` expands to). */
export function refundsOf(ctx: EmulatorContext, chargeId: string): Stripe.Refund[] {
  return ctx.store.newest<Stripe.Refund>('refund').filter((r) => r.charge === chargeId);
}

export interface DisputeInput {
  reason?: string;
  amount?: number;
}

/** Opens a dispute on a succeeded charge (`charge.dispute.created`, then `charge.dispute.funds_withdrawn`). */
export function createDispute(ctx: EmulatorContext, charge: Stripe.Charge, input: DisputeInput = {}): Stripe.Dispute {
  if (charge.status !== 'succeeded' || !charge.captured)
    throw invalidRequest(`Charge ${charge.id} has not been captured, so it cannot be disputed.`, { param: 'charge' });
  if (charge.disputed) throw invalidRequest(`Charge ${charge.id} has already been disputed.`, { param: 'charge', code: 'charge_disputed' });
  const disputable = charge.amount - charge.amount_refunded;
  if (disputable <= 0)
    throw invalidRequest(`Charge ${charge.id} has been fully refunded, so it cannot be disputed.`, {
      param: 'charge',
      code: 'charge_already_refunded',
    });
  const amount = input.amount ?? disputable;
  if (amount <= 0 || amount > disputable) {
    throw invalidRequest(
      `Dispute amount (${formatAmount(amount, charge.currency)}) must be between 1 and the undisputed, unrefunded amount (${formatAmount(disputable, charge.currency)}).`,
      { param: 'amount' },
    );
  }
  const now = ctx.now(customerIdOf(charge));
  const brand = charge.payment_method_details?.card?.brand ?? 'visa';
  const dispute: Stripe.Dispute = {
    id: ctx.newId('dp'),
    object: 'dispute',
    amount,
    balance_transactions: [],
    charge: charge.id,
    created: now,
    currency: charge.currency,
    enhanced_eligibility_types: [],
    evidence: emptyEvidence(),
    evidence_details: {
      due_by: now + 7 * 86400,
      enhanced_eligibility: {},
      has_evidence: false,
      past_due: false,
      submission_count: 0,
      submission_method: 'not_submitted',
    },
    intended_submission_method: null,
    is_charge_refundable: false,
    livemode: false,
    metadata: {},
    payment_intent: typeof charge.payment_intent === 'string' ? charge.payment_intent : (charge.payment_intent?.id ?? null),
    payment_method_details: { type: 'card', card: { brand, case_type: 'chargeback', network: brand, network_reason_code: '10.4' } },
    reason: input.reason ?? 'fraudulent',
    status: 'needs_response',
  };
  ctx.store.insert(dispute);
  charge.disputed = true;
  ctx.emit('charge.dispute.created', dispute);
  ctx.emit('charge.dispute.funds_withdrawn', dispute);
  return dispute;
}

/** Accepts (loses) a dispute: status `lost`, `charge.dispute.closed`. */
export function closeDispute(ctx: EmulatorContext, dispute: Stripe.Dispute): Stripe.Dispute {
  if (dispute.status === 'lost' || dispute.status === 'won' || dispute.status === 'warning_closed') {
    throw invalidRequest(`This dispute is already closed (status ${dispute.status}).`, { code: 'status_transition_invalid' });
  }
  const previous = { status: dispute.status };
  dispute.status = 'lost';
  dispute.is_charge_refundable = false;
  ctx.emit('charge.dispute.closed', dispute, previous);
  return dispute;
}

function emptyEvidence(): Stripe.Dispute.Evidence {
  return {
    access_activity_log: null,
    billing_address: null,
    cancellation_policy: null,
    cancellation_policy_disclosure: null,
    cancellation_rebuttal: null,
    customer_communication: null,
    customer_email_address: null,
    customer_name: null,
    customer_purchase_ip: null,
    customer_signature: null,
    duplicate_charge_documentation: null,
    duplicate_charge_explanation: null,
    duplicate_charge_id: null,
    enhanced_evidence: {},
    product_description: null,
    receipt: null,
    refund_policy: null,
    refund_policy_disclosure: null,
    refund_refusal_explanation: null,
    service_date: null,
    service_documentation: null,
    shipping_address: null,
    shipping_carrier: null,
    shipping_date: null,
    shipping_documentation: null,
    shipping_tracking_number: null,
    uncategorized_file: null,
    uncategorized_text: null,
  };
}
