import { sql } from './support/db';
import { advanceClock, CANCEL, MY_LIMITS, MY_SUBSCRIPTIONS, pricingId, RESUME, SUBSCRIBE, unix, userOnTestClock } from './support/billing';
import { startTestServer, type TestServer } from './support/server';

jest.setTimeout(120_000);

describe('subscriptions through GraphQL, against the local Stripe emulator', () => {
  let server: TestServer;
  let premium: string;
  let dayPass: string;
  let free: string;
  /** Every write (POST) the emulator answered, with the Idempotency-Key it carried. */
  const writes: Array<{ path: string; key: string | null }> = [];
  beforeAll(async () => {
    server = await startTestServer({
      stripe: true,
      emulatorLog: (msg, fields: any) => {
        if (msg === 'request' && fields.method === 'POST') writes.push({ path: fields.path, key: fields.idempotency_key });
      },
    });
    [premium, dayPass, free] = await Promise.all([pricingId(server, 'premium'), pricingId(server, 'day_pass'), pricingId(server, 'free')]);
  });
  afterAll(() => server.close());

  const limits = async (token: string) => (await server.gql(MY_LIMITS, undefined, token)).data.myLimits;

  it('Free: limits from the default plan, and Free cannot be bought', async () => {
    const user = await server.createUser();
    expect(await limits(user.token)).toMatchObject({ plan: { code: 'free' }, source: 'DEFAULT_PLAN' });
    const res = await server.gql(SUBSCRIBE, { input: { pricingId: free, paymentMethod: 'pm_card_visa' } }, user.token);
    expect(res.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
    expect(await sql(server.databaseUrl, 'select id from subscription where user_id = $1', [user.id])).toEqual([]);
  });

  it('Premium: subscribe → Premium limits → cancel → still Premium until the period ends → Free after it', async () => {
    const user = await userOnTestClock(server);
    const res = await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_visa' } }, user.token);
    expect(res.errors).toBeUndefined();
    const sub = res.data.subscribe.subscription;
    expect(sub).toMatchObject({
      status: 'ACTIVE',
      plan: { code: 'premium' },
      cancelAtPeriodEnd: false,
      pricing: { interval: 'MONTH', autoRenew: true },
    });
    expect(sub.stripeSubscriptionId).toMatch(/^sub_/);
    const inStripe = await server.stripe.subscriptions.retrieve(sub.stripeSubscriptionId);
    expect(inStripe).toMatchObject({
      status: 'active',
      customer: user.customerId,
      metadata: expect.objectContaining({ tollgate_subscription_id: sub.id }),
    });
    expect(new Date(sub.currentPeriodEnd).getTime()).toBe(inStripe.items.data[0].current_period_end * 1000);

    const now = await limits(user.token);
    expect(now).toMatchObject({ plan: { code: 'premium' }, source: 'SUBSCRIPTION' });
    expect(now.metrics.every((m: any) => m.limit === null && m.remaining === null)).toBe(true);

    const canceled = await server.gql(CANCEL, { id: sub.id }, user.token);
    expect(canceled.data.cancelSubscription).toMatchObject({ status: 'ACTIVE', cancelAtPeriodEnd: true });
    expect((await server.stripe.subscriptions.retrieve(sub.stripeSubscriptionId)).cancel_at_period_end).toBe(true);
    expect(await limits(user.token)).toMatchObject({ plan: { code: 'premium' } });

    await advanceClock(server, user.clock.id, inStripe.items.data[0].current_period_end + 3600);
    expect((await server.stripe.subscriptions.retrieve(sub.stripeSubscriptionId)).status).toBe('canceled');
    const [after] = (await server.gql(MY_SUBSCRIPTIONS, undefined, user.token)).data.mySubscriptions;
    expect(after).toMatchObject({ id: sub.id, status: 'CANCELED' });
    expect(after.endedAt).not.toBeNull();
    expect(await limits(user.token)).toMatchObject({ plan: { code: 'free' }, source: 'DEFAULT_PLAN' });
  });

  it('Premium: resume before the end keeps it renewing, and a renewal extends the period', async () => {
    const user = await userOnTestClock(server);
    const sub = (await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_visa' } }, user.token)).data.subscribe
      .subscription;
    await server.gql(CANCEL, { id: sub.id }, user.token);
    const resumed = await server.gql(RESUME, { id: sub.id }, user.token);
    expect(resumed.data.resumeSubscription).toMatchObject({ status: 'ACTIVE', cancelAtPeriodEnd: false });
    expect((await server.stripe.subscriptions.retrieve(sub.stripeSubscriptionId)).cancel_at_period_end).toBe(false);

    const firstEnd = unix(sub.currentPeriodEnd);
    await advanceClock(server, user.clock.id, firstEnd + 3600);
    const renewed = await server.stripe.subscriptions.retrieve(sub.stripeSubscriptionId);
    expect(renewed.status).toBe('active');
    expect(renewed.items.data[0].current_period_start).toBe(firstEnd);
    const [mine] = (await server.gql(MY_SUBSCRIPTIONS, undefined, user.token)).data.mySubscriptions;
    expect(mine).toMatchObject({ status: 'ACTIVE', cancelAtPeriodEnd: false });
    expect(unix(mine.currentPeriodEnd)).toBe(renewed.items.data[0].current_period_end);
    expect(unix(mine.currentPeriodEnd)).toBeGreaterThan(firstEnd);
  });

  it('Day Pass: never renews, cannot be resumed, and gives way to Free after 24 hours', async () => {
    const user = await userOnTestClock(server);
    const res = await server.gql(SUBSCRIBE, { input: { pricingId: dayPass, paymentMethod: 'pm_card_visa' } }, user.token);
    const sub = res.data.subscribe.subscription;
    expect(sub).toMatchObject({ status: 'ACTIVE', plan: { code: 'day_pass' }, cancelAtPeriodEnd: true });
    expect(unix(sub.currentPeriodEnd) - unix(sub.currentPeriodStart)).toBe(24 * 3600);
    expect((await server.stripe.subscriptions.retrieve(sub.stripeSubscriptionId)).cancel_at_period_end).toBe(true);
    expect(await limits(user.token)).toMatchObject({ plan: { code: 'day_pass' }, source: 'SUBSCRIPTION' });

    const resume = await server.gql(RESUME, { id: sub.id }, user.token);
    expect(resume.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');

    await advanceClock(server, user.clock.id, unix(sub.currentPeriodStart) + 24 * 3600 + 60);
    expect((await server.stripe.subscriptions.retrieve(sub.stripeSubscriptionId)).status).toBe('canceled');
    expect(await limits(user.token)).toMatchObject({ plan: { code: 'free' }, source: 'DEFAULT_PLAN' });
  });

  it.each([
    ['pm_card_chargeDeclined', 'generic_decline'],
    ['pm_card_chargeDeclinedInsufficientFunds', 'insufficient_funds'],
    // 4000 0000 0000 0341 can be saved, so Stripe makes the subscription and then its first charge fails.
    ['pm_card_chargeCustomerFail', 'generic_decline'],
  ])('a declined card (%s) fails with PAYMENT_FAILED and leaves no usable subscription here or in Stripe', async (card, declineCode) => {
    const user = await server.createUser();
    const res = await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: card } }, user.token);
    expect(res.data).toBeNull();
    expect(res.errors?.[0].extensions).toMatchObject({ code: 'PAYMENT_FAILED', declineCode });
    // Whatever Stripe announced about the attempt has been delivered and handled: it brought nothing back.
    await server.emulator.idle(20_000);
    expect((await server.gql(MY_SUBSCRIPTIONS, undefined, user.token)).data.mySubscriptions).toEqual([]);
    expect(await sql(server.databaseUrl, 'select id from subscription where user_id = $1', [user.id])).toEqual([]);
    const [{ stripe_customer_id: customer }] = await sql(server.databaseUrl, 'select stripe_customer_id from app_user where id = $1', [
      user.id,
    ]);
    const inStripe = await server.stripe.subscriptions.list({ customer, status: 'all' });
    expect(inStripe.data.filter((s) => ['active', 'trialing', 'past_due', 'incomplete'].includes(s.status))).toEqual([]);
    expect(await limits(user.token)).toMatchObject({ plan: { code: 'free' } });
    // The user can try again with a good card.
    const retry = await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_visa' } }, user.token);
    expect(retry.data.subscribe.subscription.status).toBe('ACTIVE');
    await server.emulator.idle(20_000);
    expect((await server.gql(MY_SUBSCRIPTIONS, undefined, user.token)).data.mySubscriptions.map((s: any) => s.status)).toEqual(['ACTIVE']);
  });

  it('a charge declined after Stripe made the subscription: it is canceled there, and its webhooks are recorded, not applied', async () => {
    const user = await server.createUser();
    const res = await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_chargeCustomerFail' } }, user.token);
    expect(res.errors?.[0].extensions?.code).toBe('PAYMENT_FAILED');
    await server.emulator.idle(20_000);
    const [{ stripe_customer_id: customer }] = await sql(server.databaseUrl, 'select stripe_customer_id from app_user where id = $1', [
      user.id,
    ]);
    const [attempt] = (await server.stripe.subscriptions.list({ customer, status: 'all' })).data;
    expect(attempt.status).toBe('canceled');
    const events = await sql(
      server.databaseUrl,
      `select type, status, outcome from stripe_event where type like 'customer.subscription.%' and payload::text like $1`,
      [`%${attempt.id}%`],
    );
    expect(events.map((e) => e.type).sort()).toEqual(['customer.subscription.created', 'customer.subscription.deleted']);
    for (const e of events) expect(e).toMatchObject({ status: 'processed', outcome: expect.stringContaining('ended without being kept') });
  });

  it('a card that needs 3-D Secure gives INCOMPLETE with a client secret, then ACTIVE once authenticated', async () => {
    const user = await server.createUser();
    const res = await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_authenticationRequired' } }, user.token);
    expect(res.errors).toBeUndefined();
    const { subscription, clientSecret } = res.data.subscribe;
    expect(subscription.status).toBe('INCOMPLETE');
    expect(clientSecret).toMatch(/^pi_.+_secret_/);
    expect(await limits(user.token)).toMatchObject({ plan: { code: 'free' } });

    const intentId = clientSecret.split('_secret_')[0];
    await server.stripe.rawRequest('POST', `/v1/test_helpers/payment_intents/${intentId}/authenticate`, { outcome: 'succeed' });
    await server.emulator.idle(20_000);
    const [mine] = (await server.gql(MY_SUBSCRIPTIONS, undefined, user.token)).data.mySubscriptions;
    expect(mine).toMatchObject({ id: subscription.id, status: 'ACTIVE' });
    expect(await limits(user.token)).toMatchObject({ plan: { code: 'premium' } });
  });

  it('ten concurrent subscribe calls of one user make one Stripe subscription', async () => {
    const user = await server.createUser();
    const results = await Promise.all(
      Array.from({ length: 10 }, () => server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_visa' } }, user.token)),
    );
    const ok = results.filter((r) => r.data?.subscribe);
    expect(ok).toHaveLength(1);
    expect(results.filter((r) => r.errors?.[0].extensions?.code === 'CONFLICT')).toHaveLength(9);
    const [{ stripe_customer_id: customer }] = await sql(server.databaseUrl, 'select stripe_customer_id from app_user where id = $1', [
      user.id,
    ]);
    expect((await server.stripe.subscriptions.list({ customer, status: 'all' })).data).toHaveLength(1);
    expect((await server.stripe.customers.list({ email: user.email })).data).toHaveLength(1);
  });

  it("a user's first subscribe and first payment at the same moment make one Stripe customer", async () => {
    const user = await server.createUser();
    const [sub, payment] = await Promise.all([
      server.gql(SUBSCRIBE, { input: { pricingId: premium } }, user.token),
      server.gql(
        `mutation($input: CreatePaymentInput!) { createPayment(input: $input) { payment { id } } }`,
        { input: { amount: '10.00', currency: 'USD' } },
        user.token,
      ),
    ]);
    expect([sub.errors, payment.errors]).toEqual([undefined, undefined]);
    const customers = (await server.stripe.customers.list({ email: user.email })).data;
    expect(customers).toHaveLength(1);
    expect(await sql(server.databaseUrl, 'select stripe_customer_id from app_user where id = $1', [user.id])).toEqual([
      { stripe_customer_id: customers[0].id },
    ]);
  });

  it('the same idempotency key returns the first answer; a different pricing with it is a CONFLICT', async () => {
    const user = await server.createUser();
    const input = { pricingId: premium, paymentMethod: 'pm_card_visa', idempotencyKey: 'order-7' };
    const first = await server.gql(SUBSCRIBE, { input }, user.token);
    const again = await server.gql(SUBSCRIBE, { input }, user.token);
    expect(again.data.subscribe.subscription.id).toBe(first.data.subscribe.subscription.id);
    expect(again.data.subscribe.subscription.stripeSubscriptionId).toBe(first.data.subscribe.subscription.stripeSubscriptionId);
    const other = await server.gql(SUBSCRIBE, { input: { ...input, pricingId: dayPass } }, user.token);
    expect(other.errors?.[0].extensions?.code).toBe('CONFLICT');
    expect((await server.gql(MY_SUBSCRIPTIONS, undefined, user.token)).data.mySubscriptions).toHaveLength(1);
  });

  it('a retry with the key of a declined attempt: the same card is declined again, another card subscribes once', async () => {
    const user = await server.createUser();
    const input = { pricingId: premium, paymentMethod: 'pm_card_chargeCustomerFail', idempotencyKey: 'order-9' };
    const first = await server.gql(SUBSCRIBE, { input }, user.token);
    const again = await server.gql(SUBSCRIBE, { input }, user.token);
    expect(first.errors?.[0].extensions).toMatchObject({ code: 'PAYMENT_FAILED', declineCode: 'generic_decline' });
    expect(again.errors?.[0].extensions).toEqual(first.errors?.[0].extensions);
    const good = await server.gql(SUBSCRIBE, { input: { ...input, paymentMethod: 'pm_card_visa' } }, user.token);
    expect(good.data.subscribe.subscription.status).toBe('ACTIVE');
    const replay = await server.gql(SUBSCRIBE, { input: { ...input, paymentMethod: 'pm_card_visa' } }, user.token);
    expect(replay.data.subscribe.subscription).toEqual(good.data.subscribe.subscription);
    await server.emulator.idle(20_000);
    expect((await server.gql(MY_SUBSCRIPTIONS, undefined, user.token)).data.mySubscriptions.map((s: any) => s.id)).toEqual([
      good.data.subscribe.subscription.id,
    ]);
  });

  it('a retry of a 3-D Secure subscribe with the same key answers the same client secret', async () => {
    const user = await server.createUser();
    const input = { pricingId: premium, paymentMethod: 'pm_card_authenticationRequired', idempotencyKey: 'order-3ds' };
    const first = (await server.gql(SUBSCRIBE, { input }, user.token)).data.subscribe;
    const again = (await server.gql(SUBSCRIBE, { input }, user.token)).data.subscribe;
    expect(first.clientSecret).toMatch(/_secret_/);
    expect(again).toEqual(first);
    // While it waits for its authentication another subscribe is a CONFLICT that says so; canceling it ends it at once.
    const other = await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_visa' } }, user.token);
    expect(other.errors?.[0].extensions).toMatchObject({ code: 'CONFLICT', status: 'INCOMPLETE', subscriptionId: first.subscription.id });
    const canceled = (await server.gql(CANCEL, { id: first.subscription.id }, user.token)).data.cancelSubscription;
    expect(['CANCELED', 'INCOMPLETE_EXPIRED']).toContain(canceled.status);
    expect(canceled.endedAt).not.toBeNull();
    expect(['canceled', 'incomplete_expired']).toContain(
      (await server.stripe.subscriptions.retrieve(first.subscription.stripeSubscriptionId)).status,
    );
    const retry = await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_visa' } }, user.token);
    expect(retry.data.subscribe.subscription.status).toBe('ACTIVE');
  });

  it('every Stripe write of subscribe, 3-D Secure, decline, Checkout, cancel and resume carries an idempotency key made from our ids', async () => {
    const a = await server.createUser();
    const b = await server.createUser();
    const c = await server.createUser();
    await server.emulator.idle(20_000);
    writes.length = 0;
    const sub = (await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_visa' } }, a.token)).data.subscribe
      .subscription;
    await server.gql(CANCEL, { id: sub.id }, a.token);
    await server.gql(RESUME, { id: sub.id }, a.token);
    await server.gql(CANCEL, { id: sub.id }, a.token);
    await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_chargeCustomerFail' } }, b.token);
    const threeDs = (
      await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_authenticationRequired' } }, b.token)
    ).data.subscribe.subscription;
    await server.gql(CANCEL, { id: threeDs.id }, b.token);
    await server.gql(SUBSCRIBE, { input: { pricingId: premium } }, c.token);
    const { subscription: pass } = (await server.gql(SUBSCRIBE, { input: { pricingId: dayPass } }, c.token)).data.subscribe; // expires the first Checkout
    const [{ stripe_checkout_session_id: session }] = await sql(
      server.databaseUrl,
      'select stripe_checkout_session_id from subscription where id = $1',
      [pass.id],
    );
    const completed = await server.stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${session}/complete`, {});
    await fetch(completed.success_url.replace('{CHECKOUT_SESSION_ID}', session), { redirect: 'manual' }); // sets the Day Pass not to renew
    await server.emulator.idle(20_000);

    const ours = writes.filter((w) => !w.path.startsWith('/v1/test_helpers/'));
    const paths = ours.map((w) => w.path.replace(/\/(cus|pm|sub|cs)_\w+/g, '/$1_…'));
    for (const expected of [
      '/v1/customers',
      '/v1/payment_methods/pm_…/attach',
      '/v1/subscriptions',
      '/v1/subscriptions/sub_…',
      '/v1/checkout/sessions',
      '/v1/checkout/sessions/cs_…/expire',
    ]) {
      expect(paths).toContain(expected);
    }
    // Our ids: the users, their subscription rows, and the declined attempt's (its row was rolled back; Stripe's metadata names it).
    const ids = [
      a.id,
      b.id,
      c.id,
      ...(await sql(server.databaseUrl, 'select id from subscription where user_id = any($1)', [[a.id, b.id, c.id]])).map((r) => r.id),
    ];
    const declined = (
      await server.stripe.subscriptions.list({
        customer: (await sql(server.databaseUrl, 'select stripe_customer_id from app_user where id = $1', [b.id]))[0].stripe_customer_id,
        status: 'canceled',
      })
    ).data;
    expect(declined).toHaveLength(2); // the declined attempt, and the 3-D Secure one canceled above
    ids.push(...declined.map((s) => s.metadata.tollgate_subscription_id));
    for (const w of ours) {
      expect({ path: w.path, key: w.key }).toEqual({ path: w.path, key: expect.stringMatching(/^tollgate:/) });
      expect({ path: w.path, ours: ids.some((id) => w.key!.includes(id)) }).toEqual({ path: w.path, ours: true });
    }
  });

  it('mySubscriptions statuses are the enum of Stripe subscription statuses', async () => {
    const res = await server.gql(`{ __type(name: "SubscriptionStatus") { enumValues { name } } }`);
    expect(res.data.__type.enumValues.map((v: any) => v.name).sort()).toEqual([
      'ACTIVE',
      'CANCELED',
      'INCOMPLETE',
      'INCOMPLETE_EXPIRED',
      'PAST_DUE',
      'PAUSED',
      'TRIALING',
      'UNPAID',
    ]);
  });

  it('a user who already holds a paid subscription gets CONFLICT', async () => {
    const user = await server.createUser();
    await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_visa' } }, user.token);
    const res = await server.gql(SUBSCRIBE, { input: { pricingId: dayPass, paymentMethod: 'pm_card_visa' } }, user.token);
    expect(res.errors?.[0].extensions?.code).toBe('CONFLICT');
  });

  it("user B can neither see, cancel nor resume user A's subscription", async () => {
    const a = await server.createUser();
    const b = await server.createUser();
    const sub = (await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_visa' } }, a.token)).data.subscribe
      .subscription;
    expect((await server.gql(MY_SUBSCRIPTIONS, undefined, b.token)).data.mySubscriptions).toEqual([]);
    expect((await server.gql(CANCEL, { id: sub.id }, b.token)).errors?.[0].extensions?.code).toBe('NOT_FOUND');
    expect((await server.gql(RESUME, { id: sub.id }, b.token)).errors?.[0].extensions?.code).toBe('NOT_FOUND');
    expect((await server.stripe.subscriptions.retrieve(sub.stripeSubscriptionId)).cancel_at_period_end).toBe(false);
  });

  it('rejects bad input with BAD_USER_INPUT naming the field, and no writes', async () => {
    const user = await server.createUser();
    for (const [input, field] of [
      [{ pricingId: 'not-a-uuid', paymentMethod: 'pm_card_visa' }, 'pricingId'],
      [{ pricingId: premium, successUrl: 'javascript:alert(1)' }, 'successUrl'],
      [{ pricingId: premium, paymentMethod: 'pm_does_not_exist' }, 'paymentMethod'],
      [{ pricingId: premium, paymentMethod: 'pm_card_visa', idempotencyKey: '   ' }, 'idempotencyKey'],
      [{ pricingId: premium, paymentMethod: 'pm_card_visa', idempotencyKey: 'k'.repeat(201) }, 'idempotencyKey'],
      [{ pricingId: premium, idempotencyKey: 'k'.repeat(201) }, 'idempotencyKey'],
    ] as const) {
      const res = await server.gql(SUBSCRIBE, { input }, user.token);
      expect(res.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    }
    expect(await sql(server.databaseUrl, 'select id from subscription where user_id = $1', [user.id])).toEqual([]);
  });
});
