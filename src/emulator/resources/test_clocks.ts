import type Stripe from 'stripe';
import { NO_REQUEST, type EmulatorContext } from '../core/context';
import { invalidRequest } from '../core/errors';
import { paginate } from '../core/list';
import type { ApiRequest, Router } from '../core/router';
import { sessionMeta } from '../billing/checkout';
import { SCHEDULE_OBJECT } from '../billing/schedules';
import { runDue, startRealTimeSweep } from '../billing/timeline';
import { DAY, idOf } from '../billing/util';
import { TEST_CLOCK_OBJECT } from './customers';

/**
 * Test clocks. A customer created with `test_clock` lives at the clock's `frozen_time`; advancing the clock
 * runs, in order, everything due for that customer's objects up to the new time (renewals, ends, expiries).
 * The advance runs to completion before the response: the answer already has `status: 'ready'`
 * (`test_helpers.test_clock.advancing` and `.ready` are both emitted).
 */
export function register(router: Router, ctx: EmulatorContext): void {
  ctx.registerType({ object: TEST_CLOCK_OBJECT, prefix: 'clock', name: 'test_clock' });
  startRealTimeSweep(ctx);

  router.post('/v1/test_helpers/test_clocks', (req) => create(req));
  router.get('/v1/test_helpers/test_clocks/:id', (req) =>
    ctx.retrieve<Stripe.TestHelpers.TestClock>(TEST_CLOCK_OBJECT, req.pathParams['id']),
  );
  router.get('/v1/test_helpers/test_clocks', (req) => paginate(req, ctx.store.newest<Stripe.TestHelpers.TestClock>(TEST_CLOCK_OBJECT)));
  router.delete('/v1/test_helpers/test_clocks/:id', (req) => remove(req));
  router.post('/v1/test_helpers/test_clocks/:id/advance', (req) => advance(req));
}

function create(req: ApiRequest): Stripe.TestHelpers.TestClock {
  const { ctx, params: p } = req;
  const frozen = p.reqInt('frozen_time', { min: 0 });
  const now = Math.floor(Date.now() / 1000);
  const clock: Stripe.TestHelpers.TestClock = {
    id: ctx.newId('clock'),
    object: TEST_CLOCK_OBJECT,
    created: now,
    deletes_after: now + 30 * DAY,
    frozen_time: frozen,
    livemode: false,
    name: p.str('name', { max: 300 }) ?? null,
    status: 'ready',
    status_details: {},
  };
  ctx.store.insert(clock);
  ctx.emit('test_helpers.test_clock.created', clock);
  return clock;
}

function advance(req: ApiRequest): Stripe.TestHelpers.TestClock {
  const { ctx, params: p } = req;
  const clock = ctx.retrieve<Stripe.TestHelpers.TestClock>(TEST_CLOCK_OBJECT, req.pathParams['id']);
  const target = p.reqInt('frozen_time', { min: 0 });
  if (clock.status === 'advancing')
    throw invalidRequest('The test clock is already advancing. Wait until its status is `ready` before advancing it again.', {
      code: 'test_clock_advancing',
    });
  if (target <= clock.frozen_time) {
    throw invalidRequest(
      `The frozen_time of a test clock can only move forward: ${target} is not after its current frozen_time ${clock.frozen_time}.`,
      { param: 'frozen_time' },
    );
  }
  clock.status = 'advancing';
  clock.status_details = { advancing: { target_frozen_time: target } };
  ctx.emit('test_helpers.test_clock.advancing', clock);
  // what happens as the clock moves is Stripe's automatic handling: no API request caused it
  ctx.withRequest(NO_REQUEST, () => {
    try {
      runDue(ctx, clock, target);
      clock.frozen_time = target;
    } finally {
      clock.status = 'ready';
      clock.status_details = {};
    }
    ctx.emit('test_helpers.test_clock.ready', clock);
  });
  return clock;
}

/** Deletes the clock and, as Stripe does, the customers on it and their objects. */
function remove(req: ApiRequest): unknown {
  const { ctx } = req;
  const clock = ctx.retrieve<Stripe.TestHelpers.TestClock>(TEST_CLOCK_OBJECT, req.pathParams['id']);
  const customers = new Set(
    ctx.store
      .all<Stripe.Customer>('customer')
      .filter((c) => idOf(c.test_clock) === clock.id)
      .map((c) => c.id),
  );
  for (const sub of ctx.store.all<Stripe.Subscription>('subscription')) if (idOf(sub.test_clock) === clock.id) ctx.store.remove(sub.id);
  for (const schedule of ctx.store.all<Stripe.SubscriptionSchedule>(SCHEDULE_OBJECT))
    if (idOf(schedule.test_clock) === clock.id) ctx.store.remove(schedule.id);
  for (const inv of ctx.store.all<Stripe.Invoice>('invoice')) if (idOf(inv.test_clock) === clock.id) ctx.store.remove(inv.id);
  for (const s of ctx.store.all<Stripe.Checkout.Session>('checkout.session'))
    if (sessionMeta(ctx, s).clock === clock.id) ctx.store.remove(s.id);
  for (const id of customers) ctx.store.remove(id);
  const snapshot = JSON.parse(JSON.stringify(clock)) as Stripe.TestHelpers.TestClock;
  const stub = ctx.store.remove(clock.id);
  ctx.emit('test_helpers.test_clock.deleted', snapshot);
  return stub;
}
