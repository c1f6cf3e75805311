import { sql } from './support/db';
import { MY_LIMITS, MY_SUBSCRIPTIONS, pricingId, SUBSCRIBE } from './support/billing';
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

    const [{ stripe_checkout_session_id: sessionId }] = await sql(server.databaseUrl, 'select stripe_checkout_session_id from subscription where id = $1', [subscription.id]);
    const session = await server.stripe.checkout.sessions.retrieve(sessionId);
    expect(session).toMatchObject({ mode: 'subscription', status: 'open', client_reference_id: user.id, url: checkoutUrl });

    const completed = await server.stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${sessionId}/complete`, { card_number: '4242424242424242' });
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
    expect((await server.gql(MY_LIMITS, undefined, user.token)).data.myLimits).toMatchObject({ plan: { code: 'premium' }, source: 'SUBSCRIPTION' });
  });

  it('a Day Pass bought through Checkout is set not to renew when the person comes back', async () => {
    const user = await server.createUser();
    const dayPass = await pricingId(server, 'day_pass');
    const { subscription } = (await server.gql(SUBSCRIBE, { input: { pricingId: dayPass } }, user.token)).data.subscribe;
    const [{ stripe_checkout_session_id: sessionId }] = await sql(server.databaseUrl, 'select stripe_checkout_session_id from subscription where id = $1', [subscription.id]);
    const completed = await server.stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${sessionId}/complete`, {});
    const page = await fetch(landingUrl(completed), { redirect: 'manual' });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/active/i);
    expect((await server.stripe.subscriptions.retrieve(completed.subscription)).cancel_at_period_end).toBe(true);
    const [mine] = (await server.gql(MY_SUBSCRIPTIONS, undefined, user.token)).data.mySubscriptions;
    expect(mine).toMatchObject({ status: 'ACTIVE', cancelAtPeriodEnd: true, plan: { code: 'day_pass' } });
  });

  it('the cancel route sends the person to the client cancel URL and nothing is bought', async () => {
    const user = await server.createUser();
    const { subscription } = (await server.gql(SUBSCRIBE, { input: { pricingId: premium, cancelUrl: 'https://app.example.com/pricing' } }, user.token)).data.subscribe;
    const res = await fetch(`${server.url}/subscriptions/${subscription.id}/cancel`, { redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('https://app.example.com/pricing');
    expect((await server.gql(MY_LIMITS, undefined, user.token)).data.myLimits.plan.code).toBe('free');
  });

  it('a success link with a session that is not this subscription\'s is refused', async () => {
    const user = await server.createUser();
    const { subscription } = (await server.gql(SUBSCRIBE, { input: { pricingId: premium } }, user.token)).data.subscribe;
    const res = await fetch(`${server.url}/subscriptions/${subscription.id}/success?session_id=cs_test_someone_else`, { redirect: 'manual' });
    expect(res.status).toBe(404);
  });
});
