import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator } from '../src/emulator';
import { runScript } from './support/cli';
import { sql } from './support/db';
import { oneShotFaults } from './support/faults';
import { CAPTURE_PAYMENT, CREATE_PAYMENT, logEvents, pay, paymentOf } from './support/payments';
import { startTestServer, type TestServer } from './support/server';

jest.setTimeout(120_000);

// HTTP 500 right after the next charge succeeds (Stripe charged, then failed to answer), or while making
// the next price, before a Checkout Session that needs it exists.
const faults = oneShotFaults({
  'payment_intent.succeeded': 'the charge went through, the answer did not',
  'price.created': 'Stripe failed before it made the Checkout Session',
});

/**
 * Stripe failing halfway, for real: an emulator that answers 500 after it charged, and an emulator that
 * is gone. The payment row exists before Stripe hears of it, so it always says what happened, and the
 * PaymentIntent Stripe may have made carries its id and is found again.
 */
describe('payments when Stripe fails halfway', () => {
  let server: TestServer;
  let admin: { token: string };
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-stripe-'));
  const dataFile = join(dir, 'emulator.json');
  beforeAll(async () => {
    server = await startTestServer({ stripe: true, emulatorModules: [faults.module], emulatorDataFile: dataFile });
    admin = await server.createUser({ admin: true });
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const customerOf = async (userId: string): Promise<string> =>
    (await sql(server.databaseUrl, 'select stripe_customer_id from app_user where id = $1', [userId]))[0].stripe_customer_id;
  const intentsNaming = async (userId: string, paymentId: string) =>
    (await server.stripe.paymentIntents.list({ customer: await customerOf(userId), limit: 100 })).data.filter(
      (pi) => pi.metadata.tollgate_payment_id === paymentId,
    );
  const sessionsNaming = async (userId: string, paymentId: string) =>
    (await server.stripe.checkout.sessions.list({ customer: await customerOf(userId), limit: 100 })).data.filter(
      (cs) => cs.metadata?.tollgate_payment_id === paymentId,
    );

  it('a 500 before Checkout made its session: ERROR with the reason; a retry asks again under a new key (Stripe replays a saved 500 to the old one) and opens one session', async () => {
    const user = await server.createUser();
    const input = { amount: '8.00', currency: 'usd', idempotencyKey: 'basket-5' };
    faults.arm('price.created');
    const res = await server.gql(CREATE_PAYMENT, { input }, user.token);
    expect(faults.armed('price.created')).toBe(false);
    expect(res.errors?.[0].extensions).toMatchObject({
      code: 'PAYMENT_SERVICE_UNAVAILABLE',
      reason: 'stripe_error',
      paymentId: expect.any(String),
    });
    const paymentId = res.errors![0].extensions!.paymentId as string;
    const failed = await paymentOf(server, paymentId, user.token);
    expect(failed).toMatchObject({ status: 'ERROR', failureCode: 'payment_service_unavailable' });
    expect(logEvents(failed)).toEqual(['created', 'stripe_error', 'status']);
    expect(failed.logs[1].message).toMatch(
      /^starting the payment in Stripe failed: The payment service at .* failed to answer: Stripe answered HTTP 500/,
    );
    expect(await sessionsNaming(user.id, paymentId)).toEqual([]);

    const retry = await server.gql(CREATE_PAYMENT, { input }, user.token);
    expect(retry.errors).toBeUndefined();
    const { payment, checkoutUrl } = retry.data.createPayment;
    expect(payment).toMatchObject({ id: paymentId, status: 'WAITING', failureCode: null, failureMessage: null });
    const sessions = await sessionsNaming(user.id, paymentId);
    expect(sessions).toHaveLength(1);
    expect(checkoutUrl).toBe(sessions[0].url);
    expect(logEvents(payment)).toEqual(['created', 'stripe_error', 'status', 'retry', 'status', 'stripe', 'linked']);
    expect(payment.logs[3].message).toMatch(
      /^Stripe failed to answer an earlier attempt \(HTTP 5xx\) and has nothing for this payment: asking again under a new idempotency key/,
    );

    // The session it opened is the payment's: paying it confirms the payment.
    await server.stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${sessions[0].id}/complete`, {
      card_number: '4242424242424242',
    });
    await server.emulator.idle(20_000);
    expect(await paymentOf(server, paymentId, user.token)).toMatchObject({ status: 'CONFIRMED', capturedAmount: { amount: '8.00' } });
  });

  it('a 500 after the charge leaves the payment ERROR with the reason; a retry with the same key finds the PaymentIntent instead of making another', async () => {
    const user = await server.createUser();
    const input = { amount: '10.00', currency: 'usd', paymentMethod: 'pm_card_visa', idempotencyKey: 'checkout-1' };
    faults.arm('payment_intent.succeeded');
    const res = await server.gql(CREATE_PAYMENT, { input }, user.token);
    expect(faults.armed('payment_intent.succeeded')).toBe(false);
    expect(res.data).toBeNull();
    expect(res.errors?.[0].extensions).toMatchObject({ code: 'PAYMENT_SERVICE_UNAVAILABLE', paymentId: expect.any(String) });
    expect(res.errors?.[0].message).toMatch(/failed to answer: Stripe answered HTTP 500/);
    const paymentId = res.errors![0].extensions!.paymentId as string;

    const failed = await paymentOf(server, paymentId, user.token);
    expect(failed).toMatchObject({ status: 'ERROR', failureCode: 'payment_service_unavailable', stripePaymentIntentId: null });
    expect(logEvents(failed)).toEqual(['created', 'stripe_error', 'status']);
    expect(failed.logs[1].message).toMatch(
      /^starting the payment in Stripe failed: The payment service at .* failed to answer: Stripe answered HTTP 500/,
    );
    expect(failed.logs[2].message).toBe('WAITING -> ERROR (createPayment)');
    // Stripe did charge: the PaymentIntent names our payment, so it is not an orphan.
    const [charged] = await intentsNaming(user.id, paymentId);
    expect(charged).toMatchObject({ status: 'succeeded', amount: 1000 });

    const retry = await server.gql(CREATE_PAYMENT, { input }, user.token);
    expect(retry.errors).toBeUndefined();
    expect(retry.data.createPayment.payment).toMatchObject({
      id: paymentId,
      status: 'CONFIRMED',
      stripePaymentIntentId: charged.id,
      failureCode: null,
    });
    expect(retry.data.createPayment.payment.logs.at(-1).message).toBe('ERROR -> CONFIRMED (idempotent retry)');
    expect(await intentsNaming(user.id, paymentId)).toHaveLength(1);
    expect((await server.stripe.paymentIntents.list({ customer: await customerOf(user.id) })).data).toHaveLength(1);
  });

  it('stripe:sync links a PaymentIntent Stripe made although it answered 500', async () => {
    const user = await server.createUser();
    faults.arm('payment_intent.succeeded');
    const res = await server.gql(
      CREATE_PAYMENT,
      { input: { amount: '12.00', currency: 'usd', paymentMethod: 'pm_card_visa' } },
      user.token,
    );
    const paymentId = res.errors?.[0].extensions?.paymentId as string;
    expect((await paymentOf(server, paymentId, user.token)).status).toBe('ERROR');
    await server.emulator.idle(20_000);
    expect((await paymentOf(server, paymentId, user.token)).status).toBe('ERROR');

    const sync = await runScript('stripeSync', [], {
      DATABASE_URL: server.databaseUrl,
      STRIPE_EMULATOR_PORT: String(server.emulator.port),
      LOG_LEVEL: 'silent',
    });
    expect(sync.code).toBe(0);
    expect(sync.stdout).toContain(`~ Payment ${paymentId}`);
    const [charged] = await intentsNaming(user.id, paymentId);
    const after = await paymentOf(server, paymentId, user.token);
    expect(after).toMatchObject({
      status: 'CONFIRMED',
      stripePaymentIntentId: charged.id,
      capturedAmount: { amount: '12.00' },
      failureCode: null,
      failureMessage: null,
    });
    expect(after.logs.slice(-3).map((l: any) => l.message)).toEqual([
      `linked to PaymentIntent ${charged.id} (stripe:sync)`,
      'captured 12.00 USD (stripe:sync)',
      'ERROR -> CONFIRMED (stripe:sync)',
    ]);
  });

  it('Stripe unreachable: ERROR with the reason logged, a capture keeps PREAUTH; once Stripe is back a retry with the same key pays and the capture goes through', async () => {
    const known = await server.createUser();
    const { payment: authorised } = await pay(server, known.token, {
      amount: '20.00',
      currency: 'usd',
      paymentMethod: 'pm_card_visa',
      captureMethod: 'MANUAL',
    });
    const fresh = await server.createUser(); // no Stripe customer yet: the first step fails
    await server.emulator.stop();
    const host = `127.0.0.1:${server.emulator.port}`;
    const unreachable = `The payment service at ${host} could not be reached: the connection to ${host} failed (ECONNREFUSED), directly (127.0.0.1 is a loopback address; only STRIPE_PROXY sends it through a proxy); fix: check that the Stripe API at ${host} (STRIPE_API_BASE, or the local emulator) is running.`;
    const input = { amount: '5.00', currency: 'usd', paymentMethod: 'pm_card_visa', idempotencyKey: 'while-down' };

    const failedIds: string[] = [];
    for (const user of [known, fresh]) {
      const res = await server.gql(CREATE_PAYMENT, { input }, user.token);
      expect(res.errors?.[0]).toMatchObject({
        message: unreachable,
        extensions: { code: 'PAYMENT_SERVICE_UNAVAILABLE', paymentId: expect.any(String) },
      });
      const payment = await paymentOf(server, res.errors![0].extensions!.paymentId as string, user.token);
      expect(payment).toMatchObject({ status: 'ERROR', failureCode: 'payment_service_unavailable', failureMessage: unreachable });
      expect(logEvents(payment)).toEqual(['created', 'stripe_error', 'status']);
      failedIds.push(payment.id);
    }
    expect(await sql(server.databaseUrl, 'select stripe_customer_id from app_user where id = $1', [fresh.id])).toEqual([
      { stripe_customer_id: null },
    ]);

    // Through Checkout the same: ERROR with the reason.
    const checkoutInput = { amount: '6.00', currency: 'usd', idempotencyKey: 'checkout-while-down' };
    const viaCheckout = await server.gql(CREATE_PAYMENT, { input: checkoutInput }, known.token);
    expect(viaCheckout.errors?.[0]).toMatchObject({
      message: unreachable,
      extensions: { code: 'PAYMENT_SERVICE_UNAVAILABLE', paymentId: expect.any(String) },
    });
    const checkoutFailed = await paymentOf(server, viaCheckout.errors![0].extensions!.paymentId as string, known.token);
    expect(checkoutFailed).toMatchObject({ status: 'ERROR', failureCode: 'payment_service_unavailable', failureMessage: unreachable });
    expect(logEvents(checkoutFailed)).toEqual(['created', 'stripe_error', 'status']);

    const capture = await server.gql(CAPTURE_PAYMENT, { id: authorised.id }, admin.token);
    expect(capture.errors?.[0]).toMatchObject({ message: unreachable, extensions: { code: 'PAYMENT_SERVICE_UNAVAILABLE' } });
    const kept = await paymentOf(server, authorised.id, known.token);
    expect(kept.status).toBe('PREAUTH');
    expect(kept.logs.at(-1)).toMatchObject({ event: 'stripe_error', message: `capture failed: ${unreachable}` });

    // Stripe is back (the same state, the same port).
    const revived = await startEmulator({ port: server.emulator.port, dataFile, webhookRetryDelaysMs: [50, 200, 500] });
    try {
      for (const [i, user] of [known, fresh].entries()) {
        const retry = await server.gql(CREATE_PAYMENT, { input }, user.token);
        expect(retry.errors).toBeUndefined();
        const payment = retry.data.createPayment.payment;
        expect(payment).toMatchObject({ id: failedIds[i], status: 'CONFIRMED', failureCode: null, capturedAmount: { amount: '5.00' } });
        expect(logEvents(payment)).toEqual([
          'created',
          'stripe_error',
          'status',
          'retry',
          'status',
          'stripe',
          'linked',
          'captured',
          'status',
        ]);
        expect(await intentsNaming(user.id, payment.id)).toHaveLength(1);
      }
      const reopened = await server.gql(CREATE_PAYMENT, { input: checkoutInput }, known.token);
      expect(reopened.errors).toBeUndefined();
      expect(reopened.data.createPayment.payment).toMatchObject({ id: checkoutFailed.id, status: 'WAITING', failureCode: null });
      const sessions = await sessionsNaming(known.id, checkoutFailed.id);
      expect(sessions).toHaveLength(1);
      expect(reopened.data.createPayment.checkoutUrl).toBe(sessions[0].url);
      expect(logEvents(reopened.data.createPayment.payment)).toEqual([
        'created',
        'stripe_error',
        'status',
        'retry',
        'status',
        'stripe',
        'linked',
      ]);
      expect(reopened.data.createPayment.payment.logs[3].message).toBe(
        'the last attempt never reached Stripe and Stripe has nothing for this payment: asking again (idempotent retry)',
      );

      const captured = await server.gql(CAPTURE_PAYMENT, { id: authorised.id }, admin.token);
      expect(captured.data.capturePayment).toMatchObject({ status: 'CONFIRMED', capturedAmount: { amount: '20.00' } });
      await revived.idle(20_000);
    } finally {
      await revived.stop();
    }
  });
});
