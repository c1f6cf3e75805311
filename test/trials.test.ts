import { advanceClock, CANCEL, MY_LIMITS, pricingId, SUBSCRIBE, unix, userOnTestClock } from './support/billing';
import { runScript } from './support/cli';
import { createTestDatabase, sql } from './support/db';
import { startTestServer, type TestServer } from './support/server';

jest.setTimeout(120_000);

// Free trials through GraphQL: the admin sets a pricing option's trialDays, a subscriber is TRIALING with the
// plan's limits and nothing charged, Stripe's trial_will_end reaches the product as an event, and at the end
// of the trial (a test clock) the card is charged, or declined and the subscription follows Stripe.

const DAY = 86_400;
const TRIAL_FIELDS = `id status trialEnd currentPeriodStart currentPeriodEnd cancelAtPeriodEnd plan { code } pricing { trialDays }`;
const SUBSCRIBE_TRIAL = `mutation($input: SubscribeInput!) { subscribe(input: $input) { subscription { ${TRIAL_FIELDS} stripeSubscriptionId } checkoutUrl } }`;
const MINE = `query { mySubscriptions { ${TRIAL_FIELDS} stripeSubscriptionId } }`;
const UPDATE_PRICING = `mutation($id: ID!, $input: PricingOptionChangeInput!) { updatePricingOption(id: $id, input: $input) { id trialDays autoRenew } }`;
const ADD_PRICING = `mutation($code: String!, $input: PricingOptionInput!) { addPricingOption(planCode: $code, input: $input) { lookupKey trialDays } }`;
const PLANS = `query { plans { code pricingOptions { lookupKey trialDays } } }`;

