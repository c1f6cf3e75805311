import type Stripe from 'stripe';
import { WEBHOOK_EVENTS } from '../src/sync/handlers';
import { handledTypes } from '../src/sync/handlers';
import '../src/sync/inbox';
import { runScript } from './support/cli';
import { sql } from './support/db';
import { CAPTURE_PAYMENT, codeOf, logEvents, pay, paymentOf, REFUND_PAYMENT } from './support/payments';
import { startTestServer, type TestServer } from './support/server';
import { deliver, fakeEvent, signedHeader } from './support/webhooks';

jest.setTimeout(120_000);

it('the webhook endpoint Tollgate registers subscribes to exactly the event types it handles', () => {
  expect([...WEBHOOK_EVENTS].sort()).toEqual(handledTypes());
});

/**
 * The payment side of webhook sync. Changes are made in Stripe (the emulator) directly, as in Stripe's
 * dashboard or by the customer, and must reach our payments through the emulator's real signed
 * deliveries alone; hand-signed events cover late and repeated deliveries.
 */
describe('webhook sync of payments (real emulator deliveries)', () => {
  let server: TestServer;
  let user: { id: string; token: string };
  beforeAll(async () => {
    server = await startTestServer({ stripe: true });
    user = await server.createUser();
  });
  afterAll(() => server.close());

  /** The inbox rows of one type that mention a Stripe object id. */
  const eventsFor = (type: string, objectId: string) =>
    sql(
      server.databaseUrl,
      `select status, outcome, own_request from stripe_event where type = $1 and payload::text like $2 order by stripe_created_at, received_at`,
      [type, `%${objectId}%`],
    );
  const settled = async (id: string) => {
    await server.emulator.idle(20_000);
    return paymentOf(server, id, user.token);
  };
  const authenticate = (intentId: string, outcome: 'succeed' | 'fail') =>
    server.stripe.rawRequest('POST', `/v1/test_helpers/payment_intents/${intentId}/authenticate`, { outcome });
  const send = (event: Record<string, unknown>) => {
    const body = JSON.stringify(event);
    return deliver(server.url, body, { 'stripe-signature': signedHeader(body, server.webhookSecret) });
  };

  it('payment_intent.requires_action, then payment_intent.succeeded when the customer completes 3-D Secure', async () => {
    const { payment } = await pay(server, user.token, {
      amount: '30.00',
      currency: 'usd',
      paymentMethod: 'pm_card_authenticationRequired',
    });
    const pi = payment.stripePaymentIntentId;
    expect((await settled(payment.id)).status).toBe('WAITING');
    // The echo of our own call, told apart by the idempotency key.
    expect(await eventsFor('payment_intent.requires_action', pi)).toEqual([
      { status: 'processed', outcome: `payment ${payment.id} from ${pi}: waiting (no change)`, own_request: true },
    ]);

    await authenticate(pi, 'succeed');
    const after = await settled(payment.id);
    expect(after).toMatchObject({ status: 'CONFIRMED', capturedAmount: { amount: '30.00' } });
    expect(await eventsFor('payment_intent.succeeded', pi)).toEqual([
      { status: 'processed', outcome: `payment ${payment.id} from ${pi}: confirmed`, own_request: false },
    ]);
    expect(after.logs.slice(-2).map((l: any) => l.message)).toEqual([
      expect.stringMatching(/^captured 30\.00 USD \(webhook payment_intent\.succeeded evt_\w+\)$/),
      expect.stringMatching(/^WAITING -> CONFIRMED \(webhook payment_intent\.succeeded evt_\w+\)$/),
    ]);
  });

  it('payment_intent.payment_failed: failed 3-D Secure makes the payment REJECTED with the reason', async () => {
    const { payment } = await pay(server, user.token, {
      amount: '31.00',
      currency: 'usd',
      paymentMethod: 'pm_card_authenticationRequired',
    });
    await server.emulator.idle(20_000);
    await authenticate(payment.stripePaymentIntentId, 'fail');
    const after = await settled(payment.id);
    expect(after).toMatchObject({
      status: 'REJECTED',
      failureCode: 'payment_intent_authentication_failure',
      failureMessage: expect.stringMatching(/failed authentication/),
    });
    expect(await eventsFor('payment_intent.payment_failed', payment.stripePaymentIntentId)).toEqual([
      expect.objectContaining({ status: 'processed', own_request: false }),
    ]);
    expect(logEvents(after).slice(-2)).toEqual(['declined', 'status']);
  });

  it('payment_intent.amount_capturable_updated: authorised after 3-D Secure makes a manual-capture payment PREAUTH', async () => {
    const { payment } = await pay(server, user.token, {
      amount: '32.00',
      currency: 'usd',
      paymentMethod: 'pm_card_authenticationRequired',
      captureMethod: 'MANUAL',
    });
    expect((await settled(payment.id)).status).toBe('WAITING');
    await authenticate(payment.stripePaymentIntentId, 'succeed');
    expect(await settled(payment.id)).toMatchObject({ status: 'PREAUTH', capturedAmount: { amountMinor: 0 } });
    expect(await eventsFor('payment_intent.amount_capturable_updated', payment.stripePaymentIntentId)).toEqual([
      { status: 'processed', outcome: `payment ${payment.id} from ${payment.stripePaymentIntentId}: preauth`, own_request: false },
    ]);
  });

  it("payment_intent.canceled: an authorisation canceled in Stripe's dashboard makes the payment CANCELED", async () => {
    const { payment } = await pay(server, user.token, {
      amount: '33.00',
      currency: 'usd',
      paymentMethod: 'pm_card_visa',
      captureMethod: 'MANUAL',
    });
    await server.emulator.idle(20_000);
    await server.stripe.paymentIntents.cancel(payment.stripePaymentIntentId);
    const after = await settled(payment.id);
    expect(after.status).toBe('CANCELED');
    // Releasing the authorisation also sends charge.refunded: whichever of the two is processed first applies it.
    expect(after.logs.at(-1).message).toMatch(/^PREAUTH -> CANCELED \(webhook (payment_intent\.canceled|charge\.refunded) evt_\w+\)$/);
    expect(await eventsFor('payment_intent.canceled', payment.stripePaymentIntentId)).toEqual([
      expect.objectContaining({ status: 'processed', own_request: false }),
    ]);
    expect(after.logs.filter((l: any) => l.event === 'status').map((l: any) => l.message.split(' (')[0])).toEqual([
      'WAITING -> PREAUTH',
      'PREAUTH -> CANCELED',
    ]);
  });

  it('charge.refunded and refund.created: a refund made in Stripe grows refundedAmount, logged once', async () => {
    const { payment } = await pay(server, user.token, { amount: '34.00', currency: 'usd', paymentMethod: 'pm_card_visa' });
    await server.emulator.idle(20_000);
    const refund = await server.stripe.refunds.create({ payment_intent: payment.stripePaymentIntentId, amount: 400 });
    const after = await settled(payment.id);
    expect(after).toMatchObject({ status: 'PARTIALLY_REFUNDED', refundedAmount: { amount: '4.00' } });
    expect(await eventsFor('refund.created', refund.id)).toEqual([expect.objectContaining({ status: 'processed', own_request: false })]);
    expect(await eventsFor('charge.refunded', payment.stripePaymentIntentId)).toEqual([
      expect.objectContaining({ status: 'processed', own_request: false }),
    ]);
    // Both events are about the same change: whichever came second found nothing to do.
    expect(after.logs.filter((l: any) => l.event === 'refunded')).toHaveLength(1);
    const outcomes = [
      ...(await eventsFor('refund.created', refund.id)),
      ...(await eventsFor('charge.refunded', payment.stripePaymentIntentId)),
    ].map((e) => e.outcome);
    expect(outcomes.filter((o) => o.endsWith('(no change)'))).toHaveLength(1);
  });

  it('charge.dispute.created: a dispute opened through the test helper makes the payment DISPUTED, logged; it can no longer be refunded', async () => {
    const admin = await server.createUser({ admin: true });
    const { payment } = await pay(server, user.token, { amount: '10.00', currency: 'usd', paymentMethod: 'pm_card_visa' });
    await server.emulator.idle(20_000);
    const pi = await server.stripe.paymentIntents.retrieve(payment.stripePaymentIntentId);
    const dispute = await server.stripe.rawRequest('POST', `/v1/test_helpers/charges/${pi.latest_charge as string}/dispute`, {
      reason: 'product_not_received',
    });
    const after = await settled(payment.id);
    expect(after.status).toBe('DISPUTED');
    expect(await eventsFor('charge.dispute.created', dispute.id)).toEqual([
      { status: 'processed', outcome: `payment ${payment.id} from ${pi.id}: disputed`, own_request: false },
    ]);
    expect(after.logs.at(-1)).toMatchObject({
      event: 'disputed',
      message: expect.stringMatching(
        new RegExp(
          `^disputed by the cardholder: product_not_received \\(${dispute.id}, 10\\.00 USD, needs_response\\) \\(webhook charge\\.dispute\\.created evt_\\w+\\)$`,
        ),
      ),
    });
    const refund = await server.gql(REFUND_PAYMENT, { id: payment.id }, admin.token);
    expect(refund.errors?.[0]).toMatchObject({ message: expect.stringMatching(/disputed/), extensions: { code: 'BAD_USER_INPUT' } });
  });

  it('a card that is disputed right after paying (4000 0000 0000 0259) ends DISPUTED', async () => {
    const { payment } = await pay(server, user.token, { amount: '12.00', currency: 'usd', paymentMethod: 'pm_card_createDispute' });
    expect((await settled(payment.id)).status).toBe('DISPUTED');
  });

  it('checkout.session.completed in payment mode: paid on Checkout and never back on the success URL, the payment is CONFIRMED', async () => {
    const { payment, checkoutUrl } = await pay(server, user.token, { amount: '25.00', currency: 'usd', description: 'A book' });
    expect(checkoutUrl).toMatch(new RegExp(`^${server.emulator.url}/c/pay/cs_`));
    const [{ stripe_checkout_session_id: sessionId }] = await sql(
      server.databaseUrl,
      'select stripe_checkout_session_id from payment where id = $1',
      [payment.id],
    );
    const done = await server.stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${sessionId}/complete`, {
      card_number: '4242424242424242',
    });
    const after = await settled(payment.id);
    expect(after).toMatchObject({ status: 'CONFIRMED', stripePaymentIntentId: done.payment_intent, capturedAmount: { amount: '25.00' } });
    expect(await eventsFor('checkout.session.completed', sessionId)).toEqual([
      { status: 'processed', outcome: `payment ${payment.id} synced from checkout ${sessionId}: confirmed`, own_request: false },
    ]);
  });

  it('a card declined on an open Checkout page leaves the payment WAITING (the person may try another card) with the decline logged; the next card pays it', async () => {
    const { payment } = await pay(server, user.token, { amount: '27.00', currency: 'usd' });
    const [{ stripe_checkout_session_id: sessionId }] = await sql(
      server.databaseUrl,
      'select stripe_checkout_session_id from payment where id = $1',
      [payment.id],
    );
    const complete = (card: string) =>
      server.stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${sessionId}/complete`, { card_number: card });
    await expect(complete('4000000000009995')).rejects.toMatchObject({ code: 'card_declined' });
    const declined = await settled(payment.id);
    expect(declined).toMatchObject({
      status: 'WAITING',
      failureCode: 'insufficient_funds',
      failureMessage: 'Your card has insufficient funds.',
    });
    expect(declined.logs.slice(3).map((l: any) => [l.event, l.message.split(' (webhook')[0]])).toEqual([
      ['linked', `linked to PaymentIntent ${declined.stripePaymentIntentId}`],
      ['declined', 'declined: insufficient_funds: Your card has insufficient funds.; the Checkout page stays open for another card'],
    ]);
    // Coming back through the cancel link reads Stripe again: still open, still WAITING, nothing new in the log.
    expect((await fetch(`${server.url}/payments/${payment.id}/cancel`, { redirect: 'manual' })).status).toBe(200);
    expect(await paymentOf(server, payment.id, user.token)).toMatchObject({ status: 'WAITING', logs: declined.logs });

    await complete('4242424242424242');
    const paid = await settled(payment.id);
    expect(paid).toMatchObject({ status: 'CONFIRMED', capturedAmount: { amount: '27.00' }, failureCode: null, failureMessage: null });
    expect(paid.logs.filter((l: any) => l.event === 'status').map((l: any) => l.message.split(' (')[0])).toEqual(['WAITING -> CONFIRMED']);
  });

  it('checkout.session.expired in payment mode: the payment is CANCELED', async () => {
    const { payment } = await pay(server, user.token, { amount: '26.00', currency: 'usd' });
    const [{ stripe_checkout_session_id: sessionId }] = await sql(
      server.databaseUrl,
      'select stripe_checkout_session_id from payment where id = $1',
      [payment.id],
    );
    await server.stripe.checkout.sessions.expire(sessionId);
    const after = await settled(payment.id);
    expect(after).toMatchObject({ status: 'CANCELED', stripePaymentIntentId: null });
    expect(after.logs.at(-1).message).toMatch(/^WAITING -> CANCELED \(webhook checkout\.session\.expired evt_\w+\)$/);
  });

  it('late, out-of-order and repeated deliveries cannot move a payment backwards or apply twice', async () => {
    const { payment } = await pay(server, user.token, {
      amount: '40.00',
      currency: 'usd',
      paymentMethod: 'pm_card_authenticationRequired',
    });
    const pi = payment.stripePaymentIntentId;
    await server.emulator.idle(20_000);
    const [stale] = (await server.stripe.events.list({ type: 'payment_intent.requires_action', limit: 100 })).data.filter(
      (e) => (e.data.object as Stripe.PaymentIntent).id === pi,
    );
    await authenticate(pi, 'succeed');
    const confirmed = await settled(payment.id);
    expect(confirmed.status).toBe('CONFIRMED');

    // The old "requires action" snapshot arrives late, as a delivery Stripe never made before.
    const late = fakeEvent('payment_intent.requires_action', stale.data.object as unknown as Record<string, unknown>, {
      created: stale.created,
    });
    const lateRes = await send(late);
    expect(lateRes).toMatchObject({ status: 200, body: { status: 'pending' } });
    await server.inboxDrained();
    expect(await sql(server.databaseUrl, 'select outcome from stripe_event where id = $1', [late.id])).toEqual([
      { outcome: `payment ${payment.id} from ${pi}: confirmed (no change)` },
    ]);

    // The real succeeded event three more times: already applied, so duplicates.
    const [succeeded] = (await server.stripe.events.list({ type: 'payment_intent.succeeded', limit: 100 })).data.filter(
      (e) => (e.data.object as Stripe.PaymentIntent).id === pi,
    );
    const again = await Promise.all([1, 2, 3].map(() => send(succeeded as unknown as Record<string, unknown>)));
    expect(again.map((r) => [r.status, r.body.status])).toEqual([
      [200, 'duplicate'],
      [200, 'duplicate'],
      [200, 'duplicate'],
    ]);
    const after = await paymentOf(server, payment.id, user.token);
    expect(after.status).toBe('CONFIRMED');
    expect(after.logs).toEqual(confirmed.logs);
  });

  it('a PaymentIntent made outside Tollgate is recorded as not ours and changes nothing', async () => {
    const since = (await sql(server.databaseUrl, 'select count(*)::int as n from payment_log'))[0].n;
    const pi = await server.stripe.paymentIntents.create({
      amount: 999,
      currency: 'usd',
      payment_method: 'pm_card_visa',
      confirm: true,
      allowed_payment_method_types: ['card'],
    });
    await server.emulator.idle(20_000);
    expect(await eventsFor('payment_intent.succeeded', pi.id)).toEqual([
      { status: 'processed', outcome: `payment_intent ${pi.id} is not a Tollgate payment`, own_request: false },
    ]);
    expect((await sql(server.databaseUrl, 'select count(*)::int as n from payment_log'))[0].n).toBe(since);
  });

  it('a PaymentIntent that names one of our payments but is for other money is not applied', async () => {
    const { payment } = await pay(server, user.token, {
      amount: '5.00',
      currency: 'usd',
      paymentMethod: 'pm_card_visa',
      captureMethod: 'MANUAL',
    });
    const forged = await server.stripe.paymentIntents.create({
      amount: 500_00,
      currency: 'usd',
      payment_method: 'pm_card_visa',
      confirm: true,
      allowed_payment_method_types: ['card'],
      metadata: { tollgate_payment_id: payment.id },
    });
    const after = await settled(payment.id);
    expect(after).toMatchObject({ status: 'PREAUTH', stripePaymentIntentId: payment.stripePaymentIntentId });
    expect(await eventsFor('payment_intent.succeeded', forged.id)).toEqual([
      expect.objectContaining({
        status: 'processed',
        outcome: `payment_intent ${forged.id} does not match payment ${payment.id}; not applied`,
      }),
    ]);
    expect(codeOf(await server.gql(REFUND_PAYMENT, { id: payment.id }, user.token))).toBe('FORBIDDEN');
  });

  it("a PaymentIntent for the same money that names a payment waiting on Checkout, but is not the user's customer's, is not applied", async () => {
    const { payment } = await pay(server, user.token, { amount: '27.00', currency: 'usd', description: 'A lamp' });
    const stranger = await server.stripe.customers.create({ email: 'payer-elsewhere@example.com' });
    const pm = await server.stripe.paymentMethods.attach('pm_card_visa', { customer: stranger.id });
    const forged = await server.stripe.paymentIntents.create({
      amount: 2700,
      currency: 'usd',
      customer: stranger.id,
      payment_method: pm.id,
      confirm: true,
      allowed_payment_method_types: ['card'],
      metadata: { tollgate_payment_id: payment.id },
    });
    expect(forged.status).toBe('succeeded');
    const after = await settled(payment.id);
    expect(after).toMatchObject({ status: 'WAITING', stripePaymentIntentId: null });
    expect(await eventsFor('payment_intent.succeeded', forged.id)).toEqual([
      expect.objectContaining({
        status: 'processed',
        outcome: `payment_intent ${forged.id} does not match payment ${payment.id}; not applied`,
      }),
    ]);
  });
});

