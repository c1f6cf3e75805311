import type Stripe from 'stripe';
import { advanceClock, MY_LIMITS, pricingId, SUBSCRIPTION_FIELDS, SUBSCRIBE, unix, userOnTestClock } from './support/billing';
import { startTestServer, type TestServer } from './support/server';

jest.setTimeout(120_000);

const HOUR = 3600;
const FIELDS = `${SUBSCRIPTION_FIELDS} scheduledChange { pricing { id lookupKey } effectiveAt }`;
const CHANGE = `mutation($input: ChangeSubscriptionInput!) { changeSubscription(input: $input) {
  kind amountCharged { amount amountMinor currency } clientSecret nextActionUrl subscription { ${FIELDS} } } }`;
const PREVIEW = `query($id: ID!, $pricingId: ID!) { previewSubscriptionChange(id: $id, pricingId: $pricingId) {
  kind pricing { id } amountDue { amount amountMinor currency } lines { description amount { amountMinor } periodStart periodEnd } effectiveAt newPeriodEnd } }`;
const CANCEL_SCHEDULED = `mutation($id: ID!) { cancelScheduledChange(id: $id) { ${FIELDS} } }`;
const MINE = `query { mySubscriptions { ${FIELDS} } }`;
const RECORD = `mutation($input: RecordUsageInput!) { recordUsage(input: $input) { used limit } }`;

