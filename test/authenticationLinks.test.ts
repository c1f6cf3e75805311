import { MY_SUBSCRIPTIONS, pricingId, SUBSCRIPTION_FIELDS } from './support/billing';
import { paymentOf, PAYMENT_FIELDS } from './support/payments';
import { startTestServer, type TestServer } from './support/server';

jest.setTimeout(120_000);

const SUBSCRIBE = `mutation($input: SubscribeInput!) { subscribe(input: $input) { subscription { ${SUBSCRIPTION_FIELDS} } clientSecret nextActionUrl } }`;
const CREATE_PAYMENT = `mutation($input: CreatePaymentInput!) { createPayment(input: $input) { payment { ${PAYMENT_FIELDS} } clientSecret nextActionUrl } }`;

/** What a person does on the 3-D Secure page: open it, press Complete; answers where they are sent next. */
async function completeAuthentication(nextActionUrl: string): Promise<string | null> {
  const page = await fetch(nextActionUrl);
  expect(page.status).toBe(200);
  const html = await page.text();
  expect(html).toContain('3D Secure test payment');
  expect(html).toContain('>Complete</button>');
  const done = await fetch(nextActionUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'outcome=succeed',
    redirect: 'manual',
  });
  return done.headers.get('location');
}

/** Wherever a client secret is answered for 3-D Secure, the page to send the person to comes with it. */
describe('authentication links (nextActionUrl)', () => {
  let server: TestServer;
  let premium: string;
  beforeAll(async () => {
    server = await startTestServer({ stripe: true });
    premium = await pricingId(server, 'premium');
  });
  afterAll(() => server.close());

  it("a payment by a 3-D Secure card answers the emulator's 3-D Secure page; completing it confirms the payment and lands on Tollgate's page", async () => {
    const user = await server.createUser();
    const res = await server.gql(
      CREATE_PAYMENT,
      { input: { amount: '30.00', currency: 'usd', paymentMethod: 'pm_card_authenticationRequired' } },
      user.token,
    );
    expect(res.errors).toBeUndefined();
    const { payment, clientSecret, nextActionUrl } = res.data.createPayment;
    expect(clientSecret).toMatch(/_secret_/);
    expect(new URL(nextActionUrl).pathname).toBe(`/authenticate/${payment.stripePaymentIntentId}`);
    const intent = await server.stripe.paymentIntents.retrieve(payment.stripePaymentIntentId);
    expect(intent.next_action).toMatchObject({ type: 'redirect_to_url', redirect_to_url: { url: nextActionUrl } });

    const back = await completeAuthentication(nextActionUrl);
    const landing = new URL(back!);
    expect(`${landing.origin}${landing.pathname}`).toBe(`${server.url}/authenticated`);
    expect(landing.searchParams.get('redirect_status')).toBe('succeeded');
    const page = await fetch(back!);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('You can close this page.');

    await server.emulator.idle(20_000);
    expect(await paymentOf(server, payment.id, user.token)).toMatchObject({ status: 'CONFIRMED' });
  });

  it("with a successUrl the person comes back to the client's page", async () => {
    const user = await server.createUser();
    const res = await server.gql(
      CREATE_PAYMENT,
      {
        input: {
          amount: '12.00',
          currency: 'usd',
          paymentMethod: 'pm_card_authenticationRequired',
          successUrl: 'https://app.example.com/paid?order=9',
        },
      },
      user.token,
    );
    const back = new URL((await completeAuthentication(res.data.createPayment.nextActionUrl))!);
    expect(`${back.origin}${back.pathname}`).toBe('https://app.example.com/paid');
    expect(back.searchParams.get('order')).toBe('9');
    expect(back.searchParams.get('redirect_status')).toBe('succeeded');
  });

  it('a card needing no authentication answers no nextActionUrl', async () => {
    const user = await server.createUser();
    const res = await server.gql(CREATE_PAYMENT, { input: { amount: '5.00', currency: 'usd', paymentMethod: 'pm_card_visa' } }, user.token);
    expect(res.data.createPayment).toMatchObject({ clientSecret: null, nextActionUrl: null });
    const sub = await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_visa' } }, user.token);
    expect(sub.data.subscribe).toMatchObject({ clientSecret: null, nextActionUrl: null });
  });

  it('a subscription by a 3-D Secure card answers the page (again on a retry); completing it makes it ACTIVE', async () => {
    const user = await server.createUser();
    const input = { pricingId: premium, paymentMethod: 'pm_card_authenticationRequired', idempotencyKey: 'sub-3ds-link' };
    const res = await server.gql(SUBSCRIBE, { input }, user.token);
    expect(res.errors).toBeUndefined();
    const { subscription, clientSecret, nextActionUrl } = res.data.subscribe;
    expect(subscription.status).toBe('INCOMPLETE');
    const intentId = clientSecret.split('_secret_')[0];
    expect(new URL(nextActionUrl).pathname).toBe(`/authenticate/${intentId}`);
    const again = await server.gql(SUBSCRIBE, { input }, user.token);
    expect(again.data.subscribe).toMatchObject({ clientSecret, nextActionUrl });

    const back = new URL((await completeAuthentication(nextActionUrl))!);
    expect(`${back.origin}${back.pathname}`).toBe(`${server.url}/authenticated`);
    await server.emulator.idle(20_000);
    const [mine] = (await server.gql(MY_SUBSCRIPTIONS, undefined, user.token)).data.mySubscriptions;
    expect(mine).toMatchObject({ id: subscription.id, status: 'ACTIVE', plan: { code: 'premium' } });
  });

  it('the Tollgate page says when authentication failed', async () => {
    const res = await fetch(`${server.url}/authenticated?redirect_status=failed`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('Authentication failed');
  });
});
