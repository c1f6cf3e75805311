import type Stripe from 'stripe';
import type { EmulatorContext } from '../core/context';
import { expireSession, sessionMeta } from './checkout';
import { expirePendingUpdate, pendingUpdateDue } from './proration';
import { advanceSchedule, SCHEDULE_OBJECT, scheduleDue } from './schedules';
import { runSubscriptionDue, subscriptionDue } from './subscriptions';
import { idOf } from './util';

/**
 * What happens by itself as time passes: renewals, ends of canceled subscriptions, expiry of `incomplete`
 * subscriptions and of open Checkout Sessions. Objects live either on a test clock (their customer's) or on
 * real time. A test clock's objects move only when the clock is advanced; real-time objects are swept every
 * `REAL_TIME_SWEEP_MS`.
 */

export const REAL_TIME_SWEEP_MS = 1000;
const MAX_STEPS = 100_000;

interface DueTask {
  at: number;
  /** identifies the task, so one that fails is not retried in the same walk */
  key: string;
  run: () => void;
}

/** The tasks due at or before `until` for the objects of `clock` (null: objects on real time). */
function dueTasks(ctx: EmulatorContext, clock: string | null, until: number): DueTask[] {
  const tasks: DueTask[] = [];
  // first, so that a phase ending with the period puts its prices on the subscription before the renewal bills them
  for (const schedule of ctx.store.all<Stripe.SubscriptionSchedule>(SCHEDULE_OBJECT)) {
    const at = (idOf(schedule.test_clock) ?? null) === clock ? scheduleDue(schedule) : null;
    if (at !== null && at <= until) tasks.push({ at, key: `${schedule.id}:phase:${at}`, run: () => advanceSchedule(ctx, schedule) });
  }
  for (const sub of ctx.store.all<Stripe.Subscription>('subscription')) {
    if ((idOf(sub.test_clock) ?? null) !== clock) continue;
    const expires = pendingUpdateDue(ctx, sub);
    if (expires !== null && expires <= until)
      tasks.push({ at: expires, key: `${sub.id}:pending:${expires}`, run: () => expirePendingUpdate(ctx, sub) });
    const due = subscriptionDue(sub);
    if (due && due.at <= until)
      tasks.push({ at: due.at, key: `${sub.id}:${due.kind}:${due.at}`, run: () => runSubscriptionDue(ctx, sub, due.kind, due.at) });
  }
  for (const session of ctx.store.all<Stripe.Checkout.Session>('checkout.session')) {
    if (session.status !== 'open' || (sessionMeta(ctx, session).clock ?? null) !== clock) continue;
    if (session.expires_at <= until)
      tasks.push({ at: session.expires_at, key: `${session.id}:expire`, run: () => expireSession(ctx, session) });
  }
  return tasks;
}

/**
 * Runs everything due up to `until`, earliest first. On a test clock, the clock's `frozen_time` is moved to
 * each task's time before it runs, so the objects it creates (invoices, payments, events) carry that time.
 * Returns the number of tasks run.
 */
export function runDue(ctx: EmulatorContext, clock: Stripe.TestHelpers.TestClock | null, until: number): number {
  let steps = 0;
  const failed = new Set<string>();
  for (; steps < MAX_STEPS; steps++) {
    const tasks = dueTasks(ctx, clock?.id ?? null, until).filter((t) => !failed.has(t.key));
    if (tasks.length === 0) break;
    let next = tasks[0] as DueTask;
    for (const t of tasks) if (t.at < next.at) next = t;
    if (clock && next.at > clock.frozen_time) clock.frozen_time = next.at;
    try {
      next.run();
    } catch (err) {
      failed.add(next.key);
      ctx.log('billing task failed', { task: next.key, error: (err as Error).stack ?? String(err) });
    }
  }
  if (steps >= MAX_STEPS) ctx.log('test clock: too many billing events in one advance; stopped', { clock: clock?.id ?? null, until });
  return steps;
}

/** Keeps real-time objects moving: a sweep every `REAL_TIME_SWEEP_MS` until the emulator stops. */
export function startRealTimeSweep(ctx: EmulatorContext, everyMs = REAL_TIME_SWEEP_MS): void {
  const tick = () => {
    const ran = runDue(ctx, null, Math.floor(Date.now() / 1000));
    if (ran > 0) ctx.store.changed();
    ctx.schedule(everyMs, tick);
  };
  ctx.schedule(everyMs, tick);
}
