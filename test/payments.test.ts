import { sql } from './support/db';
import {
  CANCEL_PAYMENT,
  CAPTURE_PAYMENT,
  codeOf,
  CREATE_PAYMENT,
  logEvents,
  MY_PAYMENTS,
  PAYMENT,
  pay,
  paymentOf,
  REFUND_PAYMENT,
} from './support/payments';
import { startTestServer, type TestServer } from './support/server';

jest.setTimeout(120_000);

/** One-off payments through GraphQL over HTTP, against the local Stripe emulator with webhooks on. */
describe('one-off payments', () => {
  let server: TestServer;
  let admin: { id: string; token: string };
  const statements: string[] = [];
  beforeAll(async () => {
    server = await startTestServer({ stripe: true, onQuery: (q) => statements.push(q) });
    admin = await server.createUser({ admin: true });
  });
  afterAll(() => server.close());

  const intent = (id: string) => server.stripe.paymentIntents.retrieve(id);
  const customerOf = async (userId: string): Promise<string | null> =>
    (await sql(server.databaseUrl, 'select stripe_customer_id from app_user where id = $1', [userId]))[0].stripe_customer_id;
  const paymentRows = (userId: string) => sql(server.databaseUrl, 'select id, status from payment where user_id = $1', [userId]);

  it('pays with 4242: CONFIRMED; the PaymentIntent carries our id and metadata; the log tells the story', async () => {
    const user = await server.createUser();
    const { payment, checkoutUrl, clientSecret } = await pay(server, user.token, {
      amount: '10.00',
      currency: 'USD',
      paymentMethod: 'pm_card_visa',
      description: 'Ten minutes of support',
      orderId: 'order-1',
      metadata: { cart: 'c-9', items: 3, gift: false },
    });
    expect(payment).toMatchObject({
      status: 'CONFIRMED',
      captureMethod: 'AUTOMATIC',
      amount: { amount: '10.00', amountMinor: 1000, currency: 'usd' },
      capturedAmount: { amount: '10.00', amountMinor: 1000 },
      refundedAmount: { amount: '0.00', amountMinor: 0 },
      description: 'Ten minutes of support',
      orderId: 'order-1',
      metadata: { cart: 'c-9', items: 3, gift: false },
      failureCode: null,
      failureMessage: null,
    });
    expect(checkoutUrl).toBeNull();
    expect(clientSecret).toBeNull();
    const pi = await intent(payment.stripePaymentIntentId);
    expect(pi).toMatchObject({
      status: 'succeeded',
      amount: 1000,
      currency: 'usd',
      capture_method: 'automatic',
      customer: await customerOf(user.id),
      description: 'Ten minutes of support',
      metadata: {
        tollgate_payment_id: payment.id,
        tollgate_user_id: user.id,
        tollgate_order_id: 'order-1',
        cart: 'c-9',
        items: '3',
        gift: 'false',
      },
    });
    expect(logEvents(payment)).toEqual(['created', 'stripe', 'linked', 'captured', 'status']);
    expect(payment.logs[0].message).toBe('payment of 10.00 USD created, automatic capture, with payment method pm_card_visa');
    expect(payment.logs[1].message).toBe(`PaymentIntent ${pi.id} created and confirmed: succeeded`);
    expect(payment.logs[4].message).toBe('WAITING -> CONFIRMED (createPayment)');
    expect(Date.parse(payment.createdAt)).toBeLessThanOrEqual(Date.parse(payment.updatedAt));
    expect(Date.parse(payment.logs[0].createdAt)).toBeGreaterThanOrEqual(Date.parse(payment.createdAt));
    expect(Date.parse(payment.updatedAt)).toBeGreaterThanOrEqual(Date.parse(payment.logs.at(-1).createdAt));

    // The webhooks of our own call change nothing more.
    await server.emulator.idle(20_000);
    expect(logEvents(await paymentOf(server, payment.id, user.token))).toEqual(logEvents(payment));
  });

  it.each([
    ['pm_card_chargeDeclined', 'generic_decline', 'Your card was declined.'],
    ['pm_card_chargeDeclinedInsufficientFunds', 'insufficient_funds', 'Your card has insufficient funds.'],
  ])("a declined card (%s) is a REJECTED payment with Stripe's code, not an error", async (card, code, message) => {
    const user = await server.createUser();
    const res = await server.gql(CREATE_PAYMENT, { input: { amount: '12.50', currency: 'eur', paymentMethod: card } }, user.token);
    expect(res.errors).toBeUndefined();
    const { payment } = res.data.createPayment;
    expect(payment).toMatchObject({ status: 'REJECTED', failureCode: code, failureMessage: message, capturedAmount: { amountMinor: 0 } });
    expect((await intent(payment.stripePaymentIntentId)).status).toBe('requires_payment_method');
    expect(logEvents(payment)).toEqual(['created', 'stripe', 'linked', 'declined', 'status']);
    expect(payment.logs[3].message).toBe(`declined: ${code}: ${message} (createPayment)`);
    expect(payment.logs[4].message).toBe('WAITING -> REJECTED (createPayment)');
  });

  it('a card that asks for 3-D Secure: WAITING with a client secret, then CONFIRMED once authenticated', async () => {
    const user = await server.createUser();
    const { payment, clientSecret } = await pay(server, user.token, {
      amount: '30.00',
      currency: 'usd',
      paymentMethod: 'pm_card_authenticationRequired',
    });
    expect(payment.status).toBe('WAITING');
    expect(clientSecret).toMatch(new RegExp(`^${payment.stripePaymentIntentId}_secret_`));
    expect((await intent(payment.stripePaymentIntentId)).status).toBe('requires_action');
    await server.emulator.idle(20_000); // the echoes of our own call are in

    await server.stripe.rawRequest('POST', `/v1/test_helpers/payment_intents/${payment.stripePaymentIntentId}/authenticate`, {
      outcome: 'succeed',
    });
    await server.emulator.idle(20_000);
    const after = await paymentOf(server, payment.id, user.token);
    expect(after).toMatchObject({ status: 'CONFIRMED', capturedAmount: { amount: '30.00' } });
    expect(logEvents(payment)).toEqual(['created', 'stripe', 'linked']);
    expect(payment.logs[1].message).toBe(`PaymentIntent ${payment.stripePaymentIntentId} created and confirmed: requires_action`);
    expect(after.logs.slice(0, 3)).toEqual(payment.logs);
    expect(after.logs.slice(3).map((l: any) => [l.event, l.message])).toEqual([
      ['captured', expect.stringMatching(/^captured 30\.00 USD \(webhook payment_intent\.succeeded evt_\w+\)$/)],
      ['status', expect.stringMatching(/^WAITING -> CONFIRMED \(webhook payment_intent\.succeeded evt_\w+\)$/)],
    ]);
    expect(Date.parse(after.updatedAt)).toBeGreaterThan(Date.parse(payment.updatedAt));
  });

  it('manual capture: PREAUTH, only admins capture, a partial capture releases the rest; refunding it all is REFUNDED', async () => {
    const user = await server.createUser();
    const { payment } = await pay(server, user.token, {
      amount: '10.00',
      currency: 'usd',
      paymentMethod: 'pm_card_visa',
      captureMethod: 'MANUAL',
    });
    expect(payment).toMatchObject({ status: 'PREAUTH', captureMethod: 'MANUAL', capturedAmount: { amountMinor: 0 } });
    expect(await intent(payment.stripePaymentIntentId)).toMatchObject({ status: 'requires_capture', amount_capturable: 1000 });

    const byOwner = await server.gql(CAPTURE_PAYMENT, { id: payment.id }, user.token);
    expect(codeOf(byOwner)).toBe('FORBIDDEN');
    const tooMuch = await server.gql(CAPTURE_PAYMENT, { id: payment.id, amount: '12.00' }, admin.token);
    expect(tooMuch.errors?.[0].extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'amount',
      authorised: expect.stringMatching(/^\d+\.\d\d$/),
      authorisedMinor: payment.amount.amountMinor,
    });
    expect((await intent(payment.stripePaymentIntentId)).status).toBe('requires_capture');

    const captured = await server.gql(CAPTURE_PAYMENT, { id: payment.id, amount: '6.00' }, admin.token);
    expect(captured.errors).toBeUndefined();
    expect(Date.parse(captured.data.capturePayment.updatedAt)).toBeGreaterThan(Date.parse(payment.updatedAt));
    expect(captured.data.capturePayment.createdAt).toBe(payment.createdAt);
    expect(captured.data.capturePayment).toMatchObject({
      status: 'CONFIRMED',
      capturedAmount: { amount: '6.00' },
      refundedAmount: { amount: '0.00' },
    });
    expect(await intent(payment.stripePaymentIntentId)).toMatchObject({ status: 'succeeded', amount_received: 600, amount_capturable: 0 });
    expect(codeOf(await server.gql(CAPTURE_PAYMENT, { id: payment.id }, admin.token))).toBe('BAD_USER_INPUT');

    const refunded = await server.gql(REFUND_PAYMENT, { id: payment.id }, admin.token);
    expect(refunded.data.refundPayment).toMatchObject({
      status: 'REFUNDED',
      capturedAmount: { amount: '6.00' },
      refundedAmount: { amount: '6.00' },
    });
    expect(logEvents(refunded.data.refundPayment)).toEqual([
      'created',
      'stripe',
      'linked',
      'status',
      'stripe',
      'captured',
      'status',
      'stripe',
      'refunded',
      'status',
    ]);
    expect(refunded.data.refundPayment.logs.map((l: any) => l.message).slice(4)).toEqual([
      'capture of 6.00 USD accepted',
      'captured 6.00 USD (capturePayment)',
      'PREAUTH -> CONFIRMED (capturePayment)',
      expect.stringMatching(/^refund re_\w+ of 6\.00 USD: succeeded$/),
      'refunded 6.00 USD in total (was 0.00 USD) (refundPayment)',
      'CONFIRMED -> REFUNDED (refundPayment)',
    ]);
  });

  it('capturing without an amount captures all that is authorised', async () => {
    const user = await server.createUser();
    const { payment } = await pay(server, user.token, {
      amount: '42.00',
      currency: 'usd',
      paymentMethod: 'pm_card_mastercard',
      captureMethod: 'MANUAL',
    });
    const res = await server.gql(CAPTURE_PAYMENT, { id: payment.id }, admin.token);
    expect(res.data.capturePayment).toMatchObject({ status: 'CONFIRMED', capturedAmount: { amount: '42.00' } });
    expect((await intent(payment.stripePaymentIntentId)).amount_received).toBe(4200);
  });

  it('refunds: only admins; partial, then more than is left (refused), then the rest', async () => {
    const user = await server.createUser();
    const { payment } = await pay(server, user.token, { amount: '10.00', currency: 'usd', paymentMethod: 'pm_card_visa' });
    expect(codeOf(await server.gql(REFUND_PAYMENT, { id: payment.id, amount: '1.00' }, user.token))).toBe('FORBIDDEN');

    const partial = await server.gql(REFUND_PAYMENT, { id: payment.id, amount: '3.00' }, admin.token);
    expect(partial.data.refundPayment).toMatchObject({
      status: 'PARTIALLY_REFUNDED',
      refundedAmount: { amount: '3.00', amountMinor: 300 },
    });

    const over = await server.gql(REFUND_PAYMENT, { id: payment.id, amount: '8.00' }, admin.token);
    expect(over.errors?.[0].extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'amount',
      remaining: '7.00',
      remainingMinor: 700,
      currency: 'usd',
    });
    expect(over.errors?.[0].message).toBe('Cannot refund 8.00 USD: 7.00 USD is left to refund');
    expect((await server.stripe.refunds.list({ payment_intent: payment.stripePaymentIntentId })).data.map((r) => r.amount)).toEqual([300]);
    expect(codeOf(await server.gql(REFUND_PAYMENT, { id: payment.id, amount: '0.001' }, admin.token))).toBe('BAD_USER_INPUT');

    const rest = await server.gql(REFUND_PAYMENT, { id: payment.id }, admin.token);
    expect(rest.data.refundPayment).toMatchObject({ status: 'REFUNDED', refundedAmount: { amount: '10.00' } });
    expect((await server.stripe.refunds.list({ payment_intent: payment.stripePaymentIntentId })).data.map((r) => r.amount)).toEqual([
      700, 300,
    ]);
    expect(codeOf(await server.gql(REFUND_PAYMENT, { id: payment.id, amount: '0.01' }, admin.token))).toBe('BAD_USER_INPUT');
    const messages = rest.data.refundPayment.logs.filter((l: any) => l.event === 'refunded').map((l: any) => l.message);
    expect(messages).toEqual([
      'refunded 3.00 USD in total (was 0.00 USD) (refundPayment)',
      'refunded 10.00 USD in total (was 3.00 USD) (refundPayment)',
    ]);
  });

  it('cancel before capture: the owner cancels an authorisation (released in Stripe); a captured payment cannot be canceled', async () => {
    const user = await server.createUser();
    const { payment } = await pay(server, user.token, {
      amount: '15.00',
      currency: 'usd',
      paymentMethod: 'pm_card_visa',
      captureMethod: 'MANUAL',
    });
    const canceled = await server.gql(CANCEL_PAYMENT, { id: payment.id }, user.token);
    expect(canceled.errors).toBeUndefined();
    expect(canceled.data.cancelPayment).toMatchObject({ status: 'CANCELED', capturedAmount: { amountMinor: 0 } });
    expect(await intent(payment.stripePaymentIntentId)).toMatchObject({ status: 'canceled', cancellation_reason: 'requested_by_customer' });
    expect(canceled.data.cancelPayment.logs.slice(-2).map((l: any) => l.message)).toEqual([
      `PaymentIntent ${payment.stripePaymentIntentId} canceled`,
      'PREAUTH -> CANCELED (cancelPayment)',
    ]);
    expect(codeOf(await server.gql(CAPTURE_PAYMENT, { id: payment.id }, admin.token))).toBe('BAD_USER_INPUT');

    const { payment: paid } = await pay(server, user.token, { amount: '15.00', currency: 'usd', paymentMethod: 'pm_card_visa' });
    const refused = await server.gql(CANCEL_PAYMENT, { id: paid.id }, user.token);
    expect(refused.errors?.[0]).toMatchObject({
      message: 'Only a payment that has not been captured can be canceled; this one is CONFIRMED',
      extensions: { code: 'BAD_USER_INPUT' },
    });
    expect((await intent(paid.stripePaymentIntentId)).status).toBe('succeeded');
  });

  it('an admin cancels a payment still waiting for 3-D Secure', async () => {
    const user = await server.createUser();
    const { payment } = await pay(server, user.token, { amount: '9.00', currency: 'usd', paymentMethod: 'pm_card_threeDSecure2Required' });
    expect(payment.status).toBe('WAITING');
    const res = await server.gql(CANCEL_PAYMENT, { id: payment.id }, admin.token);
    expect(res.data.cancelPayment.status).toBe('CANCELED');
    expect((await intent(payment.stripePaymentIntentId)).status).toBe('canceled');
    expect(logEvents(res.data.cancelPayment)).toEqual(['created', 'stripe', 'linked', 'stripe', 'status']);
    expect(res.data.cancelPayment.logs.slice(-2).map((l: any) => l.message)).toEqual([
      `PaymentIntent ${payment.stripePaymentIntentId} canceled`,
      'WAITING -> CANCELED (cancelPayment)',
    ]);
  });

  it.each([
    ['500', 'JPY', 500, '500'],
    ['1.230', 'BHD', 1230, '1.230'],
    ['2', 'bhd', 2000, '2.000'],
  ])('%s %s is charged as %d minor units', async (amount, currency, minor, shown) => {
    const user = await server.createUser();
    const { payment } = await pay(server, user.token, { amount, currency, paymentMethod: 'pm_card_visa' });
    expect(payment).toMatchObject({ status: 'CONFIRMED', amount: { amount: shown, amountMinor: minor, currency: currency.toLowerCase() } });
    expect(await intent(payment.stripePaymentIntentId)).toMatchObject({
      amount: minor,
      currency: currency.toLowerCase(),
      status: 'succeeded',
    });
  });

  /** Everything Stripe holds for this user: customers (by email), PaymentIntents and Checkout Sessions naming them. */
  const stripeFor = async (user: { id: string; email: string }) => ({
    customers: (await server.stripe.customers.list({ email: user.email, limit: 100 })).data.map((c) => c.id),
    intents: (await server.stripe.paymentIntents.list({ limit: 100 })).data
      .filter((pi) => pi.metadata.tollgate_user_id === user.id)
      .map((pi) => pi.id),
    sessions: (await server.stripe.checkout.sessions.list({ limit: 100 })).data
      .filter((cs) => cs.metadata?.tollgate_user_id === user.id)
      .map((cs) => cs.id),
  });
  const logRows = async (userId: string) =>
    (
      await sql(
        server.databaseUrl,
        'select count(*)::int as n from payment_log l join payment p on p.id = l.payment_id where p.user_id = $1',
        [userId],
      )
    )[0].n;

  describe.each([
    ['with a payment method', 'pm_card_visa'],
    ['through Checkout', undefined],
  ])('bad amounts %s', (_path, paymentMethod) => {
    it.each([
      ['0', 'usd', /greater than zero/, 'amount'],
      ['0.000', 'bhd', /greater than zero/, 'amount'],
      ['-5.00', 'usd', /positive decimal/, 'amount'],
      ['ten', 'usd', /positive decimal/, 'amount'],
      ['1e3', 'usd', /positive decimal/, 'amount'],
      ['1,00', 'eur', /positive decimal/, 'amount'],
      ['', 'usd', /positive decimal/, 'amount'],
      ['10.001', 'usd', /at most 2 decimal places/, 'amount'],
      ['5.5', 'jpy', /no decimal places/, 'amount'],
      ['1.2345', 'bhd', /at most 3 decimal places/, 'amount'],
      ['1.234', 'bhd', /that is 1234 in BHD's minor unit.*third decimal must be 0.*use 1\.230 or 1\.240 BHD/, 'amount'],
      ['10.00', 'xyz', /Unknown currency/, 'currency'],
      ['10.00', 'us', /Unknown currency/, 'currency'],
      ['1000000.00', 'usd', /maximum/, 'amount'],
      ['100000000', 'jpy', /maximum/, 'amount'],
      ['100000.000', 'bhd', /maximum/, 'amount'],
    ])('%s %s is BAD_USER_INPUT, with nothing written here and nothing created in Stripe', async (amount, currency, message, field) => {
      const user = await server.createUser();
      const res = await server.gql(CREATE_PAYMENT, { input: { amount, currency, paymentMethod } }, user.token);
      expect(res.data).toBeNull();
      expect(res.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
      expect(res.errors?.[0].message).toMatch(message);
      expect(await paymentRows(user.id)).toEqual([]);
      expect(await logRows(user.id)).toBe(0);
      expect(await customerOf(user.id)).toBeNull();
      expect(await stripeFor(user)).toEqual({ customers: [], intents: [], sessions: [] });
    });

    // Only Stripe knows its minimum (it depends on the account's settlement currency) and the currencies it
    // takes, so these reach Stripe, which refuses them: no payment is kept and Stripe made none. The user's
    // Stripe customer, made for this first payment, stays: it is the user's, and their next payment uses it.
    it.each([
      ['0.10', 'usd', /at least \$0\.50 usd/, 'amount', 'amount_too_small'],
      ['10.00', 'irr', /Invalid currency: irr/, 'currency', 'parameter_invalid'],
    ])(
      '%s %s, which Stripe refuses, is BAD_USER_INPUT with no payment kept here and none made in Stripe',
      async (amount, currency, message, field, stripeCode) => {
        const user = await server.createUser();
        const res = await server.gql(CREATE_PAYMENT, { input: { amount, currency, paymentMethod } }, user.token);
        expect(res.data).toBeNull();
        expect(res.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field, stripeCode });
        expect(res.errors?.[0].message).toMatch(message);
        expect(await paymentRows(user.id)).toEqual([]);
        expect(await logRows(user.id)).toBe(0);
        expect(await stripeFor(user)).toEqual({ customers: [await customerOf(user.id)], intents: [], sessions: [] });
      },
    );
  });

  it('"1.234" BHD is 1234 fils, which Stripe cannot charge (the last digit must be 0): refused with the amounts it can charge, never rounded', async () => {
    const user = await server.createUser();
    const res = await server.gql(
      CREATE_PAYMENT,
      { input: { amount: '1.234', currency: 'BHD', paymentMethod: 'pm_card_visa' } },
      user.token,
    );
    expect(res.errors?.[0]).toMatchObject({
      message:
        'Invalid amount "1.234": that is 1234 in BHD\'s minor unit, and Stripe charges BHD only in steps of 0.010 (the third decimal must be 0; amounts are never rounded): use 1.230 or 1.240 BHD',
      extensions: { code: 'BAD_USER_INPUT', field: 'amount', amountMinor: 1234, chargeable: ['1.230', '1.240'] },
    });
    // Stripe (here its emulator) refuses that amount itself: asking it would only have made a customer for nothing.
    await expect(
      server.stripe.paymentIntents.create({ amount: 1234, currency: 'bhd', payment_method: 'pm_card_visa', confirm: true }),
    ).rejects.toMatchObject({
      code: 'invalid_charge_amount',
      param: 'amount',
    });
    // One of the amounts it names pays.
    const { payment } = await pay(server, user.token, {
      amount: res.errors![0].extensions!.chargeable[0],
      currency: 'bhd',
      paymentMethod: 'pm_card_visa',
    });
    expect(payment).toMatchObject({ status: 'CONFIRMED', amount: { amount: '1.230', amountMinor: 1230, currency: 'bhd' } });
  });

  it('rejects other bad input with BAD_USER_INPUT and no writes', async () => {
    const user = await server.createUser();
    for (const [input, field] of [
      [{ amount: '5.00', currency: 'usd', paymentMethod: 'pm_does_not_exist' }, 'paymentMethod'],
      [{ amount: '5.00', currency: 'usd', paymentMethod: 'not a payment method' }, 'paymentMethod'],
      [{ amount: '5.00', currency: 'usd', successUrl: 'javascript:alert(1)' }, 'successUrl'],
      [{ amount: '5.00', currency: 'usd', metadata: { nested: { no: 1 } } }, 'metadata'],
      [{ amount: '5.00', currency: 'usd', metadata: { tollgate_payment_id: 'forged' } }, 'metadata'],
      [{ amount: '5.00', currency: 'usd', description: 'x'.repeat(1001) }, 'description'],
    ] as const) {
      const res = await server.gql(CREATE_PAYMENT, { input }, user.token);
      expect(res.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    }
    expect(await paymentRows(user.id)).toEqual([]);
  });

  it('the same idempotency key returns the same payment and never a second PaymentIntent; another amount or currency is a CONFLICT', async () => {
    const user = await server.createUser();
    const input = { amount: '20.00', currency: 'usd', paymentMethod: 'pm_card_visa', idempotencyKey: 'order-77' };
    const first = await pay(server, user.token, input);
    await server.emulator.idle(20_000);
    const again = await pay(server, user.token, input);
    expect(again.payment.id).toBe(first.payment.id);
    expect(again.payment.stripePaymentIntentId).toBe(first.payment.stripePaymentIntentId);
    // A replay is an answer, not a change: the log and updatedAt stay as they were.
    expect(again.payment.logs).toEqual(first.payment.logs);
    expect(again.payment.updatedAt).toBe(first.payment.updatedAt);
    const customer = (await customerOf(user.id))!;
    expect((await server.stripe.paymentIntents.list({ customer })).data).toHaveLength(1);

    const otherAmount = await server.gql(CREATE_PAYMENT, { input: { ...input, amount: '21.00' } }, user.token);
    expect(otherAmount.errors?.[0].extensions).toMatchObject({ code: 'CONFLICT', field: 'idempotencyKey', paymentId: first.payment.id });
    const otherCurrency = await server.gql(CREATE_PAYMENT, { input: { ...input, currency: 'eur' } }, user.token);
    expect(codeOf(otherCurrency)).toBe('CONFLICT');
    expect(await paymentRows(user.id)).toHaveLength(1);
    expect((await server.stripe.paymentIntents.list({ customer })).data).toHaveLength(1);

    // The key is the user's own: someone else may use the same one.
    const other = await server.createUser();
    expect((await pay(server, other.token, input)).payment.id).not.toBe(first.payment.id);
  });

  it('five concurrent calls with one idempotency key make one payment and one PaymentIntent', async () => {
    const user = await server.createUser();
    const input = { amount: '7.00', currency: 'usd', paymentMethod: 'pm_card_visa', idempotencyKey: 'burst' };
    const results = await Promise.all(Array.from({ length: 5 }, () => server.gql(CREATE_PAYMENT, { input }, user.token)));
    expect(results.every((r) => r.errors === undefined)).toBe(true);
    expect(new Set(results.map((r) => r.data.createPayment.payment.id)).size).toBe(1);
    expect(await paymentRows(user.id)).toHaveLength(1);
    expect((await server.stripe.paymentIntents.list({ customer: (await customerOf(user.id))! })).data).toHaveLength(1);
  });

  it('a retry of a payment waiting for 3-D Secure gives the client secret again', async () => {
    const user = await server.createUser();
    const input = { amount: '11.00', currency: 'usd', paymentMethod: 'pm_card_authenticationRequired', idempotencyKey: 'tds-1' };
    const first = await pay(server, user.token, input);
    const again = await pay(server, user.token, input);
    expect(again.payment).toMatchObject({ id: first.payment.id, status: 'WAITING' });
    expect(again.clientSecret).toBe(first.clientSecret);
    expect(again.payment.logs).toEqual(first.payment.logs);
  });

  it("authorization: user B can neither see nor cancel A's payment; an admin can; anonymous callers are refused", async () => {
    const a = await server.createUser();
    const b = await server.createUser();
    const { payment } = await pay(server, a.token, {
      amount: '5.00',
      currency: 'usd',
      paymentMethod: 'pm_card_visa',
      captureMethod: 'MANUAL',
    });
    expect(codeOf(await server.gql(PAYMENT, { id: payment.id }, b.token))).toBe('NOT_FOUND');
    expect(codeOf(await server.gql(PAYMENT, { id: 'not-a-uuid' }, b.token))).toBe('NOT_FOUND');
    expect((await server.gql(MY_PAYMENTS, {}, b.token)).data.myPayments.edges).toEqual([]);
    expect(codeOf(await server.gql(CANCEL_PAYMENT, { id: payment.id }, b.token))).toBe('NOT_FOUND');
    expect(codeOf(await server.gql(CAPTURE_PAYMENT, { id: payment.id }, b.token))).toBe('FORBIDDEN');
    expect(codeOf(await server.gql(REFUND_PAYMENT, { id: payment.id }, b.token))).toBe('FORBIDDEN');
    expect((await intent(payment.stripePaymentIntentId)).status).toBe('requires_capture');
    expect((await server.gql(PAYMENT, { id: payment.id }, admin.token)).data.payment).toMatchObject({ id: payment.id, status: 'PREAUTH' });
    expect(codeOf(await server.gql(CREATE_PAYMENT, { input: { amount: '1.00', currency: 'usd' } }))).toBe('UNAUTHENTICATED');
    expect(codeOf(await server.gql(MY_PAYMENTS, {}))).toBe('UNAUTHENTICATED');
  });

  it('myPayments is paginated by cursor, newest first', async () => {
    const user = await server.createUser();
    const made: string[] = [];
    for (let i = 1; i <= 5; i++)
      made.push((await pay(server, user.token, { amount: `${i}.00`, currency: 'usd', paymentMethod: 'pm_card_visa' })).payment.id);
    const newestFirst = [...made].reverse();

    const page1 = (await server.gql(MY_PAYMENTS, { first: 2 }, user.token)).data.myPayments;
    expect(page1.edges.map((e: any) => e.node.id)).toEqual(newestFirst.slice(0, 2));
    expect(page1.pageInfo).toEqual({ hasNextPage: true, endCursor: page1.edges[1].cursor });
    const page2 = (await server.gql(MY_PAYMENTS, { first: 2, after: page1.pageInfo.endCursor }, user.token)).data.myPayments;
    expect(page2.edges.map((e: any) => e.node.id)).toEqual(newestFirst.slice(2, 4));
    const page3 = (await server.gql(MY_PAYMENTS, { first: 2, after: page2.pageInfo.endCursor }, user.token)).data.myPayments;
    expect(page3.edges.map((e: any) => e.node.id)).toEqual(newestFirst.slice(4));
    expect(page3.pageInfo.hasNextPage).toBe(false);
    const all = (await server.gql(MY_PAYMENTS, {}, user.token)).data.myPayments;
    expect(all.edges.map((e: any) => e.node.id)).toEqual(newestFirst);

    // Payments made in the same instant still page without gaps or repeats (the id breaks the tie).
    await sql(server.databaseUrl, 'update payment set created_at = $2 where id = any($1)', [
      made.slice(1, 4),
      new Date('2026-01-01T00:00:00.000Z'),
    ]);
    const seen: string[] = [];
    let after: string | null = null;
    do {
      const page: any = (await server.gql(MY_PAYMENTS, { first: 1, after }, user.token)).data.myPayments;
      seen.push(...page.edges.map((e: any) => e.node.id));
      after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
    } while (after);
    const tied = [...made.slice(1, 4)].sort().reverse();
    expect(seen).toEqual([made[4], made[0], ...tied]);

    for (const variables of [{ first: 0 }, { first: 101 }, { after: 'bm90LWEtY3Vyc29y' }, { after: '%%%' }]) {
      expect(codeOf(await server.gql(MY_PAYMENTS, variables, user.token))).toBe('BAD_USER_INPUT');
    }
  });

  it('a page of 50 payments with their logs costs the same number of SQL statements as a page of 5', async () => {
    const user = await server.createUser();
    for (let i = 0; i < 50; i++)
      await pay(server, user.token, {
        amount: '1.00',
        currency: 'usd',
        paymentMethod: i % 5 === 0 ? 'pm_card_chargeDeclined' : 'pm_card_visa',
      });
    await server.emulator.idle(30_000);

    const measure = async (first: number) => {
      statements.length = 0;
      const res = await server.gql(MY_PAYMENTS, { first }, user.token);
      const count = statements.length;
      expect(res.errors).toBeUndefined();
      expect(res.data.myPayments.edges).toHaveLength(first);
      expect(res.data.myPayments.edges.every((e: any) => e.node.logs.length >= 5)).toBe(true);
      return count;
    };
    const fifty = await measure(50);
    const five = await measure(5);
    expect(fifty).toBe(five);
    // authenticate, one page of payments, one batch of logs
    expect(fifty).toBeLessThanOrEqual(3);
  });
});
