import { getLimits } from '../src/billing/limits';
import pg from 'pg';
import type Stripe from 'stripe';
import { sql } from './support/db';
import { captureLogs } from './support/logs';
import { advanceClock, MY_LIMITS, MY_SUBSCRIPTIONS, pricingId, SUBSCRIBE, subscriptionsOf, unix, userOnTestClock } from './support/billing';
import { startTestServer, type TestServer } from './support/server';

/**
 * The subscription side of webhook sync, driven by the emulator's real signed deliveries: every change
 * is made in Stripe (the emulator) directly, as in Stripe's dashboard, and must reach our rows through
 * the webhook alone.
 */
describe('webhook sync of subscriptions (real emulator deliveries)', () => {
  let server: TestServer;
  let premiumPrice: string;
  const logs = captureLogs();
  beforeAll(async () => {
    server = await startTestServer({ stripe: true, logStream: logs.stream });
    const [row] = await sql(
      server.databaseUrl,
      `select pp.stripe_price_id from plan_pricing pp join plan p on p.id = pp.plan_id where p.code = 'premium'`,
    );
    premiumPrice = row.stripe_price_id;
  });
  afterAll(() => server.close());

  /** The inbox rows of one type that mention a Stripe object id. */
  const eventsFor = (type: string, objectId: string) =>
    sql(
      server.databaseUrl,
      `select status, outcome, own_request from stripe_event where type = $1 and payload::text like $2 order by stripe_created_at`,
      [type, `%${objectId}%`],
    );

  /** The distinct attempt counts of the inbox rows that mention a Stripe object id. */
  const attemptsAbout = async (objectId: string) =>
    (
      await sql(server.databaseUrl, `select distinct attempts from stripe_event where payload::text like $1 order by attempts`, [
        `%${objectId}%`,
      ])
    ).map((r) => r.attempts);

  /** A subscription made directly in Stripe for one of our customers (as in Stripe's dashboard). */
  async function externalSubscription(
    customerId: string,
    paymentMethod = 'pm_card_visa',
    metadata: Record<string, string> = {},
  ): Promise<Stripe.Subscription> {
    const pm = await server.stripe.paymentMethods.attach(paymentMethod, { customer: customerId });
    return server.stripe.subscriptions.create({
      customer: customerId,
      items: [{ price: premiumPrice }],
      default_payment_method: pm.id,
      metadata,
    });
  }

  it('customer.subscription.created/updated/deleted: a subscription made, changed and canceled in Stripe is adopted and followed', async () => {
    const user = await userOnTestClock(server);
    const s = await externalSubscription(user.customerId);
    await server.emulator.idle(10_000);
    let [mine] = (await server.gql(MY_SUBSCRIPTIONS, undefined, user.token)).data.mySubscriptions;
    expect(mine).toMatchObject({ stripeSubscriptionId: s.id, status: 'ACTIVE', plan: { code: 'premium' }, cancelAtPeriodEnd: false });
    expect((await server.gql(MY_LIMITS, undefined, user.token)).data.myLimits).toMatchObject({
      plan: { code: 'premium' },
      source: 'SUBSCRIPTION',
    });
    // Whichever of its events arrived first adopted it (deliveries promise no order).
    const adopted = await sql(server.databaseUrl, `select type, own_request from stripe_event where outcome like $1`, [
      `adopted subscription % from ${s.id}:%`,
    ]);
    expect(adopted).toEqual([expect.objectContaining({ own_request: false })]);
    expect(await eventsFor('customer.subscription.created', s.id)).toEqual([expect.objectContaining({ status: 'processed' })]);
    // Its events arrive at once; they are applied one after the other, each in its first attempt (none
    // tried to adopt it a second time and failed).
    expect(await attemptsAbout(s.id)).toEqual([1]);

    await server.stripe.subscriptions.update(s.id, { cancel_at_period_end: true });
    await server.emulator.idle(10_000);
    [mine] = (await server.gql(MY_SUBSCRIPTIONS, undefined, user.token)).data.mySubscriptions;
    expect(mine).toMatchObject({ status: 'ACTIVE', cancelAtPeriodEnd: true });
    expect(mine.canceledAt).not.toBeNull();

    await server.stripe.subscriptions.cancel(s.id);
    await server.emulator.idle(10_000);
    [mine] = (await server.gql(MY_SUBSCRIPTIONS, undefined, user.token)).data.mySubscriptions;
    expect(mine).toMatchObject({ status: 'CANCELED' });
    expect(mine.endedAt).not.toBeNull();
    expect((await server.gql(MY_LIMITS, undefined, user.token)).data.myLimits).toMatchObject({
      plan: { code: 'free' },
      source: 'DEFAULT_PLAN',
    });
    expect(await eventsFor('customer.subscription.deleted', s.id)).toEqual([expect.objectContaining({ status: 'processed' })]);
  });

  it("a subscription event waits until the user's billing call in progress has ended", async () => {
    const user = await userOnTestClock(server);
    const s = await externalSubscription(user.customerId);
    await server.emulator.idle(10_000);
    // Hold the user's billing lock, as a subscribe or cancel in flight does, while Stripe announces a change.
    const holder = new pg.Client({ connectionString: server.databaseUrl });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [`tollgate:billing:${user.id}`]);
      await server.stripe.subscriptions.update(s.id, { cancel_at_period_end: true });
      let stored: any[] = [];
      for (let i = 0; i < 100 && stored.length === 0; i++) {
        stored = await eventsFor('customer.subscription.updated', s.id);
        if (stored.length === 0) await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, 300));
      expect(await eventsFor('customer.subscription.updated', s.id)).toEqual([expect.objectContaining({ status: 'pending' })]);
      let [mine] = (await server.gql(MY_SUBSCRIPTIONS, undefined, user.token)).data.mySubscriptions;
      expect(mine.cancelAtPeriodEnd).toBe(false);
      await holder.query('commit');
      await server.emulator.idle(10_000);
      expect(await eventsFor('customer.subscription.updated', s.id)).toEqual([expect.objectContaining({ status: 'processed' })]);
      [mine] = (await server.gql(MY_SUBSCRIPTIONS, undefined, user.token)).data.mySubscriptions;
      expect(mine.cancelAtPeriodEnd).toBe(true);
    } finally {
      await holder.end();
    }
  });

  it('invoice.paid: a renewal moves the period forward', async () => {
    const user = await userOnTestClock(server);
    const res = await server.gql(
      SUBSCRIBE,
      { input: { pricingId: await pricingId(server, 'premium'), paymentMethod: 'pm_card_visa' } },
      user.token,
    );
    expect(res.errors).toBeUndefined();
    const first = res.data.subscribe.subscription;
    await advanceClock(server, user.clock.id, unix(first.currentPeriodEnd) + 3600);
    const [mine] = (await server.gql(MY_SUBSCRIPTIONS, undefined, user.token)).data.mySubscriptions;
    expect(mine.status).toBe('ACTIVE');
    expect(new Date(mine.currentPeriodStart).getTime()).toBe(new Date(first.currentPeriodEnd).getTime());
    const paid = await eventsFor('invoice.paid', first.stripeSubscriptionId);
    expect(paid.length).toBeGreaterThanOrEqual(2); // the first invoice and the renewal
    expect(paid.every((e) => e.status === 'processed' && e.outcome.includes(first.id))).toBe(true);
  });

  it('invoice.payment_failed: a failed renewal makes the subscription PAST_DUE, Premium for its grace, then Free', async () => {
    const user = await userOnTestClock(server);
    const res = await server.gql(
      SUBSCRIBE,
      { input: { pricingId: await pricingId(server, 'premium'), paymentMethod: 'pm_card_visa' } },
      user.token,
    );
    expect(res.errors).toBeUndefined();
    const first = res.data.subscribe.subscription;
    expect(first.status).toBe('ACTIVE');
    // The customer switches to a card that can be saved but whose charges fail (4000 0000 0000 0341).
    const failing = await server.stripe.paymentMethods.attach('pm_card_chargeCustomerFail', { customer: user.customerId });
    await server.stripe.subscriptions.update(first.stripeSubscriptionId, { default_payment_method: failing.id });
    await advanceClock(server, user.clock.id, unix(first.currentPeriodEnd) + 3600);
    const [mine] = (await server.gql(MY_SUBSCRIPTIONS, undefined, user.token)).data.mySubscriptions;
    expect(mine.status).toBe('PAST_DUE');
    // PAST_DUE_GRACE_DAYS (3) from the new period's start, while Stripe retries the charge; then Free.
    expect((await server.gql(MY_LIMITS, undefined, user.token)).data.myLimits.plan.code).toBe('premium');
    const graceEnd = new Date(mine.currentPeriodStart).getTime() + 3 * 24 * 3600_000;
    const owner = { id: user.id, timezone: 'UTC' };
    expect((await getLimits(server.em(), owner, new Date(graceEnd - 1000))).plan.code).toBe('premium');
    expect((await getLimits(server.em(), owner, new Date(graceEnd))).plan.code).toBe('free');
    expect(await eventsFor('invoice.payment_failed', first.stripeSubscriptionId)).toEqual([
      expect.objectContaining({ status: 'processed', outcome: expect.stringContaining('past_due') }),
    ]);
  });

  it('a Day Pass made in Stripe without cancel_at_period_end is adopted and kept from renewing, in Stripe too', async () => {
    const user = await userOnTestClock(server);
    const [{ stripe_price_id: dayPassPrice }] = await sql(
      server.databaseUrl,
      `select pp.stripe_price_id from plan_pricing pp join plan p on p.id = pp.plan_id where p.code = 'day_pass'`,
    );
    const pm = await server.stripe.paymentMethods.attach('pm_card_visa', { customer: user.customerId });
    const s = await server.stripe.subscriptions.create({
      customer: user.customerId,
      items: [{ price: dayPassPrice }],
      default_payment_method: pm.id,
    });
    expect(s.cancel_at_period_end).toBe(false);
    await server.emulator.idle(10_000);
    expect((await server.stripe.subscriptions.retrieve(s.id)).cancel_at_period_end).toBe(true);
    const [mine] = (await server.gql(MY_SUBSCRIPTIONS, undefined, user.token)).data.mySubscriptions;
    expect(mine).toMatchObject({ stripeSubscriptionId: s.id, status: 'ACTIVE', plan: { code: 'day_pass' }, cancelAtPeriodEnd: true });
    // A day later it has ended, in Stripe and here, instead of renewing.
    await advanceClock(server, user.clock.id, user.clock.frozen_time + 25 * 3600);
    await server.emulator.idle(10_000);
    expect((await server.stripe.subscriptions.retrieve(s.id)).status).toBe('canceled');
    expect((await server.gql(MY_SUBSCRIPTIONS, undefined, user.token)).data.mySubscriptions[0]).toMatchObject({ status: 'CANCELED' });
  });

  it('checkout.session.completed alone (the person never comes back) makes the subscription active', async () => {
    const user = await server.createUser();
    const { subscription } = (await server.gql(SUBSCRIBE, { input: { pricingId: await pricingId(server, 'premium') } }, user.token)).data
      .subscribe;
    const [{ stripe_checkout_session_id: sessionId }] = await sql(
      server.databaseUrl,
      'select stripe_checkout_session_id from subscription where id = $1',
      [subscription.id],
    );
    await server.stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${sessionId}/complete`, { card_number: '4242424242424242' });
    await server.emulator.idle(10_000);
    const [mine] = (await server.gql(MY_SUBSCRIPTIONS, undefined, user.token)).data.mySubscriptions;
    expect(mine).toMatchObject({ id: subscription.id, status: 'ACTIVE', plan: { code: 'premium' } });
    expect(await eventsFor('checkout.session.completed', sessionId)).toEqual([expect.objectContaining({ status: 'processed' })]);
  });

  it('checkout.session.expired: a Checkout left unpaid ends as INCOMPLETE_EXPIRED and does not block a new subscribe', async () => {
    const user = await server.createUser();
    const premium = await pricingId(server, 'premium');
    const { subscription } = (await server.gql(SUBSCRIBE, { input: { pricingId: premium } }, user.token)).data.subscribe;
    const [{ stripe_checkout_session_id: sessionId }] = await sql(
      server.databaseUrl,
      'select stripe_checkout_session_id from subscription where id = $1',
      [subscription.id],
    );
    await server.stripe.checkout.sessions.expire(sessionId);
    await server.emulator.idle(10_000);
    const [mine] = await subscriptionsOf(server, user.id);
    expect(mine).toMatchObject({ id: subscription.id, status: 'INCOMPLETE_EXPIRED' });
    expect(await eventsFor('checkout.session.expired', sessionId)).toEqual([expect.objectContaining({ status: 'processed' })]);
    const again = await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_visa' } }, user.token);
    expect(again.errors).toBeUndefined();
  });

  it('a subscription of a customer Tollgate does not know is recorded and reported, not dropped', async () => {
    const customer = await server.stripe.customers.create({ email: 'stranger@example.com' });
    const s = await externalSubscription(customer.id);
    await server.emulator.idle(10_000);
    const [event] = await eventsFor('customer.subscription.created', s.id);
    expect(event).toEqual({
      status: 'processed',
      outcome: `subscription ${s.id} of unknown customer ${customer.id} recorded, not applied`,
      own_request: false,
    });
    const stored = await sql(
      server.databaseUrl,
      `select payload->'data'->'object'->>'customer' as customer from stripe_event where type = 'customer.subscription.created' and payload::text like $1`,
      [`%${s.id}%`],
    );
    expect(stored).toEqual([{ customer: customer.id }]);
    expect(await sql(server.databaseUrl, 'select id from subscription where stripe_subscription_id = $1', [s.id])).toEqual([]);
    // Reported: a warning naming both, for whoever watches the logs.
    expect(logs.lines()).toContainEqual(
      expect.objectContaining({
        level: 40,
        msg: 'Stripe subscription for a customer Tollgate does not know',
        stripeSubscription: s.id,
        customer: customer.id,
      }),
    );
  });

  it('a declined subscribe leaves nothing here: the echoes of the attempt Stripe canceled are recorded, not adopted', async () => {
    const user = await server.createUser();
    const res = await server.gql(
      SUBSCRIBE,
      { input: { pricingId: await pricingId(server, 'premium'), paymentMethod: 'pm_card_chargeCustomerFail' } },
      user.token,
    );
    expect(res.errors?.[0].extensions?.code).toBe('PAYMENT_FAILED');
    await server.emulator.idle(10_000);
    const [{ stripe_customer_id: customerId }] = await sql(server.databaseUrl, 'select stripe_customer_id from app_user where id = $1', [
      user.id,
    ]);
    const [attempt] = (await server.stripe.subscriptions.list({ customer: customerId, status: 'all' })).data;
    expect(attempt.status).toBe('canceled');
    expect((await server.gql(MY_SUBSCRIPTIONS, undefined, user.token)).data.mySubscriptions).toEqual([]);
    const echoes = await sql(
      server.databaseUrl,
      `select type, status, attempts, outcome from stripe_event where type like 'customer.subscription.%' and payload::text like $1`,
      [`%${attempt.id}%`],
    );
    expect(echoes.map((e) => e.type).sort()).toEqual(['customer.subscription.created', 'customer.subscription.deleted']);
    for (const e of echoes) {
      expect(e).toMatchObject({
        status: 'processed',
        attempts: 1,
        outcome: expect.stringMatching(new RegExp(`^subscription ${attempt.id} .*canceled.*recorded, not applied$`)),
      });
    }
  });

  it("a subscription whose metadata names a row that is not its own (another customer's, or not an id at all) does not take that row over", async () => {
    const owner = await server.createUser();
    const res = await server.gql(
      SUBSCRIBE,
      { input: { pricingId: await pricingId(server, 'premium'), paymentMethod: 'pm_card_visa' } },
      owner.token,
    );
    const ownerSub = res.data.subscribe.subscription;
    await server.emulator.idle(10_000);

    // Another known customer's dashboard subscription copies the owner's metadata: it is that customer's, adopted as such.
    const other = await userOnTestClock(server);
    const copied = await externalSubscription(other.customerId, 'pm_card_visa', { tollgate_subscription_id: ownerSub.id });
    // A third one carries a value that is not one of our ids at all.
    const odd = await userOnTestClock(server);
    const garbled = await externalSubscription(odd.customerId, 'pm_card_visa', {
      tollgate_subscription_id: 'imported-from-legacy-billing',
    });
    await server.emulator.idle(10_000);

    const [mine] = (await server.gql(MY_SUBSCRIPTIONS, undefined, owner.token)).data.mySubscriptions;
    expect(mine).toMatchObject({ id: ownerSub.id, stripeSubscriptionId: ownerSub.stripeSubscriptionId, status: 'ACTIVE' });
    expect((await server.gql(MY_SUBSCRIPTIONS, undefined, other.token)).data.mySubscriptions).toEqual([
      expect.objectContaining({ stripeSubscriptionId: copied.id, status: 'ACTIVE' }),
    ]);
    expect((await server.gql(MY_SUBSCRIPTIONS, undefined, odd.token)).data.mySubscriptions).toEqual([
      expect.objectContaining({ stripeSubscriptionId: garbled.id, status: 'ACTIVE' }),
    ]);
    expect(await attemptsAbout(copied.id)).toEqual([1]);
    expect(await attemptsAbout(garbled.id)).toEqual([1]);
  });

  it("a second subscription of the same customer that copies all of a kept subscription's metadata is adopted as a row of its own", async () => {
    const owner = await userOnTestClock(server);
    const res = await server.gql(
      SUBSCRIBE,
      { input: { pricingId: await pricingId(server, 'premium'), paymentMethod: 'pm_card_visa', idempotencyKey: 'kept-1' } },
      owner.token,
    );
    const kept = res.data.subscribe.subscription;
    await server.emulator.idle(10_000);
    const original = await server.stripe.subscriptions.retrieve(kept.stripeSubscriptionId);
    expect(original.metadata).toMatchObject({
      tollgate_subscription_id: kept.id,
      tollgate_user_id: owner.id,
      tollgate_idempotency_key: 'kept-1',
    });

    // Made in Stripe's dashboard by duplicating the first one: the row it names exists, and is linked to the first.
    const copy = await externalSubscription(owner.customerId, 'pm_card_visa', original.metadata);
    await server.emulator.idle(10_000);

    const mine = (await server.gql(MY_SUBSCRIPTIONS, undefined, owner.token)).data.mySubscriptions;
    expect(mine).toHaveLength(2);
    expect(mine).toContainEqual(
      expect.objectContaining({ id: kept.id, stripeSubscriptionId: kept.stripeSubscriptionId, status: 'ACTIVE' }),
    );
    const other = mine.find((s: { stripeSubscriptionId: string }) => s.stripeSubscriptionId === copy.id);
    expect(other).toMatchObject({ status: 'ACTIVE' });
    expect(other.id).not.toBe(kept.id);
    // The client's key still answers with the first subscription only.
    expect(
      await sql(server.databaseUrl, 'select id from subscription where user_id = $1 and idempotency_key = $2', [owner.id, 'kept-1']),
    ).toEqual([{ id: kept.id }]);
    expect(await attemptsAbout(copy.id)).toEqual([1]);
  });

  it("a Checkout Session made elsewhere that names a user's pending subscription does not complete it", async () => {
    const user = await server.createUser();
    const { subscription } = (await server.gql(SUBSCRIBE, { input: { pricingId: await pricingId(server, 'premium') } }, user.token)).data
      .subscribe;
    const stranger = await server.stripe.customers.create({ email: 'someone-else@example.com' });
    const named = { tollgate_subscription_id: subscription.id, tollgate_user_id: user.id };
    const forged = await server.stripe.checkout.sessions.create({
      mode: 'subscription',
      customer: stranger.id,
      client_reference_id: 'someone-else',
      line_items: [{ price: premiumPrice, quantity: 1 }],
      success_url: 'https://example.com/ok',
      metadata: named,
      subscription_data: { metadata: named },
    });
    await server.stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${forged.id}/complete`, { card_number: '4242424242424242' });
    await server.emulator.idle(10_000);
    const [mine] = await subscriptionsOf(server, user.id);
    expect(mine).toMatchObject({ id: subscription.id, status: 'INCOMPLETE', stripeSubscriptionId: null });
    expect(await eventsFor('checkout.session.completed', forged.id)).toEqual([
      expect.objectContaining({ status: 'processed', outcome: `checkout ${forged.id} is not one of ours` }),
    ]);
  });

  it("tags Tollgate's own writes: their echoes are told apart from changes made elsewhere", async () => {
    const user = await server.createUser();
    const res = await server.gql(
      SUBSCRIBE,
      { input: { pricingId: await pricingId(server, 'premium'), paymentMethod: 'pm_card_visa' } },
      user.token,
    );
    const stripeSubscriptionId = res.data.subscribe.subscription.stripeSubscriptionId;
    await server.emulator.idle(10_000);
    expect(await eventsFor('customer.subscription.created', stripeSubscriptionId)).toEqual([
      expect.objectContaining({ status: 'processed', own_request: true }),
    ]);
    await server.stripe.subscriptions.update(stripeSubscriptionId, { metadata: { note: 'changed in the dashboard' } });
    await server.emulator.idle(10_000);
    const updates = await eventsFor('customer.subscription.updated', stripeSubscriptionId);
    expect(updates.at(-1)).toMatchObject({ status: 'processed', own_request: false });
    // The log says the same: each applied event with its origin.
    const applied = logs.lines().filter((l) => l.msg === 'Stripe event applied' && String(l.outcome).includes(stripeSubscriptionId));
    const origins = new Map(applied.map((l) => [l.type, new Set<unknown>()]));
    for (const l of applied) origins.get(l.type)!.add(l.origin);
    expect(origins.get('customer.subscription.created')).toEqual(new Set(['tollgate']));
    expect(applied.at(-1)).toMatchObject({ type: 'customer.subscription.updated', origin: 'external' });
  });
});
