import { formatAmount } from '../billing/money';

/**
 * What a receiver gets: the outbox row's change rendered as the GraphQL API shows the object (enum names
 * in capitals, Money as { amount, amountMinor, currency }, times as ISO strings), with the user's ids.
 */

export interface EventRow {
  seq: string;
  id: string;
  type: string;
  userId: string;
  externalId: string | null;
  data: { object: Record<string, unknown>; previous?: Record<string, unknown> | null };
  createdAt: Date;
}

export interface EventPayload {
  id: string;
  type: string;
  /** Unix seconds, as Stripe's events carry it. */
  created: number;
  user: { id: string; externalId: string | null };
  data: { object: Record<string, unknown>; previousAttributes?: Record<string, unknown> };
}

const money = (minor: unknown, currency: unknown) => ({
  amount: formatAmount(Number(minor), String(currency)),
  amountMinor: Number(minor),
  currency: String(currency),
});
const enumName = (value: unknown) => (typeof value === 'string' ? value.toUpperCase() : value);

function subscription(o: Record<string, unknown>): Record<string, unknown> {
  const { planId, pricingId, status, ...rest } = o;
  return { ...rest, status: enumName(status), plan: { id: planId }, pricing: { id: pricingId } };
}

function payment(o: Record<string, unknown>): Record<string, unknown> {
  const { amountMinor, capturedAmountMinor, refundedAmountMinor, currency, status, captureMethod, ...rest } = o;
  return {
    ...rest,
    status: enumName(status),
    captureMethod: enumName(captureMethod),
    amount: money(amountMinor, currency),
    capturedAmount: money(capturedAmountMinor, currency),
    refundedAmount: money(refundedAmountMinor, currency),
  };
}

/** A usage event's counter, as MetricUsage shows it (the period in capitals, resetsAt an ISO time). */
function usage(o: Record<string, unknown>): Record<string, unknown> {
  const { resetsAt, period, ...rest } = o;
  return { ...rest, period: enumName(period), resetsAt: resetsAt ? new Date(resetsAt as string).toISOString() : null };
}

function renderObject(type: string, o: Record<string, unknown>): Record<string, unknown> {
  if (type.startsWith('subscription.')) return subscription(o);
  if (type.startsWith('payment.')) return payment(o);
  if (type.startsWith('user.')) return { ...o, role: enumName(o.role) };
  if (type.startsWith('usage.')) return usage(o);
  return o;
}

/** The JSON object a receiver gets for one event. */
export function renderEvent(e: EventRow): EventPayload {
  const previous = e.data.previous;
  const previousAttributes = previous
    ? Object.fromEntries(Object.entries(previous).map(([k, v]) => [k, k === 'status' ? enumName(v) : v]))
    : undefined;
  return {
    id: e.id,
    type: e.type,
    created: Math.floor(new Date(e.createdAt).getTime() / 1000),
    user: { id: e.userId, externalId: e.externalId },
    data: { object: renderObject(e.type, e.data.object), ...(previousAttributes ? { previousAttributes } : {}) },
  };
}