describe('free trials', () => {
  let server: TestServer;
  let admin: string;
  let premium: string;
  beforeAll(async () => {
    server = await startTestServer({ stripe: true });
    admin = (await server.createUser({ admin: true })).token;
    premium = await pricingId(server, 'premium');
    const set = await server.gql(UPDATE_PRICING, { id: premium, input: { trialDays: 14 } }, admin);
    expect(set.errors).toBeUndefined();
    expect(set.data.updatePricingOption).toEqual({ id: premium, trialDays: 14, autoRenew: true });
  });
  afterAll(() => server.close());

  const mine = async (token: string) => (await server.gql(MINE, undefined, token)).data.mySubscriptions;
  const planOf = async (token: string) => (await server.gql(MY_LIMITS, undefined, token)).data.myLimits.plan.code;
  const invoicesOf = async (stripeSubscriptionId: string) =>
    (await server.stripe.invoices.list({ subscription: stripeSubscriptionId })).data.reverse();

  async function trialing(card: string) {
    const user = await userOnTestClock(server);
    const res = await server.gql(SUBSCRIBE_TRIAL, { input: { pricingId: premium, paymentMethod: card } }, user.token);
    expect(res.errors).toBeUndefined();
    return { user, sub: res.data.subscribe.subscription };
  }

  it('admins set trialDays on pricing options; out of range, or on an option that does not renew, is refused', async () => {
    expect(
      (await server.gql(PLANS, undefined, admin)).data.plans.find((p: { code: string }) => p.code === 'premium').pricingOptions,
    ).toEqual([{ lookupKey: 'premium_monthly', trialDays: 14 }]);
    const added = await server.gql(
      ADD_PRICING,
      { code: 'premium', input: { lookupKey: 'premium_yearly_trial', amount: '2000', currency: 'usd', interval: 'YEAR', trialDays: 30 } },
      admin,
    );
    expect(added.data.addPricingOption).toEqual({ lookupKey: 'premium_yearly_trial', trialDays: 30 });
    const tooLong = await server.gql(UPDATE_PRICING, { id: premium, input: { trialDays: 731 } }, admin);
    expect(tooLong.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'trialDays' });
    const negative = await server.gql(UPDATE_PRICING, { id: premium, input: { trialDays: -1 } }, admin);
    expect(negative.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'trialDays' });
    const dayPass = await pricingId(server, 'day_pass');
    const noRenew = await server.gql(UPDATE_PRICING, { id: dayPass, input: { trialDays: 3 } }, admin);
    expect(noRenew.errors?.[0]).toMatchObject({ message: expect.stringMatching(/renews/), extensions: { code: 'BAD_USER_INPUT' } });
    const [row] = await sql(server.databaseUrl, 'select trial_days from plan_pricing where id = $1', [dayPass]);
    expect(row.trial_days).toBe(0);
    const user = await server.createUser();
    const forbidden = await server.gql(UPDATE_PRICING, { id: premium, input: { trialDays: 1 } }, user.token);
    expect(forbidden.errors?.[0].extensions).toMatchObject({ code: 'FORBIDDEN' });
  });

  it('a card subscriber is TRIALING with the plan at once and nothing charged; the card is charged at the end of the trial', async () => {
    const { user, sub } = await trialing('pm_card_visa');
    expect(sub).toMatchObject({
      status: 'TRIALING',
      plan: { code: 'premium' },
      pricing: { trialDays: 14 },
      currentPeriodEnd: sub.trialEnd,
    });
    expect(unix(sub.trialEnd) - unix(sub.currentPeriodStart)).toBe(14 * DAY);
    expect(await planOf(user.token)).toBe('premium');
    const [first] = await invoicesOf(sub.stripeSubscriptionId);
    expect(first).toMatchObject({ status: 'paid', amount_paid: 0 });
    expect((await server.stripe.paymentIntents.list({ customer: user.customerId })).data).toEqual([]);

    await advanceClock(server, user.clock.id, unix(sub.trialEnd) - 3 * DAY + 60);
    expect((await server.stripe.paymentIntents.list({ customer: user.customerId })).data).toEqual([]);
    await advanceClock(server, user.clock.id, unix(sub.trialEnd) + 3600);
    const [after] = await mine(user.token);
    expect(after).toMatchObject({ status: 'ACTIVE', trialEnd: sub.trialEnd, currentPeriodStart: sub.trialEnd });
    const charged = (await invoicesOf(sub.stripeSubscriptionId))[1];
    expect(charged).toMatchObject({ status: 'paid', amount_paid: 20000, currency: 'usd', billing_reason: 'subscription_cycle' });
    expect(await planOf(user.token)).toBe('premium');
    const events = await sql(
      server.databaseUrl,
      `select type, data from outbox_event where user_id = $1 and type like 'subscription.%' order by seq`,
      [user.id],
    );
    // created INCOMPLETE before Stripe is asked, then TRIALING with Stripe's answer
    expect(events.map((e) => e.type)).toEqual([
      'subscription.created',
      'subscription.updated',
      'subscription.trial_will_end',
      'subscription.renewed',
    ]);
    expect(events[3].data).toMatchObject({ object: { status: 'active' }, previous: { status: 'trialing' } });
  });

  it('trial_will_end three days before the end: synced, and the product gets subscription.trial_will_end with the trial end', async () => {
    const { user, sub } = await trialing('pm_card_visa');
    await advanceClock(server, user.clock.id, unix(sub.trialEnd) - 3 * DAY + 60);
    const [inbox] = await sql(
      server.databaseUrl,
      `select status, outcome from stripe_event where type = 'customer.subscription.trial_will_end' and payload->'data'->'object'->>'id' = $1`,
      [sub.stripeSubscriptionId],
    );
    expect(inbox).toMatchObject({ status: 'processed', outcome: expect.stringMatching(/the product is told the trial ends/) });
    const events = await sql(
      server.databaseUrl,
      `select data from outbox_event where user_id = $1 and type = 'subscription.trial_will_end'`,
      [user.id],
    );
    expect(events).toHaveLength(1);
    expect(events[0].data.object).toMatchObject({ id: sub.id, status: 'trialing', trialEnd: sub.trialEnd });
    expect((await mine(user.token))[0].status).toBe('TRIALING');
  });

  it('a card declined at the end of the trial: PAST_DUE with the plan kept for the grace days, then the default plan', async () => {
    const { user, sub } = await trialing('pm_card_chargeCustomerFail');
    expect(sub.status).toBe('TRIALING');
    await advanceClock(server, user.clock.id, unix(sub.trialEnd) + 3600);
    expect((await mine(user.token))[0]).toMatchObject({ status: 'PAST_DUE', currentPeriodStart: sub.trialEnd });
    const open = (await invoicesOf(sub.stripeSubscriptionId))[1];
    expect(open).toMatchObject({ status: 'open', amount_remaining: 20000, attempt_count: 1 });
    expect(await planOf(user.token)).toBe('premium');
    const updated = (
      await sql(server.databaseUrl, `select data from outbox_event where user_id = $1 and type = 'subscription.updated' order by seq`, [
        user.id,
      ])
    ).at(-1);
    expect(updated?.data).toMatchObject({ object: { status: 'past_due' }, previous: { status: 'trialing' } });

    // The emulator makes no automatic retries (as Stripe without Smart Retries): past the past-due grace the default plan applies.
    await sql(server.databaseUrl, `update subscription set current_period_start = now() - interval '4 days' where id = $1`, [sub.id]);
    expect(await planOf(user.token)).toBe('free');
  });

  it('one trial per user and plan: canceled during its trial nothing is charged, and subscribing again charges at once', async () => {
    const { user, sub } = await trialing('pm_card_visa');
    expect((await server.gql(CANCEL, { id: sub.id }, user.token)).data.cancelSubscription).toMatchObject({ cancelAtPeriodEnd: true });
    await advanceClock(server, user.clock.id, unix(sub.trialEnd) + 3600);
    expect((await mine(user.token))[0]).toMatchObject({ status: 'CANCELED' });
    expect((await server.stripe.paymentIntents.list({ customer: user.customerId })).data).toEqual([]);

    const again = await server.gql(SUBSCRIBE_TRIAL, { input: { pricingId: premium, paymentMethod: 'pm_card_visa' } }, user.token);
    expect(again.errors).toBeUndefined();
    expect(again.data.subscribe.subscription).toMatchObject({ status: 'ACTIVE', trialEnd: null });
    expect((await invoicesOf(again.data.subscribe.subscription.stripeSubscriptionId))[0]).toMatchObject({
      status: 'paid',
      amount_paid: 20000,
    });
  });

  it('Checkout with a trial: nothing to pay today, TRIALING once completed, the saved card charged at the end', async () => {
    const user = await userOnTestClock(server);
    const res = await server.gql(SUBSCRIBE_TRIAL, { input: { pricingId: premium } }, user.token);
    expect(res.errors).toBeUndefined();
    const { subscription, checkoutUrl } = res.data.subscribe;
    const sessionId = new URL(checkoutUrl).pathname.split('/').pop() as string;
    const session = await server.stripe.checkout.sessions.retrieve(sessionId);
    expect(session).toMatchObject({ mode: 'subscription', amount_total: 0 });

    await server.stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${sessionId}/complete`, { card_number: '4242424242424242' });
    await server.emulator.idle(20_000);
    const [trial] = await mine(user.token);
    expect(trial).toMatchObject({ id: subscription.id, status: 'TRIALING', trialEnd: expect.any(String) });
    expect(unix(trial.trialEnd) - unix(trial.currentPeriodStart)).toBe(14 * DAY);
    expect(await planOf(user.token)).toBe('premium');

    await advanceClock(server, user.clock.id, unix(trial.trialEnd) + 3600);
    expect((await mine(user.token))[0]).toMatchObject({ status: 'ACTIVE' });
    expect((await invoicesOf(trial.stripeSubscriptionId))[1]).toMatchObject({ status: 'paid', amount_paid: 20000 });
  });

  it('a trial ended early in Stripe (trial_end=now): charged at once and ACTIVE here; no trial_will_end for a trial already over', async () => {
    const { user, sub } = await trialing('pm_card_visa');
    await server.stripe.subscriptions.update(sub.stripeSubscriptionId, { trial_end: 'now' });
    await server.emulator.idle(20_000);
    const [after] = await mine(user.token);
    expect(after).toMatchObject({ status: 'ACTIVE', trialEnd: after.currentPeriodStart });
    expect(unix(after.trialEnd)).toBeLessThan(unix(sub.trialEnd));
    expect((await invoicesOf(sub.stripeSubscriptionId))[1]).toMatchObject({ status: 'paid', amount_paid: 20000 });
    const [inbox] = await sql(
      server.databaseUrl,
      `select status, outcome from stripe_event where type = 'customer.subscription.trial_will_end' and payload->'data'->'object'->>'id' = $1`,
      [sub.stripeSubscriptionId],
    );
    expect(inbox).toMatchObject({ status: 'processed', outcome: expect.stringMatching(/no trial to announce/) });
    const notices = await sql(
      server.databaseUrl,
      `select 1 from outbox_event where user_id = $1 and type = 'subscription.trial_will_end'`,
      [user.id],
    );
    expect(notices).toEqual([]);
  });

  it('an option without a trial subscribes as before', async () => {
    const user = await userOnTestClock(server);
    const res = await server.gql(
      SUBSCRIBE,
      { input: { pricingId: await pricingId(server, 'day_pass'), paymentMethod: 'pm_card_visa' } },
      user.token,
    );
    expect(res.data.subscribe.subscription).toMatchObject({ status: 'ACTIVE' });
  });
});

describe('npm run seed --premium-trial-days', () => {
  it('sets the trial, keeps it when the flag is left out, and refuses what is not a number of days', async () => {
    const url = await createTestDatabase('seed_trials');
    const trial = async () => (await sql(url, `select trial_days from plan_pricing where lookup_key = 'premium_monthly'`))[0].trial_days;
    expect((await runScript('seed', [], { DATABASE_URL: url })).code).toBe(0);
    expect(await trial()).toBe(0);
    const set = await runScript('seed', ['--premium-trial-days', '14'], { DATABASE_URL: url });
    expect(set.stdout).toMatch(/1 updated \(premium\)/);
    expect(await trial()).toBe(14);
    const kept = await runScript('seed', ['--premium-amount', '150'], { DATABASE_URL: url });
    expect(kept.code).toBe(0);
    expect(await trial()).toBe(14);
    const bad = await runScript('seed', ['--premium-trial-days', 'two'], { DATABASE_URL: url });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--premium-trial-days must be a whole number of days/);
    const tooLong = await runScript('seed', ['--premium-trial-days', '800'], { DATABASE_URL: url });
    expect(tooLong.code).toBe(1);
    expect(tooLong.stderr).toMatch(/premium trial days \(800\): trialDays is at most 730/);
    expect(await trial()).toBe(14);
  });
});
