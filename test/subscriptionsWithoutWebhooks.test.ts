import { getLimits } from '../src/billing/limits';
import { sql } from './support/db';
import { oneShotFaults } from './support/faults';
import { CANCEL, MY_LIMITS, MY_SUBSCRIPTIONS, pricingId, RESUME, SUBSCRIBE } from './support/billing';
import { startTestServer, type TestServer } from './support/server';

jest.setTimeout(120_000);

// HTTP 500 right after the next subscription is made (Stripe made it, its answer is lost).
const faults = oneShotFaults({ 'customer.subscription.created': 'the subscription was made, the answer was lost' });

/**
 * No webhook endpoint at all: what Tollgate knows comes from its own calls and from asking Stripe. Each
 * test shows that a late (or lost) webhook cannot make a user's billing wrong.
 */
describe('subscriptions when no webhook arrives', () => {
  let server: TestServer;
  let premium: string;
  let dayPass: string;
  beforeAll(async () => {
    server = await startTestServer({ stripe: true, webhooks: false, emulatorModules: [faults.module] });
    [premium, dayPass] = await Promise.all([pricingId(server, 'premium'), pricingId(server, 'day_pass')]);
  });
  afterAll(() => server.close());

  const customerOf = async (userId: string): Promise<string> =>
    (await sql(server.databaseUrl, 'select stripe_customer_id from app_user where id = $1', [userId]))[0].stripe_customer_id;
  const limits = async (token: string) => (await server.gql(MY_LIMITS, undefined, token)).data.myLimits;
  const mySubscriptions = async (token: string) => (await server.gql(MY_SUBSCRIPTIONS, undefined, token)).data.mySubscriptions;
  /** Moves a subscription's stored period back by `ms`, as if that much time had passed since it was bought. */
  const timePasses = (subscriptionId: string, ms: number) =>
    sql(
      server.databaseUrl,
      `update subscription set current_period_start = current_period_start - $2 * interval '1 millisecond',
                               current_period_end = current_period_end - $2 * interval '1 millisecond' where id = $1`,
      [subscriptionId, ms],
    );

  it('a subscription Stripe has but our rows do not show yet makes subscribe a CONFLICT, and appears in mySubscriptions', async () => {
    const user = await server.createUser();
    await server.gql(SUBSCRIBE, { input: { pricingId: premium } }, user.token); // makes the customer (and an open Checkout)
    const customer = await customerOf(user.id);
    const [{ stripe_price_id: price }] = await sql(server.databaseUrl, `select stripe_price_id from plan_pricing where id = $1`, [premium]);
    const pm = await server.stripe.paymentMethods.attach('pm_card_visa', { customer });
    const made = await server.stripe.subscriptions.create({ customer, items: [{ price }], default_payment_method: pm.id }); // as in Stripe's dashboard

    const res = await server.gql(SUBSCRIBE, { input: { pricingId: dayPass, paymentMethod: 'pm_card_visa' } }, user.token);
    expect(res.errors?.[0].extensions?.code).toBe('CONFLICT');
    expect((await server.stripe.subscriptions.list({ customer })).data.map((s) => s.id)).toEqual([made.id]);
    const mine = await mySubscriptions(user.token);
    expect(mine.find((s: any) => s.stripeSubscriptionId === made.id)).toMatchObject({ status: 'ACTIVE', plan: { code: 'premium' } });
    expect(res.errors?.[0].extensions?.subscriptionId).toBe(mine.find((s: any) => s.stripeSubscriptionId === made.id).id);
    expect(await limits(user.token)).toMatchObject({ plan: { code: 'premium' }, source: 'SUBSCRIPTION' });
  });

  it('Stripe made the subscription but its answer was lost: a retry with the same key gets that subscription, never a second one', async () => {
    const user = await server.createUser();
    const input = { pricingId: premium, paymentMethod: 'pm_card_visa', idempotencyKey: 'buy-premium-1' };
    faults.arm('customer.subscription.created');
    const lost = await server.gql(SUBSCRIBE, { input }, user.token);
    expect(faults.armed('customer.subscription.created')).toBe(false);
    expect(lost.errors?.[0].extensions?.code).toBe('PAYMENT_SERVICE_UNAVAILABLE');
    expect(await sql(server.databaseUrl, 'select id from subscription where user_id = $1', [user.id])).toEqual([]);
    const customer = await customerOf(user.id);
    const [made] = (await server.stripe.subscriptions.list({ customer })).data;
    expect(made).toMatchObject({ status: 'active', metadata: expect.objectContaining({ tollgate_idempotency_key: 'buy-premium-1' }) });

    const retry = await server.gql(SUBSCRIBE, { input }, user.token);
    expect(retry.errors).toBeUndefined();
    expect(retry.data.subscribe.subscription).toMatchObject({
      id: made.metadata.tollgate_subscription_id,
      stripeSubscriptionId: made.id,
      status: 'ACTIVE',
    });
    const again = await server.gql(SUBSCRIBE, { input }, user.token);
    expect(again.data.subscribe.subscription.id).toBe(retry.data.subscribe.subscription.id);
    expect((await server.stripe.subscriptions.list({ customer, status: 'all' })).data).toHaveLength(1);
    expect(await mySubscriptions(user.token)).toHaveLength(1);
  });

  it('Stripe made the subscription but its answer was lost: a retry without a key is a CONFLICT, never a second one', async () => {
    const user = await server.createUser();
    faults.arm('customer.subscription.created');
    const lost = await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_visa' } }, user.token);
    expect(lost.errors?.[0].extensions?.code).toBe('PAYMENT_SERVICE_UNAVAILABLE');
    const retry = await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_visa' } }, user.token);
    expect(retry.errors?.[0].extensions?.code).toBe('CONFLICT');
    expect((await server.stripe.subscriptions.list({ customer: await customerOf(user.id), status: 'all' })).data).toHaveLength(1);
    expect((await mySubscriptions(user.token)).map((s: any) => s.status)).toEqual(['ACTIVE']);
  });

  it('a Day Pass gives way to Free 24 hours after purchase, with no job and no webhook', async () => {
    const user = await server.createUser();
    const sub = (await server.gql(SUBSCRIBE, { input: { pricingId: dayPass, paymentMethod: 'pm_card_visa' } }, user.token)).data.subscribe
      .subscription;
    const end = new Date(sub.currentPeriodEnd);
    expect(end.getTime() - new Date(sub.currentPeriodStart).getTime()).toBe(24 * 3600 * 1000);
    // At the very instant the 24 hours are over, and not a millisecond before.
    const owner = { id: user.id, timezone: 'UTC' };
    expect((await getLimits(server.em(), owner, new Date(end.getTime() - 1))).plan.code).toBe('day_pass');
    expect(await getLimits(server.em(), owner, end)).toMatchObject({ plan: { code: 'free' }, source: 'DEFAULT_PLAN' });

    expect(await limits(user.token)).toMatchObject({ plan: { code: 'day_pass' } });
    await timePasses(sub.id, 24 * 3600 * 1000);
    expect(await limits(user.token)).toMatchObject({ plan: { code: 'free' }, source: 'DEFAULT_PLAN' });
    // Nothing told us it ended: our copy still says ACTIVE, and the limits do not depend on it.
    expect((await mySubscriptions(user.token))[0]).toMatchObject({ status: 'ACTIVE', cancelAtPeriodEnd: true });
  });

  it('a canceled Premium stays Premium until its period ends, then Free, with no job and no webhook', async () => {
    const user = await server.createUser();
    const sub = (await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_visa' } }, user.token)).data.subscribe
      .subscription;
    expect((await server.gql(CANCEL, { id: sub.id }, user.token)).data.cancelSubscription).toMatchObject({ cancelAtPeriodEnd: true });
    const end = new Date(sub.currentPeriodEnd);
    const owner = { id: user.id, timezone: 'UTC' };
    expect((await getLimits(server.em(), owner, new Date(end.getTime() - 1))).plan.code).toBe('premium');
    expect((await getLimits(server.em(), owner, end)).plan.code).toBe('free');

    expect(await limits(user.token)).toMatchObject({ plan: { code: 'premium' } });
    await timePasses(sub.id, end.getTime() - Date.now() + 1000);
    expect(await limits(user.token)).toMatchObject({ plan: { code: 'free' }, source: 'DEFAULT_PLAN' });
  });

  it('a renewing Premium past its period end, renewal not heard of yet, still holds: Premium limits, and buying a Day Pass is a CONFLICT', async () => {
    const user = await server.createUser();
    const sub = (await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_visa' } }, user.token)).data.subscribe
      .subscription;
    await timePasses(sub.id, new Date(sub.currentPeriodEnd).getTime() - Date.now() + 60_000);
    expect(await limits(user.token)).toMatchObject({ plan: { code: 'premium' } });
    const again = await server.gql(SUBSCRIBE, { input: { pricingId: dayPass, paymentMethod: 'pm_card_visa' } }, user.token);
    expect(again.errors?.[0].extensions).toMatchObject({ code: 'CONFLICT', subscriptionId: sub.id });
  });

  it('cancel or resume of a subscription that ended in Stripe meanwhile is BAD_USER_INPUT and brings it up to date', async () => {
    const user = await server.createUser();
    const a = (await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_visa' } }, user.token)).data.subscribe
      .subscription;
    await server.stripe.subscriptions.cancel(a.stripeSubscriptionId); // in Stripe's dashboard; no webhook tells us
    const cancel = await server.gql(CANCEL, { id: a.id }, user.token);
    expect(cancel.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'id' });
    expect(cancel.errors?.[0].message).toMatch(/already ended/);
    expect((await mySubscriptions(user.token))[0]).toMatchObject({ id: a.id, status: 'CANCELED' });
    expect((await mySubscriptions(user.token))[0].endedAt).not.toBeNull();

    const b = (await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_visa' } }, user.token)).data.subscribe
      .subscription;
    await server.gql(CANCEL, { id: b.id }, user.token);
    await server.stripe.subscriptions.cancel(b.stripeSubscriptionId);
    const resume = await server.gql(RESUME, { id: b.id }, user.token);
    expect(resume.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'id' });
    expect((await mySubscriptions(user.token)).find((s: any) => s.id === b.id)).toMatchObject({ status: 'CANCELED' });
    expect(await limits(user.token)).toMatchObject({ plan: { code: 'free' } });
  });
});
