import type { Browser } from 'playwright-core';
import { describeInBrowser, expectText, fillCard, launchChromium, startShop } from './support/browser';
import { sql } from './support/db';
import { CANCEL_PAYMENT, CAPTURE_PAYMENT, logEvents, pay, paymentOf } from './support/payments';
import { startTestServer, type TestServer } from './support/server';

jest.setTimeout(120_000);

/**
 * A payment through Stripe Checkout, paid by a person in headless Chromium on the emulator's hosted
 * page. Webhooks are off: coming back through /payments/:id/success alone must bring the payment up to date.
 */
describeInBrowser('paymentCheckout')('paying through Stripe Checkout in a browser', () => {
  let server: TestServer;
  let browser: Browser;
  let shop: { url: string; close: () => Promise<void> };
  let admin: { token: string };
  beforeAll(async () => {
    server = await startTestServer({ stripe: true, webhooks: false });
    shop = await startShop();
    browser = await launchChromium();
    admin = await server.createUser({ admin: true });
  });
  afterAll(async () => {
    await browser?.close();
    await shop?.close();
    await server?.close();
  });

  const sessionOf = async (paymentId: string): Promise<string> =>
    (await sql(server.databaseUrl, 'select stripe_checkout_session_id from payment where id = $1', [paymentId]))[0]
      .stripe_checkout_session_id;

  it('checkoutUrl → 4242 on the hosted page → back through /payments/:id/success → CONFIRMED and on to the client', async () => {
    const user = await server.createUser();
    const { payment, checkoutUrl } = await pay(server, user.token, {
      amount: '25.00',
      currency: 'usd',
      description: 'A book',
      orderId: 'order-42',
      successUrl: `${shop.url}/thanks`,
      cancelUrl: `${shop.url}/cart`,
    });
    expect(payment).toMatchObject({ status: 'WAITING', stripePaymentIntentId: null, amount: { amount: '25.00' } });
    expect(checkoutUrl).toMatch(new RegExp(`^${server.emulator.url}/c/pay/cs_`));
    expect(logEvents(payment)).toEqual(['created', 'stripe', 'linked']);
    const session = await server.stripe.checkout.sessions.retrieve(await sessionOf(payment.id));
    expect(session).toMatchObject({
      mode: 'payment',
      amount_total: 2500,
      currency: 'usd',
      client_reference_id: user.id,
      success_url: `${server.url}/payments/${payment.id}/success?session_id={CHECKOUT_SESSION_ID}`,
      metadata: { tollgate_payment_id: payment.id, tollgate_order_id: 'order-42' },
    });

    const page = await browser.newPage();
    try {
      await page.goto(checkoutUrl!);
      await expectText(page, '#total', '$25.00');
      await fillCard(page, '4000 0000 0000 0002'); // the email is the customer's, shown read-only
      await Promise.all([page.waitForLoadState('load'), page.click('#submit')]);
      await expectText(page, '#error', 'Your card was declined.');
      await fillCard(page, '4242 4242 4242 4242');
      await Promise.all([page.waitForURL(`${shop.url}/thanks`), page.click('#submit')]);
    } finally {
      await page.close();
    }

    const after = await paymentOf(server, payment.id, user.token);
    expect(after).toMatchObject({ status: 'CONFIRMED', capturedAmount: { amount: '25.00' }, failureCode: null });
    const intent = await server.stripe.paymentIntents.retrieve(after.stripePaymentIntentId);
    expect(intent).toMatchObject({ status: 'succeeded', amount: 2500, metadata: { tollgate_payment_id: payment.id } });
    expect(after.logs.map((l: any) => [l.event, l.message])).toEqual([
      ['created', 'payment of 25.00 USD created, automatic capture, through Stripe Checkout'],
      ['stripe', `Checkout Session ${session.id} opened`],
      ['linked', `linked to Checkout Session ${session.id} (createPayment)`],
      ['linked', `linked to PaymentIntent ${intent.id} (return from Checkout)`],
      ['captured', 'captured 25.00 USD (return from Checkout)'],
      ['status', 'WAITING -> CONFIRMED (return from Checkout)'],
    ]);
  });

  it('manual capture through Checkout: back on our own page (no client URL) as PREAUTH; an admin captures it', async () => {
    const user = await server.createUser();
    const { payment, checkoutUrl } = await pay(server, user.token, { amount: '40.00', currency: 'eur', captureMethod: 'MANUAL' });
    const page = await browser.newPage();
    try {
      await page.goto(checkoutUrl!);
      await fillCard(page, '4242424242424242');
      await Promise.all([page.waitForURL(`${server.url}/payments/${payment.id}/success?session_id=*`), page.click('#submit')]);
      await expectText(page, 'h1', 'Payment authorised');
    } finally {
      await page.close();
    }
    expect((await paymentOf(server, payment.id, user.token)).status).toBe('PREAUTH');
    const captured = await server.gql(CAPTURE_PAYMENT, { id: payment.id }, admin.token);
    expect(captured.data.capturePayment).toMatchObject({ status: 'CONFIRMED', capturedAmount: { amount: '40.00', amountMinor: 4000 } });
  });

  it('the Cancel link goes to the client cancel URL and charges nothing; cancelPayment then expires the Checkout', async () => {
    const user = await server.createUser();
    const { payment, checkoutUrl } = await pay(server, user.token, { amount: '15.00', currency: 'usd', cancelUrl: `${shop.url}/cart` });
    const page = await browser.newPage();
    try {
      await page.goto(checkoutUrl!);
      await Promise.all([page.waitForURL(`${shop.url}/cart`), page.click('text=Cancel')]);
    } finally {
      await page.close();
    }
    expect((await paymentOf(server, payment.id, user.token)).status).toBe('WAITING');
    const canceled = await server.gql(CANCEL_PAYMENT, { id: payment.id }, user.token);
    expect(canceled.data.cancelPayment).toMatchObject({ status: 'CANCELED', stripePaymentIntentId: null });
    const sessionId = await sessionOf(payment.id);
    expect(canceled.data.cancelPayment.logs.slice(3).map((l: any) => [l.event, l.message])).toEqual([
      ['stripe', `Checkout Session ${sessionId} expired`],
      ['status', 'WAITING -> CANCELED (cancelPayment)'],
    ]);
    expect((await server.stripe.checkout.sessions.retrieve(await sessionOf(payment.id))).status).toBe('expired');
  });

  it('return links that do not belong to the payment are refused', async () => {
    const user = await server.createUser();
    const { payment } = await pay(server, user.token, { amount: '5.00', currency: 'usd' });
    expect(
      (await fetch(`${server.url}/payments/${payment.id}/success?session_id=cs_test_someone_else`, { redirect: 'manual' })).status,
    ).toBe(404);
    expect((await fetch(`${server.url}/payments/${payment.id}/success`, { redirect: 'manual' })).status).toBe(400);
    expect((await fetch(`${server.url}/payments/not-a-payment/cancel`, { redirect: 'manual' })).status).toBe(404);
    const back = await fetch(`${server.url}/payments/${payment.id}/cancel`, { redirect: 'manual' });
    expect(back.status).toBe(200);
    expect(await back.text()).toMatch(/Nothing was charged/);
  });
});
