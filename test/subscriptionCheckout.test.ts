import { sql } from './support/db';
import { MY_LIMITS, MY_SUBSCRIPTIONS, PENDING_CHECKOUT, pricingId, SUBSCRIBE, subscriptionsOf } from './support/billing';
import { startTestServer, type TestServer } from './support/server';

/** Where Stripe sends the person after paying: success_url with {CHECKOUT_SESSION_ID} filled in. */
function landingUrl(session: { id: string; success_url: string }): string {
  return session.success_url.replace('{CHECKOUT_SESSION_ID}', session.id);
}

jest.setTimeout(120_000);

/** The Checkout path, with webhooks off: coming back to the success URL alone must be enough. */
describe('subscribing through Stripe Checkout', () => {
  let server: TestServer;
  let premium: string;
  beforeAll(async () => {
    server = await startTestServer({ stripe: true, webhooks: false });
    premium = await pricingId(server, 'premium');
  });
  afterAll(() => server.close());

  it('checkoutUrl → pay on the hosted page (its API equivalent) → back to the success URL → active', async () => {
    const user = await server.createUser();
    const res = await server.gql(
      SUBSCRIBE,
      { input: { pricingId: premium, successUrl: 'https://app.example.com/thanks', cancelUrl: 'https://app.example.com/pricing' } },
      user.token,
    );
    expect(res.errors).toBeUndefined();
    const { subscription, checkoutUrl } = res.data.subscribe;
    expect(checkoutUrl).toMatch(new RegExp(`^${server.emulator.url}/`));
    expect(subscription).toMatchObject({ status: 'INCOMPLETE', stripeSubscriptionId: null });
    expect((await server.gql(MY_LIMITS, undefined, user.token)).data.myLimits.plan.code).toBe('free');

    const [{ stripe_checkout_session_id: sessionId }] = await sql(
      server.databaseUrl,
      'select stripe_checkout_session_id from subscription where id = $1',
      [subscription.id],
    );
    const session = await server.stripe.checkout.sessions.retrieve(sessionId);
    expect(session).toMatchObject({ mode: 'subscription', status: 'open', client_reference_id: user.id, url: checkoutUrl });

    const completed = await server.stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${sessionId}/complete`, {
      card_number: '4242424242424242',
    });
    expect(completed.status).toBe('complete');
    // Stripe keeps the {CHECKOUT_SESSION_ID} template in success_url and fills it in when it redirects.
    const successUrl = landingUrl(completed);
    expect(successUrl).toBe(`${server.url}/subscriptions/${subscription.id}/success?session_id=${sessionId}`);

    const back = await fetch(successUrl, { redirect: 'manual' });
    expect(back.status).toBe(303);
    expect(back.headers.get('location')).toBe('https://app.example.com/thanks');

    const [mine] = (await server.gql(MY_SUBSCRIPTIONS, undefined, user.token)).data.mySubscriptions;
    expect(mine).toMatchObject({ id: subscription.id, status: 'ACTIVE', plan: { code: 'premium' } });
    expect(mine.stripeSubscriptionId).toBe(completed.subscription);
    expect((await server.gql(MY_LIMITS, undefined, user.token)).data.myLimits).toMatchObject({
      plan: { code: 'premium' },
      source: 'SUBSCRIPTION',
    });
  });

  it('checkoutUrl → the hosted page: a declined card shows the reason, 4242 redirects to the success URL → active', async () => {
    const user = await server.createUser();
    const res = await server.gql(SUBSCRIBE, { input: { pricingId: premium, successUrl: 'https://app.example.com/welcome' } }, user.token);
    const { subscription, checkoutUrl } = res.data.subscribe;
    const page = await fetch(checkoutUrl);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('Subscribe');
    expect(html).toContain('$200.00');
    const action = new URL(/<form method="post" action="([^"]+)"/.exec(html)![1].replace(/&amp;/g, '&'), checkoutUrl).toString();
    const submit = (cardNumber: string) =>
      fetch(action, {
        method: 'POST',
        redirect: 'manual',
        body: new URLSearchParams({ email: user.email, cardNumber, cardExpiry: '12 / 34', cardCvc: '123', billingName: 'Ann' }),
      });

    const declined = await submit('4000 0000 0000 0002');
    expect(declined.status).toBe(402);
    expect(await declined.text()).toMatch(/declined/i);
    // Still unpaid: not a subscription of theirs yet, but the open Checkout they can go back to.
    expect((await server.gql(MY_SUBSCRIPTIONS, undefined, user.token)).data.mySubscriptions).toEqual([]);
    expect((await server.gql(PENDING_CHECKOUT, undefined, user.token)).data.me.pendingCheckout).toMatchObject({
      subscriptionId: subscription.id,
      url: checkoutUrl,
    });
    expect((await subscriptionsOf(server, user.id))[0]).toMatchObject({ id: subscription.id, status: 'INCOMPLETE' });

    const paid = await submit('4242 4242 4242 4242');
    expect(paid.status).toBe(303);
    const landing = paid.headers.get('location')!;
    expect(landing).toMatch(new RegExp(`^${server.url}/subscriptions/${subscription.id}/success\\?session_id=cs_`));
    const back = await fetch(landing, { redirect: 'manual' });
    expect([back.status, back.headers.get('location')]).toEqual([303, 'https://app.example.com/welcome']);
    const [mine] = (await server.gql(MY_SUBSCRIPTIONS, undefined, user.token)).data.mySubscriptions;
    expect(mine).toMatchObject({ id: subscription.id, status: 'ACTIVE', plan: { code: 'premium' } });
    expect((await server.gql(MY_LIMITS, undefined, user.token)).data.myLimits.plan.code).toBe('premium');
  });

  it('a Day Pass bought through Checkout is set not to renew when the person comes back', async () => {
    const user = await server.createUser();
    const dayPass = await pricingId(server, 'day_pass');
    const { subscription } = (await server.gql(SUBSCRIBE, { input: { pricingId: dayPass } }, user.token)).data.subscribe;
    const [{ stripe_checkout_session_id: sessionId }] = await sql(
      server.databaseUrl,
      'select stripe_checkout_session_id from subscription where id = $1',
      [subscription.id],
    );
    const completed = await server.stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${sessionId}/complete`, {});
    const page = await fetch(landingUrl(completed), { redirect: 'manual' });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/active/i);
    expect((await server.stripe.subscriptions.retrieve(completed.subscription)).cancel_at_period_end).toBe(true);
    const [mine] = (await server.gql(MY_SUBSCRIPTIONS, undefined, user.token)).data.mySubscriptions;
    expect(mine).toMatchObject({ status: 'ACTIVE', cancelAtPeriodEnd: true, plan: { code: 'day_pass' } });
  });

  const sessionOf = async (subscriptionId: string): Promise<string> =>
    (await sql(server.databaseUrl, 'select stripe_checkout_session_id from subscription where id = $1', [subscriptionId]))[0]
      .stripe_checkout_session_id;
  const customerOf = async (userId: string): Promise<string> =>
    (await sql(server.databaseUrl, 'select stripe_customer_id from app_user where id = $1', [userId]))[0].stripe_customer_id;
  const complete = (sessionId: string) =>
    server.stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${sessionId}/complete`, { card_number: '4242424242424242' });

  it('ten concurrent subscribe calls without a card open one Checkout, so they can end in one subscription at most', async () => {
    const user = await server.createUser();
    const results = await Promise.all(
      Array.from({ length: 10 }, () => server.gql(SUBSCRIBE, { input: { pricingId: premium } }, user.token)),
    );
    expect(results.map((r) => r.errors)).toEqual(Array(10).fill(undefined));
    expect(new Set(results.map((r) => r.data.subscribe.checkoutUrl)).size).toBe(1);
    expect(new Set(results.map((r) => r.data.subscribe.subscription.id)).size).toBe(1);
    const customer = await customerOf(user.id);
    const sessions = (await server.stripe.checkout.sessions.list({ customer, limit: 100 })).data;
    expect(sessions.map((s) => s.status)).toEqual(['open']);

    const completed = await complete(sessions[0].id);
    expect((await fetch(landingUrl(completed), { redirect: 'manual' })).status).toBe(200);
    expect((await server.stripe.subscriptions.list({ customer, status: 'all' })).data).toHaveLength(1);
    const again = await server.gql(SUBSCRIBE, { input: { pricingId: premium } }, user.token);
    expect(again.errors?.[0].extensions?.code).toBe('CONFLICT');
    expect((await server.gql(MY_SUBSCRIPTIONS, undefined, user.token)).data.mySubscriptions.map((s: any) => s.status)).toEqual(['ACTIVE']);
  });

  it('asking for another option, or paying by card, expires the open Checkout so it can no longer be paid', async () => {
    const user = await server.createUser();
    const dayPass = await pricingId(server, 'day_pass');
    const first = (await server.gql(SUBSCRIBE, { input: { pricingId: premium, successUrl: 'https://app.example.com/a' } }, user.token)).data
      .subscribe;
    const firstSession = await sessionOf(first.subscription.id);
    // The same option again: the same Checkout, now returning where the latest call asked.
    const same = (await server.gql(SUBSCRIBE, { input: { pricingId: premium, successUrl: 'https://app.example.com/b' } }, user.token)).data
      .subscribe;
    expect(same).toMatchObject({ checkoutUrl: first.checkoutUrl, subscription: { id: first.subscription.id } });
    expect(await sql(server.databaseUrl, 'select success_url from subscription where user_id = $1', [user.id])).toEqual([
      { success_url: 'https://app.example.com/b' },
    ]);

    const second = (await server.gql(SUBSCRIBE, { input: { pricingId: dayPass } }, user.token)).data.subscribe;
    expect(second.checkoutUrl).not.toBe(first.checkoutUrl);
    expect((await server.stripe.checkout.sessions.retrieve(firstSession)).status).toBe('expired');
    await expect(complete(firstSession)).rejects.toThrow();
    const secondSession = await sessionOf(second.subscription.id);

    const byCard = await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_visa' } }, user.token);
    expect(byCard.data.subscribe.subscription.status).toBe('ACTIVE');
    expect((await server.stripe.checkout.sessions.retrieve(secondSession)).status).toBe('expired');
    await expect(complete(secondSession)).rejects.toThrow();
    // The expired attempts are not the user's subscriptions; admins still see them.
    const mine = (await server.gql(MY_SUBSCRIPTIONS, undefined, user.token)).data.mySubscriptions;
    expect(mine.map((s: any) => [s.plan.code, s.status])).toEqual([['premium', 'ACTIVE']]);
    expect((await subscriptionsOf(server, user.id)).map((s: any) => [s.plan.code, s.status])).toEqual([
      ['premium', 'ACTIVE'],
      ['day_pass', 'INCOMPLETE_EXPIRED'],
      ['premium', 'INCOMPLETE_EXPIRED'],
    ]);
    expect((await server.stripe.subscriptions.list({ customer: await customerOf(user.id), status: 'all' })).data).toHaveLength(1);
  });

  it('a Checkout paid without coming back (and no webhook) is found by the next subscribe: CONFLICT, and it is active here', async () => {
    const user = await server.createUser();
    const { subscription } = (await server.gql(SUBSCRIBE, { input: { pricingId: premium } }, user.token)).data.subscribe;
    await complete(await sessionOf(subscription.id));
    const res = await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_visa' } }, user.token);
    expect(res.errors?.[0].extensions).toMatchObject({ code: 'CONFLICT', subscriptionId: subscription.id });
    const [mine] = (await server.gql(MY_SUBSCRIPTIONS, undefined, user.token)).data.mySubscriptions;
    expect(mine).toMatchObject({ id: subscription.id, status: 'ACTIVE' });
    expect((await server.stripe.subscriptions.list({ customer: await customerOf(user.id), status: 'all' })).data).toHaveLength(1);
  });

  it('the cancel route sends the person to the client cancel URL and nothing is bought', async () => {
    const user = await server.createUser();
    const { subscription } = (
      await server.gql(SUBSCRIBE, { input: { pricingId: premium, cancelUrl: 'https://app.example.com/pricing' } }, user.token)
    ).data.subscribe;
    const res = await fetch(`${server.url}/subscriptions/${subscription.id}/cancel`, { redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('https://app.example.com/pricing');
    expect((await server.gql(MY_LIMITS, undefined, user.token)).data.myLimits.plan.code).toBe('free');
  });

  it("a success link with a session that is not this subscription's is refused", async () => {
    const user = await server.createUser();
    const { subscription } = (await server.gql(SUBSCRIBE, { input: { pricingId: premium } }, user.token)).data.subscribe;
    const res = await fetch(`${server.url}/subscriptions/${subscription.id}/success?session_id=cs_test_someone_else`, {
      redirect: 'manual',
    });
    expect(res.status).toBe(404);
  });
});