describe('payments changed in Stripe while no webhook reaches Tollgate', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ stripe: true, webhooks: false });
  });
  afterAll(() => server.close());

  it('a capture of a payment our copy still shows WAITING (3-D Secure finished, no webhook yet) reads Stripe first and captures it', async () => {
    const user = await server.createUser();
    const admin = await server.createUser({ admin: true });
    const { payment } = await pay(server, user.token, {
      amount: '12.00',
      currency: 'usd',
      paymentMethod: 'pm_card_authenticationRequired',
      captureMethod: 'MANUAL',
    });
    expect(payment.status).toBe('WAITING');
    await server.stripe.rawRequest('POST', `/v1/test_helpers/payment_intents/${payment.stripePaymentIntentId}/authenticate`, {
      outcome: 'succeed',
    });
    expect((await paymentOf(server, payment.id, user.token)).status).toBe('WAITING');
    const res = await server.gql(CAPTURE_PAYMENT, { id: payment.id, amount: '10.00' }, admin.token);
    expect(res.errors).toBeUndefined();
    expect(res.data.capturePayment).toMatchObject({ status: 'CONFIRMED', capturedAmount: { amount: '10.00' } });
    expect(logEvents(res.data.capturePayment)).toEqual(expect.arrayContaining(['status', 'stripe', 'captured']));
    expect(res.data.capturePayment.logs.map((l: { message: string }) => l.message)).toContain('WAITING -> PREAUTH (capturePayment)');
    expect((await server.stripe.paymentIntents.retrieve(payment.stripePaymentIntentId)).amount_received).toBe(1000);
  });

  it('a capture of a payment still waiting in Stripe too is refused with BAD_USER_INPUT, capturing nothing', async () => {
    const user = await server.createUser();
    const admin = await server.createUser({ admin: true });
    const { payment } = await pay(server, user.token, {
      amount: '12.00',
      currency: 'usd',
      paymentMethod: 'pm_card_authenticationRequired',
      captureMethod: 'MANUAL',
    });
    const res = await server.gql(CAPTURE_PAYMENT, { id: payment.id }, admin.token);
    expect(res.errors?.[0]).toMatchObject({ message: expect.stringMatching(/is WAITING/), extensions: { code: 'BAD_USER_INPUT' } });
    expect((await server.stripe.paymentIntents.retrieve(payment.stripePaymentIntentId)).status).toBe('requires_action');
  });

  it('a capture Stripe refuses because the authorisation was canceled there: BAD_USER_INPUT, and the payment is brought up to date', async () => {
    const user = await server.createUser();
    const admin = await server.createUser({ admin: true });
    const { payment } = await pay(server, user.token, {
      amount: '10.00',
      currency: 'usd',
      paymentMethod: 'pm_card_visa',
      captureMethod: 'MANUAL',
    });
    await server.stripe.paymentIntents.cancel(payment.stripePaymentIntentId);
    const res = await server.gql(CAPTURE_PAYMENT, { id: payment.id }, admin.token);
    expect(res.errors?.[0]).toMatchObject({
      message: expect.stringMatching(/status of canceled/),
      extensions: { code: 'BAD_USER_INPUT', stripeCode: 'payment_intent_unexpected_state' },
    });
    const after = await paymentOf(server, payment.id, user.token);
    expect(after.status).toBe('CANCELED');
    expect(logEvents(after).slice(-2)).toEqual(['stripe_refused', 'status']);
    expect(after.logs.at(-1).message).toBe('PREAUTH -> CANCELED (after a refused capture)');
  });

  it('a refund larger than what Stripe has left (refunded there meanwhile): BAD_USER_INPUT, and refundedAmount is brought up to date', async () => {
    const user = await server.createUser();
    const admin = await server.createUser({ admin: true });
    const { payment } = await pay(server, user.token, { amount: '10.00', currency: 'usd', paymentMethod: 'pm_card_visa' });
    await server.stripe.refunds.create({ payment_intent: payment.stripePaymentIntentId, amount: 800 });
    const res = await server.gql(REFUND_PAYMENT, { id: payment.id, amount: '5.00' }, admin.token);
    expect(res.errors?.[0]).toMatchObject({
      message: expect.stringMatching(/greater than unrefunded amount/),
      extensions: { code: 'BAD_USER_INPUT', field: 'amount' },
    });
    expect(await paymentOf(server, payment.id, user.token)).toMatchObject({
      status: 'PARTIALLY_REFUNDED',
      refundedAmount: { amount: '8.00' },
    });
    expect((await server.stripe.refunds.list({ payment_intent: payment.stripePaymentIntentId })).data.map((r) => r.amount)).toEqual([800]);
  });

  it('--dry-run shows payments changed directly in Stripe and writes nothing; a real run applies and logs them', async () => {
    const user = await server.createUser();
    const authorised = (
      await pay(server, user.token, { amount: '10.00', currency: 'usd', paymentMethod: 'pm_card_visa', captureMethod: 'MANUAL' })
    ).payment;
    const paid = (await pay(server, user.token, { amount: '20.00', currency: 'usd', paymentMethod: 'pm_card_visa' })).payment;
    const unchanged = (await pay(server, user.token, { amount: '30.00', currency: 'usd', paymentMethod: 'pm_card_visa' })).payment;
    // Changed in Stripe's dashboard while no webhook reaches us.
    await server.stripe.paymentIntents.capture(authorised.stripePaymentIntentId, { amount_to_capture: 700 });
    await server.stripe.refunds.create({ payment_intent: paid.stripePaymentIntentId, amount: 200 });

    const env = { DATABASE_URL: server.databaseUrl, STRIPE_EMULATOR_PORT: String(server.emulator.port), LOG_LEVEL: 'silent' };
    const snapshot = async () => [
      await sql(server.databaseUrl, 'select * from payment order by id'),
      await sql(server.databaseUrl, 'select * from payment_log order by id'),
    ];
    const before = await snapshot();

    const dry = await runScript('stripeSync', ['--dry-run'], env);
    expect(dry.code).toBe(0);
    /** The changed fields printed under an object's heading. */
    const diffOf = (id: string) =>
      dry.stdout
        .split(/\n(?=[~+] )/)
        .find((block) => block.startsWith(`~ Payment ${id}\n`))
        ?.split('\n')
        .filter((line) => line.startsWith('    '))
        .sort();
    expect(diffOf(authorised.id)).toEqual(['    capturedAmountMinor: 0 -> 700', '    status: "preauth" -> "confirmed"']);
    expect(diffOf(paid.id)).toEqual(['    refundedAmountMinor: 0 -> 200', '    status: "confirmed" -> "partially_refunded"']);
    expect(diffOf(unchanged.id)).toBeUndefined();
    expect(dry.stdout).toMatch(/customers checked; would change 2 objects \(dry run: nothing written\)/);
    expect(await snapshot()).toEqual(before);

    const real = await runScript('stripeSync', [], env);
    expect(real.code).toBe(0);
    expect(real.stdout).toMatch(/changed 2 objects/);
    const a = await paymentOf(server, authorised.id, user.token);
    expect(a).toMatchObject({ status: 'CONFIRMED', capturedAmount: { amount: '7.00' } });
    expect(a.logs.slice(-2).map((l: any) => l.message)).toEqual(['captured 7.00 USD (stripe:sync)', 'PREAUTH -> CONFIRMED (stripe:sync)']);
    expect(await paymentOf(server, paid.id, user.token)).toMatchObject({
      status: 'PARTIALLY_REFUNDED',
      refundedAmount: { amount: '2.00' },
    });

    const again = await runScript('stripeSync', ['--dry-run'], env);
    expect(again.stdout).toMatch(/would change 0 objects/);
  });

  it('stripe:sync keeps a Checkout payment whose card was declined on the still-open page WAITING, with the decline; once expired it is CANCELED', async () => {
    const user = await server.createUser();
    const { payment } = await pay(server, user.token, { amount: '12.00', currency: 'usd' });
    const [{ stripe_checkout_session_id: sessionId }] = await sql(
      server.databaseUrl,
      'select stripe_checkout_session_id from payment where id = $1',
      [payment.id],
    );
    await expect(
      server.stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${sessionId}/complete`, { card_number: '4000000000000002' }),
    ).rejects.toMatchObject({ code: 'card_declined' });
    const env = { DATABASE_URL: server.databaseUrl, STRIPE_EMULATOR_PORT: String(server.emulator.port), LOG_LEVEL: 'silent' };

    expect((await runScript('stripeSync', [], env)).code).toBe(0);
    const synced = await paymentOf(server, payment.id, user.token);
    expect(synced).toMatchObject({ status: 'WAITING', failureCode: 'generic_decline' });
    expect(synced.logs.at(-1)).toMatchObject({
      event: 'declined',
      message: 'declined: generic_decline: Your card was declined.; the Checkout page stays open for another card (stripe:sync)',
    });

    await server.stripe.checkout.sessions.expire(sessionId);
    expect((await runScript('stripeSync', [], env)).code).toBe(0);
    const expired = await paymentOf(server, payment.id, user.token);
    expect(expired.status).toBe('CANCELED');
    expect(expired.logs.at(-1).message).toBe('WAITING -> CANCELED (stripe:sync)');
  });
});
