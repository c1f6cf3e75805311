import { CANCEL, MY_SUBSCRIPTIONS, PENDING_CHECKOUT, pricingId, SUBSCRIBE, USER_SUBSCRIPTIONS } from './support/billing';
import { sql } from './support/db';
import { startTestServer, type TestServer } from './support/server';

jest.setTimeout(120_000);

/** mySubscriptions lists what is or was in force; an unpaid Checkout is the user's pendingCheckout instead; admins see attempts. */
describe('which subscriptions are listed', () => {
  let server: TestServer;
  let premium: string;
  let dayPass: string;
  beforeAll(async () => {
    server = await startTestServer({ stripe: true });
    [premium, dayPass] = await Promise.all([pricingId(server, 'premium'), pricingId(server, 'day_pass')]);
  });
  afterAll(() => server.close());

  const mine = async (token: string) => (await server.gql(MY_SUBSCRIPTIONS, undefined, token)).data.mySubscriptions;
  const pending = async (token: string) => (await server.gql(PENDING_CHECKOUT, undefined, token)).data.me.pendingCheckout;
  const sessionOf = async (id: string): Promise<string> =>
    (await sql(server.databaseUrl, 'select stripe_checkout_session_id from subscription where id = $1', [id]))[0]
      .stripe_checkout_session_id;

  it('an open Checkout is not listed but is me.pendingCheckout; abandoned (expired unpaid) it is neither; admins see the attempt', async () => {
    const user = await server.createUser();
    const { subscription, checkoutUrl } = (await server.gql(SUBSCRIBE, { input: { pricingId: premium } }, user.token)).data.subscribe;
    expect(await mine(user.token)).toEqual([]);
    const open = await pending(user.token);
    const session = await server.stripe.checkout.sessions.retrieve(await sessionOf(subscription.id));
    expect(open).toEqual({
      subscriptionId: subscription.id,
      url: checkoutUrl,
      expiresAt: new Date(session.expires_at * 1000).toISOString(),
    });

    await server.stripe.checkout.sessions.expire(session.id);
    await server.emulator.idle(10_000);
    expect(await mine(user.token)).toEqual([]);
    expect(await pending(user.token)).toBeNull();

    const admin = await server.createUser({ admin: true });
    const seen = await server.gql(USER_SUBSCRIPTIONS, { userId: user.id }, admin.token);
    expect(seen.data.subscriptions).toEqual([expect.objectContaining({ id: subscription.id, status: 'INCOMPLETE_EXPIRED' })]);
  });

  it('a paid subscription is listed, the abandoned Checkout before it is not', async () => {
    const user = await server.createUser();
    const first = (await server.gql(SUBSCRIBE, { input: { pricingId: dayPass } }, user.token)).data.subscribe.subscription;
    // Paying by card instead expires the open Checkout.
    const paid = (await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_visa' } }, user.token)).data.subscribe
      .subscription;
    await server.emulator.idle(10_000);
    expect((await mine(user.token)).map((s: any) => [s.id, s.status])).toEqual([[paid.id, 'ACTIVE']]);
    expect(await pending(user.token)).toBeNull();
    const admin = await server.createUser({ admin: true });
    const seen = (await server.gql(USER_SUBSCRIPTIONS, { userId: user.id }, admin.token)).data.subscriptions;
    expect(seen.map((s: any) => [s.id, s.status])).toEqual([
      [paid.id, 'ACTIVE'],
      [first.id, 'INCOMPLETE_EXPIRED'],
    ]);
  });

  it('a card subscription waiting for 3-D Secure is listed (the user completes or cancels it)', async () => {
    const user = await server.createUser();
    const res = await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_authenticationRequired' } }, user.token);
    const { subscription } = res.data.subscribe;
    expect((await mine(user.token)).map((s: any) => [s.id, s.status])).toEqual([[subscription.id, 'INCOMPLETE']]);
    expect(await pending(user.token)).toBeNull();
  });

  it('a 3-D Secure attempt canceled before it was paid is no longer listed; a subscription that ran and ended still is', async () => {
    const user = await server.createUser();
    const res = await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_authenticationRequired' } }, user.token);
    const attempt = res.data.subscribe.subscription;
    expect((await server.gql(CANCEL, { id: attempt.id }, user.token)).data.cancelSubscription.status).toBe('CANCELED');
    await server.emulator.idle(10_000);
    expect(await mine(user.token)).toEqual([]);

    const ran = (await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_visa' } }, user.token)).data.subscribe
      .subscription;
    const stripeId = (await sql(server.databaseUrl, 'select stripe_subscription_id from subscription where id = $1', [ran.id]))[0]
      .stripe_subscription_id;
    await server.stripe.subscriptions.cancel(stripeId);
    await server.emulator.idle(10_000);
    expect((await mine(user.token)).map((s: any) => [s.id, s.status])).toEqual([[ran.id, 'CANCELED']]);
    const admin = await server.createUser({ admin: true });
    const seen = (await server.gql(USER_SUBSCRIPTIONS, { userId: user.id }, admin.token)).data.subscriptions;
    expect(seen.map((s: any) => s.id)).toEqual([ran.id, attempt.id]);
  });

  it('only admins see attempts: subscriptions(userId) is FORBIDDEN to a user and to a billing key; an unknown user is NOT_FOUND', async () => {
    const user = await server.createUser();
    const other = await server.createUser();
    const asUser = await server.gql(USER_SUBSCRIPTIONS, { userId: other.id }, user.token);
    expect(asUser.errors?.[0].extensions?.code).toBe('FORBIDDEN');
    const ownAsUser = await server.gql(USER_SUBSCRIPTIONS, { userId: user.id }, user.token);
    expect(ownAsUser.errors?.[0].extensions?.code).toBe('FORBIDDEN');
    const admin = await server.createUser({ admin: true });
    for (const userId of ['00000000-0000-4000-8000-000000000000', 'not-an-id', 'x'.repeat(5000)]) {
      const res = await server.gql(USER_SUBSCRIPTIONS, { userId }, admin.token);
      expect(res.errors?.[0].extensions?.code).toMatch(/^(NOT_FOUND|BAD_USER_INPUT)$/);
    }
  });
});