describe('moving between plans', () => {
  let server: TestServer;
  let free: string;
  let dayPass: string;
  let premium: string;
  beforeAll(async () => {
    server = await startTestServer({ stripe: true });
    [free, dayPass, premium] = await Promise.all(['free', 'day_pass', 'premium'].map((code) => pricingId(server, code)));
  });
  afterAll(() => server.close());

  /** A user on a test clock subscribed to `pricing` with a card that pays. */
  async function subscribed(pricing: string) {
    const user = await userOnTestClock(server);
    const res = await server.gql(SUBSCRIBE, { input: { pricingId: pricing, paymentMethod: 'pm_card_visa' } }, user.token);
    expect(res.errors).toBeUndefined();
    await server.emulator.idle(20_000);
    return { user, sub: res.data.subscribe.subscription };
  }
  const stripeSub = (id: string) => server.stripe.subscriptions.retrieve(id);
  const clockTime = async (clock: string) => (await server.stripe.testHelpers.testClocks.retrieve(clock)).frozen_time;
  const change = (token: string, input: Record<string, unknown>) => server.gql(CHANGE, { input }, token);
  const mine = async (token: string) => (await server.gql(MINE, undefined, token)).data.mySubscriptions[0];
  /** A card that can be saved but declines every charge, made the subscription's default in Stripe. */
  async function cardOnFile(customer: string, stripeSubscriptionId: string, card: string) {
    const pm = await server.stripe.paymentMethods.attach(card, { customer });
    await server.stripe.subscriptions.update(stripeSubscriptionId, { default_payment_method: pm.id });
    await server.emulator.idle(20_000);
  }

  it('Plan.rank orders the plans', async () => {
    const { token } = await server.createUser();
    const res = await server.gql(`query { plans { code rank } myLimits { plan { code rank } } }`, undefined, token);
    expect(res.errors).toBeUndefined();
    expect(res.data.myLimits.plan).toEqual({ code: 'free', rank: 0 });
    expect(res.data.plans).toEqual([
      { code: 'free', rank: 0 },
      { code: 'day_pass', rank: 1 },
      { code: 'premium', rank: 2 },
    ]);
  });

  it('Day Pass to Premium: charged at once what the preview said (Stripe’s proration), limits switch, today’s usage is kept, and it renews', async () => {
    const { user, sub } = await subscribed(dayPass);
    expect((await server.gql(RECORD, { input: { metric: 'minutes', amount: 1000 } }, user.token)).data.recordUsage).toEqual({
      used: 1000,
      limit: 1440,
    });
    await advanceClock(server, user.clock.id, (await clockTime(user.clock.id)) + 6 * HOUR);

    const preview = (await server.gql(PREVIEW, { id: sub.id, pricingId: premium }, user.token)).data.previewSubscriptionChange;
    // 18 of the Day Pass's 24 hours are credited (-3.75), the new month is charged in full
    expect(preview).toMatchObject({
      kind: 'UPGRADE',
      pricing: { id: premium },
      amountDue: { amount: '196.25', amountMinor: 19625, currency: 'usd' },
    });
    expect(preview.lines.map((l: any) => l.amount.amountMinor)).toEqual([-375, 20000]);
    expect(preview.lines[0].description).toMatch(/^Unused time on Day Pass after /);
    expect((await stripeSub(sub.stripeSubscriptionId)).items.data[0]!.price.lookup_key).toBe('day_pass_daily');

    const res = await change(user.token, { id: sub.id, pricingId: premium });
    expect(res.errors).toBeUndefined();
    const changed = res.data.changeSubscription;
    expect(changed).toMatchObject({ kind: 'UPGRADE', amountCharged: preview.amountDue, clientSecret: null });
    expect(changed.subscription).toMatchObject({
      plan: { code: 'premium' },
      pricing: { id: premium },
      cancelAtPeriodEnd: false,
      scheduledChange: null,
    });
    expect(changed.subscription.currentPeriodEnd).toBe(preview.newPeriodEnd);

    const s = await server.stripe.subscriptions.retrieve(sub.stripeSubscriptionId, { expand: ['latest_invoice'] });
    const invoice = s.latest_invoice as Stripe.Invoice;
    expect(invoice).toMatchObject({ billing_reason: 'subscription_update', status: 'paid', amount_paid: 19625 });
    expect(s).toMatchObject({ cancel_at_period_end: false, pending_update: null });
    expect(s.items.data[0]!.price.lookup_key).toBe('premium_monthly');

    // the webhooks that follow agree, and the day's usage is still counted
    await server.emulator.idle(20_000);
    expect(await mine(user.token)).toMatchObject({ plan: { code: 'premium' }, cancelAtPeriodEnd: false });
    const limits = (await server.gql(MY_LIMITS, undefined, user.token)).data.myLimits;
    expect(limits.plan.code).toBe('premium');
    expect(limits.metrics.find((m: any) => m.metric === 'minutes')).toMatchObject({ used: 1000, limit: null });
    expect((await server.gql(RECORD, { input: { metric: 'minutes', amount: 1000 } }, user.token)).data.recordUsage.used).toBe(2000);

    // it renews monthly now
    await advanceClock(server, user.clock.id, unix(changed.subscription.currentPeriodEnd) + HOUR);
    expect(await mine(user.token)).toMatchObject({
      status: 'ACTIVE',
      plan: { code: 'premium' },
      currentPeriodStart: changed.subscription.currentPeriodEnd,
    });
  });

  it('Premium to Day Pass is scheduled for the period end, shown until then, and applied as the clock passes it', async () => {
    const { user, sub } = await subscribed(premium);
    const preview = (await server.gql(PREVIEW, { id: sub.id, pricingId: dayPass }, user.token)).data.previewSubscriptionChange;
    expect(preview).toMatchObject({ kind: 'DOWNGRADE', amountDue: { amountMinor: 0 }, lines: [], effectiveAt: sub.currentPeriodEnd });

    const res = await change(user.token, { id: sub.id, pricingId: dayPass });
    expect(res.errors).toBeUndefined();
    expect(res.data.changeSubscription).toMatchObject({
      kind: 'DOWNGRADE',
      amountCharged: null,
      subscription: { plan: { code: 'premium' }, scheduledChange: { pricing: { id: dayPass }, effectiveAt: sub.currentPeriodEnd } },
    });
    await server.emulator.idle(20_000);
    expect(await mine(user.token)).toMatchObject({
      plan: { code: 'premium' },
      scheduledChange: { pricing: { lookupKey: 'day_pass_daily' } },
    });
    expect((await stripeSub(sub.stripeSubscriptionId)).schedule).toEqual(expect.stringMatching(/^sub_sched_/));

    await advanceClock(server, user.clock.id, unix(sub.currentPeriodEnd) + HOUR);
    const moved = await mine(user.token);
    expect(moved).toMatchObject({
      status: 'ACTIVE',
      plan: { code: 'day_pass' },
      pricing: { id: dayPass },
      currentPeriodStart: sub.currentPeriodEnd,
      cancelAtPeriodEnd: true,
      scheduledChange: null,
    });
    const invoice = await server.stripe.invoices.retrieve((await stripeSub(sub.stripeSubscriptionId)).latest_invoice as string);
    expect(invoice).toMatchObject({ amount_paid: 500, status: 'paid' });

    // a Day Pass does not renew
    await advanceClock(server, user.clock.id, unix(moved.currentPeriodEnd) + HOUR);
    expect(await mine(user.token)).toMatchObject({ status: 'CANCELED' });
  });

  it('a scheduled change can be canceled: the subscription renews on its pricing', async () => {
    const { user, sub } = await subscribed(premium);
    await change(user.token, { id: sub.id, pricingId: dayPass });
    const res = await server.gql(CANCEL_SCHEDULED, { id: sub.id }, user.token);
    expect(res.errors).toBeUndefined();
    expect(res.data.cancelScheduledChange).toMatchObject({ plan: { code: 'premium' }, scheduledChange: null });
    expect((await stripeSub(sub.stripeSubscriptionId)).schedule).toBeNull();
    await advanceClock(server, user.clock.id, unix(sub.currentPeriodEnd) + HOUR);
    expect(await mine(user.token)).toMatchObject({
      plan: { code: 'premium' },
      currentPeriodStart: sub.currentPeriodEnd,
      scheduledChange: null,
    });
  });

  it('a declined upgrade leaves the old plan, here and in Stripe, and answers PAYMENT_FAILED with the decline code', async () => {
    const { user, sub } = await subscribed(dayPass);
    await cardOnFile(user.customerId, sub.stripeSubscriptionId, 'pm_card_chargeCustomerFail');
    const res = await change(user.token, { id: sub.id, pricingId: premium });
    expect(res.errors?.[0].extensions).toMatchObject({ code: 'PAYMENT_FAILED', declineCode: 'generic_decline' });
    const s = await server.stripe.subscriptions.retrieve(sub.stripeSubscriptionId, { expand: ['latest_invoice'] });
    expect(s).toMatchObject({ status: 'active', pending_update: null, cancel_at_period_end: true });
    expect(s.items.data[0]!.price.lookup_key).toBe('day_pass_daily');
    expect((s.latest_invoice as Stripe.Invoice).status).toBe('void');
    await server.emulator.idle(20_000);
    expect(await mine(user.token)).toMatchObject({ status: 'ACTIVE', plan: { code: 'day_pass' }, cancelAtPeriodEnd: true });
  });

  it('3-D Secure: the upgrade answers a client secret and applies once the payment is authenticated', async () => {
    const { user, sub } = await subscribed(dayPass);
    await cardOnFile(user.customerId, sub.stripeSubscriptionId, 'pm_card_authenticationRequired');
    const res = await change(user.token, { id: sub.id, pricingId: premium });
    expect(res.errors).toBeUndefined();
    const pending = res.data.changeSubscription;
    expect(pending).toMatchObject({ kind: 'UPGRADE', amountCharged: null, subscription: { plan: { code: 'day_pass' } } });
    expect(pending.clientSecret).toMatch(/^pi_.*_secret_/);
    expect(pending.nextActionUrl).toMatch(/\/authenticate\//);
    const intent = pending.clientSecret.split('_secret_')[0];
    await server.stripe.rawRequest('POST', `/v1/test_helpers/payment_intents/${intent}/authenticate`, { outcome: 'succeed' });
    await server.emulator.idle(20_000);
    expect(await mine(user.token)).toMatchObject({ plan: { code: 'premium' }, cancelAtPeriodEnd: false });
    expect(await stripeSub(sub.stripeSubscriptionId)).toMatchObject({ cancel_at_period_end: false, pending_update: null });
  });

  it('the same idempotency key changes once and answers the same; with another pricing option it is a CONFLICT', async () => {
    const { user, sub } = await subscribed(dayPass);
    const input = { id: sub.id, pricingId: premium, idempotencyKey: 'upgrade-1' };
    const first = await change(user.token, input);
    const second = await change(user.token, input);
    expect(first.errors).toBeUndefined();
    expect(second.data.changeSubscription).toEqual(first.data.changeSubscription);
    const invoices = await server.stripe.invoices.list({ subscription: sub.stripeSubscriptionId });
    expect(invoices.data.filter((i) => i.billing_reason === 'subscription_update')).toHaveLength(1);
    const other = await change(user.token, { ...input, pricingId: dayPass });
    expect(other.errors?.[0].extensions).toMatchObject({ code: 'CONFLICT', field: 'idempotencyKey' });
  });

  it('refuses the default plan, the same pricing option and a subscription not in force, changing nothing', async () => {
    const { user, sub } = await subscribed(premium);
    const toFree = await change(user.token, { id: sub.id, pricingId: free });
    expect(toFree.errors?.[0]).toMatchObject({
      message: expect.stringContaining('cancelSubscription'),
      extensions: { code: 'BAD_USER_INPUT', reason: 'DEFAULT_PLAN' },
    });
    const same = await change(user.token, { id: sub.id, pricingId: premium });
    expect(same.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'SAME_PRICING' });
    const preview = await server.gql(PREVIEW, { id: sub.id, pricingId: free }, user.token);
    expect(preview.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'DEFAULT_PLAN' });
    const bad = await change(user.token, { id: sub.id, pricingId: 'not-an-id' });
    expect(bad.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'pricingId' });
    const s = await stripeSub(sub.stripeSubscriptionId);
    expect(s.schedule).toBeNull();
    expect(s.items.data[0]!.price.lookup_key).toBe('premium_monthly');

    await server.stripe.subscriptions.cancel(sub.stripeSubscriptionId);
    await server.emulator.idle(20_000);
    const ended = await change(user.token, { id: sub.id, pricingId: dayPass });
    expect(ended.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'NOT_IN_FORCE' });
    const other = await server.createUser();
    const foreign = await change(other.token, { id: sub.id, pricingId: dayPass });
    expect(foreign.errors?.[0].extensions?.code).toBe('NOT_FOUND');
  });
});
