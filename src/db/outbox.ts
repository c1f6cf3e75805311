import { randomBytes } from 'node:crypto';
import { ChangeSetType, type ChangeSet, type EventSubscriber, type FlushEventArgs } from '@mikro-orm/core';
import { OutboxEvent, Payment, PaymentStatus, Subscription, SubscriptionStatus, User } from '../entities';
import { paymentView, subscriptionView, userView } from '../entities/views';

/**
 * The transactional outbox (DESIGN.md, "Events to the product"). Events are rows written in the flush
 * that writes the change they report, so a change that rolls back reports nothing. This sits in the bottom
 * layer because the changes happen in auth/ and billing/, which may not import events/ (the delivery);
 * rows hold the change in our own terms and src/events/payloads.ts renders them for receivers.
 */

/** What the outbox trigger notifies when an event commits: { seq, type, userId } (LISTEN in events/live.ts). */
export const EVENTS_CHANNEL = 'tollgate_events';
/** What every consume notifies, with the user's id, so live subscribers see any use, not only events. */
export const USAGE_CHANNEL = 'tollgate_usage';

/** `evt_` and 24 hex characters. */
export const newEventId = (): string => `evt_${randomBytes(12).toString('hex')}`;

/** What a subscription event records; `previous` has the fields of an update as they were. */
const SUBSCRIPTION_FIELDS = [
  'status',
  'plan',
  'pricing',
  'cancelAtPeriodEnd',
  'currentPeriodStart',
  'currentPeriodEnd',
  'canceledAt',
  'endedAt',
] as const;
/** Changes worth a `subscription.updated` (period dates alone are a renewal or nothing). */
const UPDATE_FIELDS = new Set(['status', 'plan', 'pricing', 'cancelAtPeriodEnd']);
const ENDED = new Set<string>([SubscriptionStatus.CANCELED, SubscriptionStatus.INCOMPLETE_EXPIRED]);
const LIVE = new Set<string>([SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING]);
const PAID = new Set<string>([PaymentStatus.CONFIRMED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED, PaymentStatus.DISPUTED]);
const FAILED = new Set<string>([PaymentStatus.REJECTED, PaymentStatus.ERROR]);

type Snapshot = Record<string, unknown>;
const idOf = (value: unknown) => (value && typeof value === 'object' && 'id' in value ? (value as { id: unknown }).id : value);
const time = (value: unknown) => (value === null || value === undefined ? null : new Date(value as string | Date).getTime());

/** The subscription's event for one change set, if the change is one the product hears about. */
function subscriptionEvent(cs: ChangeSet<Subscription>): { type: string; previous?: Snapshot } | null {
  const s = cs.entity;
  if (cs.type === ChangeSetType.CREATE) return { type: 'subscription.created' };
  if (cs.type !== ChangeSetType.UPDATE) return null;
  const before = cs.originalEntity ?? {};
  const changed = SUBSCRIPTION_FIELDS.filter((f) => f in cs.payload);
  if (changed.length === 0) return null;
  const previous = Object.fromEntries(changed.map((f) => [f === 'plan' || f === 'pricing' ? `${f}Id` : f, idOf(before[f]) ?? null]));
  if (changed.includes('status') && ENDED.has(s.status) && !ENDED.has(String(before.status)))
    return { type: 'subscription.ended', previous };
  const renewed =
    changed.includes('currentPeriodStart') &&
    time(before.currentPeriodStart) !== null &&
    (time(s.currentPeriodStart) ?? 0) > time(before.currentPeriodStart)! &&
    LIVE.has(s.status) &&
    !changed.includes('plan');
  if (renewed) return { type: 'subscription.renewed', previous };
  return changed.some((f) => UPDATE_FIELDS.has(f)) ? { type: 'subscription.updated', previous } : null;
}

/** A trial end the product is now told is coming (sync sets trialEndNoticeFor when Stripe announces it). */
function trialWillEnd(cs: ChangeSet<Subscription>): boolean {
  return cs.type === ChangeSetType.UPDATE && 'trialEndNoticeFor' in cs.payload && !!cs.entity.trialEndNoticeFor;
}

/** The payment's events for one change set: it succeeded, failed, was refunded (more) or disputed. */
function paymentEvents(cs: ChangeSet<Payment>): string[] {
  if (cs.type !== ChangeSetType.CREATE && cs.type !== ChangeSetType.UPDATE) return [];
  const p = cs.entity;
  const before = cs.type === ChangeSetType.CREATE ? {} : (cs.originalEntity ?? {});
  const statusChanged = cs.type === ChangeSetType.CREATE || 'status' in cs.payload;
  const types: string[] = [];
  if (statusChanged && PAID.has(p.status) && !PAID.has(String(before.status))) types.push('payment.succeeded');
  if (statusChanged && FAILED.has(p.status) && !FAILED.has(String(before.status))) types.push('payment.failed');
  if (p.refundedAmountMinor > Number(before.refundedAmountMinor ?? 0)) types.push('payment.refunded');
  if (statusChanged && p.status === PaymentStatus.DISPUTED && before.status !== PaymentStatus.DISPUTED) types.push('payment.disputed');
  return types;
}

/** Turns the flush's changes to users, subscriptions and payments into outbox rows of the same flush. */
export class OutboxSubscriber implements EventSubscriber {
  onFlush({ uow }: FlushEventArgs): void {
    const add = (type: string, userId: string, data: Snapshot) => {
      const event = Object.assign(new OutboxEvent(), { id: newEventId(), type, userId, data });
      uow.computeChangeSet(event);
    };
    for (const cs of uow.getChangeSets()) {
      if (cs.entity instanceof Subscription) {
        const found = subscriptionEvent(cs as ChangeSet<Subscription>);
        if (found) add(found.type, cs.entity.user.id, { object: subscriptionView(cs.entity), previous: found.previous ?? null });
        if (trialWillEnd(cs as ChangeSet<Subscription>))
          add('subscription.trial_will_end', cs.entity.user.id, { object: subscriptionView(cs.entity), previous: null });
      } else if (cs.entity instanceof Payment) {
        for (const type of paymentEvents(cs as ChangeSet<Payment>)) add(type, cs.entity.user.id, { object: paymentView(cs.entity) });
      } else if (cs.entity instanceof User && cs.type === ChangeSetType.CREATE) {
        add('user.created', cs.entity.id, { object: userView(cs.entity) });
      }
    }
  }
}

/**
 * For hand-written statements: a CTE part that writes a `user.created` event for every row of `source`
 * (a CTE with the user columns of USER_COLUMNS and a `created` flag) that was created. `$idParam` is the
 * event id (newEventId()).
 */
export function userCreatedEventCte(source: string, idParam: string): string {
  return `insert into outbox_event (id, type, user_id, data, created_at)
          select ${idParam}, 'user.created', u.id,
                 jsonb_build_object('object', jsonb_build_object('id', u.id, 'externalId', u."externalId", 'email', u.email,
                   'name', u.name, 'timezone', u.timezone, 'role', u.role)),
                 now()
            from ${source} u where u.created`;
}
