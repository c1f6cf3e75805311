import type Stripe from 'stripe';
import type { EmulatorContext } from '../core/context';
import { invalidRequest, missingParam } from '../core/errors';
import { filterCreated, paginate } from '../core/list';
import type { Params } from '../core/params';
import type { ApiRequest, Router } from '../core/router';
import {
  cancelSchedule,
  releaseSchedule,
  SCHEDULE_OBJECT,
  scheduleFromSubscription,
  updateSchedulePhases,
  type PhaseInput,
} from '../billing/schedules';
import { idOf } from '../billing/util';
import { INTERVALS, type PriceObject } from './prices';

/**
 * `/v1/subscription_schedules`: made from an existing subscription (`from_subscription`), retrieved,
 * listed, given phases, released and canceled. Phase transitions happen as time passes (see billing/timeline).
 */
export function register(router: Router, ctx: EmulatorContext): void {
  ctx.registerType({ object: SCHEDULE_OBJECT, prefix: 'sub_sched', name: 'subscription_schedule' });

  router.post('/v1/subscription_schedules', (req) => create(req));
  router.get('/v1/subscription_schedules/:id', (req) => ctx.retrieve<Stripe.SubscriptionSchedule>(SCHEDULE_OBJECT, req.pathParams['id']));
  router.post('/v1/subscription_schedules/:id', (req) => update(req));
  router.post('/v1/subscription_schedules/:id/release', (req) =>
    releaseSchedule(ctx, ctx.retrieve<Stripe.SubscriptionSchedule>(SCHEDULE_OBJECT, req.pathParams['id'])),
  );
  router.post('/v1/subscription_schedules/:id/cancel', (req) =>
    cancelSchedule(ctx, ctx.retrieve<Stripe.SubscriptionSchedule>(SCHEDULE_OBJECT, req.pathParams['id'])),
  );
  router.get('/v1/subscription_schedules', (req) => list(req));
}

function create(req: ApiRequest): Stripe.SubscriptionSchedule {
  const { ctx, params: p } = req;
  const from = p.str('from_subscription');
  if (!from)
    throw invalidRequest('The Stripe emulator makes subscription schedules from an existing subscription only (from_subscription).', {
      param: 'from_subscription',
    });
  for (const other of ['customer', 'phases', 'start_date', 'end_behavior', 'default_settings'])
    if (p.has(other)) throw invalidRequest(`You cannot set \`${other}\` if \`from_subscription\` is set.`, { param: other });
  const sub = ctx.retrieve<Stripe.Subscription>('subscription', from, 'from_subscription');
  const schedule = scheduleFromSubscription(ctx, sub);
  if (p.has('metadata')) schedule.metadata = p.metadata() ?? {};
  return schedule;
}

function update(req: ApiRequest): Stripe.SubscriptionSchedule {
  const { ctx, params: p } = req;
  const schedule = ctx.retrieve<Stripe.SubscriptionSchedule>(SCHEDULE_OBJECT, req.pathParams['id']);
  const endBehavior = p.enum('end_behavior', ['release', 'cancel', 'none', 'renew']);
  if (endBehavior === 'none' || endBehavior === 'renew')
    throw invalidRequest(`The Stripe emulator does not implement end_behavior=${endBehavior}.`, { param: 'end_behavior' });
  if (p.has('metadata')) schedule.metadata = p.metadata(schedule.metadata ?? {}) ?? {};
  const phases = p.objList('phases');
  if (phases)
    return updateSchedulePhases(
      ctx,
      schedule,
      phases.map((ph) => phaseInput(ctx, ph)),
      endBehavior,
    );
  if (endBehavior) schedule.end_behavior = endBehavior;
  return schedule;
}

function phaseInput(ctx: EmulatorContext, ph: Params): PhaseInput {
  const items = ph.objList('items');
  if (!items || items.length === 0) throw missingParam(ph.name('items'));
  const start = ph.str('start_date');
  if (start === 'now')
    throw invalidRequest('The Stripe emulator does not implement start_date=now for a phase.', { param: ph.name('start_date') });
  return {
    items: items.map((ip) => ({
      price: ctx.retrieve<PriceObject>('price', ip.str('price') ?? ip.reqStr('plan'), ip.name('price')),
      quantity: ip.int('quantity', { min: 1 }) ?? 1,
    })),
    start_date: ph.int('start_date', { min: 0 }),
    end_date: ph.int('end_date', { min: 0 }),
    duration: duration(ph),
    proration_behavior: ph.enum('proration_behavior', ['create_prorations', 'always_invoice', 'none']),
    metadata: ph.metadata(),
  };
}

function duration(ph: Params): PhaseInput['duration'] {
  if (ph.has('iterations'))
    throw invalidRequest('`iterations` is not supported in this API version; use `duration` or `end_date`.', {
      param: ph.name('iterations'),
    });
  const d = ph.obj('duration');
  if (!d) return undefined;
  if (ph.has('end_date'))
    throw invalidRequest('You may only specify one of these parameters: duration, end_date.', { param: d.name('interval') });
  return { interval: d.enum('interval', INTERVALS, { required: true })!, interval_count: d.int('interval_count', { min: 1 }) ?? 1 };
}

function list(req: ApiRequest): Stripe.ApiList<Stripe.SubscriptionSchedule> {
  const { ctx, params: p } = req;
  let items = ctx.store.newest<Stripe.SubscriptionSchedule>(SCHEDULE_OBJECT);
  const customer = p.str('customer');
  if (customer !== undefined) items = items.filter((s) => idOf(s.customer) === customer);
  const scheduled = p.bool('scheduled');
  if (scheduled !== undefined) items = items.filter((s) => (s.status === 'not_started') === scheduled);
  return paginate(req, filterCreated(p, items));
}
