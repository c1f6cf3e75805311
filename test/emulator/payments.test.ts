import type Stripe from 'stripe';
import { cardBehaviour } from '../../src/emulator/payments/cards';
import { CARD, eventTypes, latestEventId, raw, rejection, startTestEmulator, type TestEmulator } from './support';

let t: TestEmulator;
beforeAll(async () => {
  t = await startTestEmulator();
});
afterAll(() => t.em.stop());

const pay = (params: Partial<Stripe.PaymentIntentCreateParams> = {}) =>
  t.stripe.paymentIntents.create({ amount: 2000, currency: 'usd', ...CARD, ...params } as Stripe.PaymentIntentCreateParams);

describe('test cards', () => {
  test('cardBehaviour knows Stripe’s test numbers', () => {
    expect(cardBehaviour('4242 4242 4242 4242')).toMatchObject({
      valid: true,
      brand: 'visa',
      last4: '4242',
      decline: null,
      threeDSecure: 'none',
      dispute: null,
    });
    expect(cardBehaviour('4000000000000002').decline).toMatchObject({ code: 'card_declined', decline_code: 'generic_decline' });
    expect(cardBehaviour('4000000000009995').decline).toMatchObject({ code: 'card_declined', decline_code: 'insufficient_funds' });
    expect(cardBehaviour('4000002500003155').threeDSecure).toBe('unless_set_up');
    expect(cardBehaviour('4000000000000259').dispute).toBe('fraudulent');
    expect(cardBehaviour('4000000000000341')).toMatchObject({ attachDecline: null, decline: { decline_code: 'generic_decline' } });
    expect(cardBehaviour('5555555555554444').brand).toBe('mastercard');
    expect(cardBehaviour('4242424242424241').valid).toBe(false);
  });
});

describe('payment methods', () => {
  test('magic ids create concrete payment methods', async () => {
    const a = await t.stripe.paymentMethods.retrieve('pm_card_visa');
    const b = await t.stripe.paymentMethods.retrieve('pm_card_visa');
    expect(a.id).toMatch(/^pm_[A-Za-z0-9]{24}$/);
    expect(b.id).not.toBe(a.id);
    expect(a).toMatchObject({ object: 'payment_method', type: 'card', customer: null, livemode: false });
    expect(a.card).toMatchObject({ brand: 'visa', last4: '4242', funding: 'credit', country: 'US' });
    const mc = await t.stripe.paymentMethods.retrieve('pm_card_mastercard');
    expect(mc.card).toMatchObject({ brand: 'mastercard', last4: '4444' });
    expect(await t.stripe.paymentMethods.retrieve(a.id)).toEqual(a);
  });

  test('card numbers, expiry checks and Luhn', async () => {
    const pm = await t.stripe.paymentMethods.create({
      type: 'card',
      card: { number: '4000000000009995', exp_month: 3, exp_year: 2040, cvc: '123' },
      billing_details: { name: 'Ada' },
    });
    expect(pm.card).toMatchObject({ last4: '9995', exp_month: 3, exp_year: 2040, brand: 'visa' });
    expect(pm.billing_details.name).toBe('Ada');
    const wrong = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.paymentMethods.create({ type: 'card', card: { number: '4242424242424241', exp_month: 3, exp_year: 2040 } }),
    );
    expect(wrong.statusCode).toBe(402);
    expect(wrong).toMatchObject({
      type: 'StripeCardError',
      code: 'incorrect_number',
      param: 'card[number]',
      message: 'Your card number is incorrect.',
    });
    const expired = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.paymentMethods.create({ type: 'card', card: { number: '4242424242424242', exp_month: 3, exp_year: 2001 } }),
    );
    expect(expired).toMatchObject({ code: 'invalid_expiry_year', param: 'card[exp_year]' });
    const tok = await t.stripe.paymentMethods.create({ type: 'card', card: { token: 'tok_mastercard' } });
    expect(tok.card?.brand).toBe('mastercard');
  });

  test('attach, list by customer, detach; declining cards cannot be saved', async () => {
    const c = await t.stripe.customers.create({});
    const since = await latestEventId(t.stripe);
    const pm = await t.stripe.paymentMethods.attach('pm_card_visa', { customer: c.id });
    expect(pm.customer).toBe(c.id);
    const created = await t.stripe.paymentMethods.create({
      type: 'card',
      card: { number: '5555555555554444', exp_month: 1, exp_year: 2039 },
    });
    await t.stripe.paymentMethods.attach(created.id, { customer: c.id });
    const listed = await t.stripe.paymentMethods.list({ customer: c.id, type: 'card' });
    expect(listed.data.map((m) => m.id)).toEqual([created.id, pm.id]);

    const detached = await t.stripe.paymentMethods.detach(pm.id);
    expect(detached.customer).toBeNull();
    expect((await t.stripe.paymentMethods.list({ customer: c.id })).data.map((m) => m.id)).toEqual([created.id]);
    expect(await eventTypes(t.stripe, since)).toEqual(['payment_method.attached', 'payment_method.attached', 'payment_method.detached']);
    const reuse = await rejection<Stripe.errors.StripeError>(() => t.stripe.paymentMethods.attach(pm.id, { customer: c.id }));
    expect(reuse.statusCode).toBe(400);
    expect(reuse.message).toMatch(/It may not be used again/);

    const declined = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.paymentMethods.attach('pm_card_chargeDeclined', { customer: c.id }),
    );
    expect(declined).toMatchObject({ statusCode: 402, code: 'card_declined', decline_code: 'generic_decline' });
    const failsLater = await t.stripe.paymentMethods.attach('pm_card_chargeCustomerFail', { customer: c.id });
    expect(failsLater.customer).toBe(c.id);
    const missing = await rejection<Stripe.errors.StripeError>(() => t.stripe.paymentMethods.retrieve('pm_nope'));
    expect(missing.message).toBe("No such PaymentMethod: 'pm_nope'");
  });
});

describe('payment intents', () => {
  test('lifecycle without confirm, confirm later, charges retrievable', async () => {
    const since = await latestEventId(t.stripe);
    const pi = await pay({ description: 'Day pass', metadata: { order: '42' } });
    expect(pi).toMatchObject({
      object: 'payment_intent',
      status: 'requires_payment_method',
      amount: 2000,
      currency: 'usd',
      description: 'Day pass',
      metadata: { order: '42' },
      latest_charge: null,
      amount_received: 0,
    });
    expect(pi.client_secret).toMatch(new RegExp(`^${pi.id}_secret_`));
    expect(pi).toMatchObject({
      allowed_payment_method_types: ['card'],
      payment_method_types: ['card'],
      automatic_payment_methods: null,
      capture_method: 'automatic_async',
    });
    const withPm = await t.stripe.paymentIntents.update(pi.id, { payment_method: 'pm_card_visa', metadata: { order: '43' } });
    expect(withPm.status).toBe('requires_confirmation');
    expect(withPm.metadata).toEqual({ order: '43' });
    const done = await t.stripe.paymentIntents.confirm(pi.id);
    expect(done.status).toBe('succeeded');
    expect(done.amount_received).toBe(2000);
    const charge = await t.stripe.charges.retrieve(done.latest_charge as string);
    expect(charge).toMatchObject({
      object: 'charge',
      status: 'succeeded',
      paid: true,
      captured: true,
      amount: 2000,
      amount_captured: 2000,
      amount_refunded: 0,
      payment_intent: pi.id,
      refunded: false,
      disputed: false,
    });
    expect(charge.payment_method_details?.card?.last4).toBe('4242');
    expect(charge.outcome?.type).toBe('authorized');
    expect((await t.stripe.charges.list({ payment_intent: pi.id })).data.map((c) => c.id)).toEqual([charge.id]);
    expect(await eventTypes(t.stripe, since)).toEqual(['payment_intent.created', 'charge.succeeded', 'payment_intent.succeeded']);

    const again = await rejection<Stripe.errors.StripeError>(() => t.stripe.paymentIntents.confirm(pi.id));
    expect(again).toMatchObject({
      code: 'payment_intent_unexpected_state',
      message: 'You cannot confirm this PaymentIntent because it has already succeeded after being previously confirmed.',
    });
    const cancel = await rejection<Stripe.errors.StripeError>(() => t.stripe.paymentIntents.cancel(pi.id));
    expect(cancel.code).toBe('payment_intent_unexpected_state');
    expect(cancel.message).toMatch(/^You cannot cancel this PaymentIntent because it has a status of succeeded\./);
    const amount = await rejection<Stripe.errors.StripeError>(() => t.stripe.paymentIntents.update(pi.id, { amount: 5 }));
    expect(amount.code).toBe('payment_intent_unexpected_state');
    const described = await t.stripe.paymentIntents.update(pi.id, { description: 'still editable' });
    expect(described.description).toBe('still editable');
  });

  test('confirm without payment method, and automatic payment methods need a return_url', async () => {
    const pi = await pay();
    const err = await rejection<Stripe.errors.StripeError>(() => t.stripe.paymentIntents.confirm(pi.id));
    expect(err.code).toBe('payment_intent_unexpected_state');
    expect(err.message).toMatch(/missing a payment method/);

    const auto = await t.stripe.paymentIntents.create({ amount: 1000, currency: 'usd' });
    expect(auto.automatic_payment_methods).toEqual({ enabled: true, allow_redirects: 'always' });
    expect(auto.allowed_payment_method_types).toBeNull();
    const needsReturn = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.paymentIntents.confirm(auto.id, { payment_method: 'pm_card_visa' }),
    );
    expect(needsReturn.message).toMatch(/you must provide a `return_url`/);
    const ok = await t.stripe.paymentIntents.confirm(auto.id, { payment_method: 'pm_card_visa', return_url: 'https://example.com/back' });
    expect(ok.status).toBe('succeeded');
    const never = await t.stripe.paymentIntents.create({
      amount: 1000,
      currency: 'usd',
      automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
      payment_method: 'pm_card_visa',
      confirm: true,
    });
    expect(never.status).toBe('succeeded');
  });

  test('amounts and currencies are validated as Stripe does', async () => {
    const zero = await rejection<Stripe.errors.StripeError>(() => pay({ amount: 0 }));
    expect(zero.param).toBe('amount');
    const small = await rejection<Stripe.errors.StripeError>(() => pay({ amount: 49 }));
    expect(small).toMatchObject({ code: 'amount_too_small', param: 'amount', message: 'Amount must be at least $0.50 usd' });
    const large = await rejection<Stripe.errors.StripeError>(() => pay({ amount: 100_000_000 }));
    expect(large).toMatchObject({ code: 'amount_too_large', message: 'Amount must be no more than $999,999.99' });
    expect((await pay({ amount: 99_999_999 })).amount).toBe(99_999_999);
    const currency = await rejection<Stripe.errors.StripeError>(() => pay({ currency: 'abc' }));
    expect(currency.param).toBe('currency');
    expect((await pay({ amount: 50, currency: 'jpy' })).amount).toBe(50);
    const bhd = await rejection<Stripe.errors.StripeError>(() => pay({ amount: 1005, currency: 'bhd' }));
    expect(bhd.param).toBe('amount');
    expect((await pay({ amount: 1000, currency: 'BHD' })).currency).toBe('bhd');
  });

  test('a payment method saved on a customer needs that customer; unsaved ones are single-use', async () => {
    const c = await t.stripe.customers.create({ payment_method: 'pm_card_visa' });
    const [saved] = (await t.stripe.paymentMethods.list({ customer: c.id })).data as [Stripe.PaymentMethod];
    const err = await rejection<Stripe.errors.StripeError>(() => pay({ payment_method: saved.id, confirm: true }));
    expect(err.param).toBe('payment_method');
    expect(err.message).toBe(
      `The \`payment_method\` parameter supplied ${saved.id} belongs to the Customer ${c.id}. Please include the Customer in the \`customer\` parameter on the PaymentIntent.`,
    );
    expect((await pay({ payment_method: saved.id, customer: c.id, confirm: true })).status).toBe('succeeded');
    expect((await pay({ payment_method: saved.id, customer: c.id, confirm: true })).status).toBe('succeeded');

    const loose = await t.stripe.paymentMethods.create({
      type: 'card',
      card: { number: '4242424242424242', exp_month: 1, exp_year: 2040 },
    });
    expect((await pay({ payment_method: loose.id, confirm: true })).status).toBe('succeeded');
    const reused = await rejection<Stripe.errors.StripeError>(() => pay({ payment_method: loose.id, confirm: true }));
    expect(reused.message).toMatch(/^The provided PaymentMethod was previously used with a PaymentIntent without Customer attachment/);

    // setup_future_usage saves the card on the customer after a successful payment
    const c2 = await t.stripe.customers.create({});
    const first = await pay({ payment_method: 'pm_card_visa', customer: c2.id, setup_future_usage: 'off_session', confirm: true });
    expect(first.status).toBe('succeeded');
    const pmId = first.payment_method as string;
    expect((await t.stripe.paymentMethods.retrieve(pmId)).customer).toBe(c2.id);
  });

  test('declines answer 402 card_error and leave the intent requires_payment_method', async () => {
    const since = await latestEventId(t.stripe);
    const err = await rejection<Stripe.errors.StripeCardError>(() => pay({ payment_method: 'pm_card_chargeDeclined', confirm: true }));
    expect(err.statusCode).toBe(402);
    expect(err).toMatchObject({
      type: 'StripeCardError',
      rawType: 'card_error',
      code: 'card_declined',
      decline_code: 'generic_decline',
      message: 'Your card was declined.',
    });
    const errPi = err.payment_intent as Stripe.PaymentIntent;
    expect(errPi.status).toBe('requires_payment_method');
    expect(err.charge).toMatch(/^ch_/);
    const pi = await t.stripe.paymentIntents.retrieve(errPi.id);
    expect(pi.status).toBe('requires_payment_method');
    expect(pi.payment_method).toBeNull();
    expect(pi.last_payment_error).toMatchObject({
      type: 'card_error',
      code: 'card_declined',
      decline_code: 'generic_decline',
      charge: err.charge,
    });
    expect(pi.last_payment_error?.payment_method?.card?.last4).toBe('0002');
    const charge = await t.stripe.charges.retrieve(pi.latest_charge as string);
    expect(charge).toMatchObject({
      status: 'failed',
      paid: false,
      captured: false,
      failure_code: 'card_declined',
      failure_message: 'Your card was declined.',
    });
    expect(charge.outcome).toMatchObject({ type: 'issuer_declined', reason: 'generic_decline', network_status: 'declined_by_network' });
    expect(await eventTypes(t.stripe, since)).toEqual(['payment_intent.created', 'charge.failed', 'payment_intent.payment_failed']);

    // the customer tries again with another card
    const retry = await t.stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa' });
    expect(retry.status).toBe('succeeded');
    expect(retry.last_payment_error).toBeNull();
    expect((await t.stripe.charges.list({ payment_intent: pi.id })).data.map((c) => c.status)).toEqual(['succeeded', 'failed']);
  });

  test('decline codes from magic ids and card numbers', async () => {
    const insufficient = await rejection<Stripe.errors.StripeCardError>(() =>
      pay({ payment_method: 'pm_card_chargeDeclinedInsufficientFunds', confirm: true }),
    );
    expect(insufficient).toMatchObject({
      code: 'card_declined',
      decline_code: 'insufficient_funds',
      message: 'Your card has insufficient funds.',
    });
    for (const [number, code, declineCode] of [
      ['4000000000000002', 'card_declined', 'generic_decline'],
      ['4000000000009995', 'card_declined', 'insufficient_funds'],
      ['4000000000000069', 'expired_card', 'expired_card'],
      ['4000000000000127', 'incorrect_cvc', 'incorrect_cvc'],
    ] as const) {
      const pm = await t.stripe.paymentMethods.create({ type: 'card', card: { number, exp_month: 12, exp_year: 2040 } });
      const err = await rejection<Stripe.errors.StripeCardError>(() => pay({ payment_method: pm.id, confirm: true }));
      expect([number, err.code, err.decline_code]).toEqual([number, code, declineCode]);
    }
    const c = await t.stripe.customers.create({ payment_method: 'pm_card_chargeCustomerFail' });
    const saved = (await t.stripe.paymentMethods.list({ customer: c.id })).data[0] as Stripe.PaymentMethod;
    const failing = await rejection<Stripe.errors.StripeCardError>(() =>
      pay({ customer: c.id, payment_method: saved.id, confirm: true, off_session: true }),
    );
    expect(failing.decline_code).toBe('generic_decline');
  });

  test('manual capture: requires_capture, partial capture releases the rest', async () => {
    const since = await latestEventId(t.stripe);
    const pi = await pay({ amount: 5000, capture_method: 'manual', payment_method: 'pm_card_visa', confirm: true });
    expect(pi).toMatchObject({ status: 'requires_capture', amount_capturable: 5000, amount_received: 0, capture_method: 'manual' });
    const auth = await t.stripe.charges.retrieve(pi.latest_charge as string);
    expect(auth).toMatchObject({ status: 'succeeded', captured: false, amount_captured: 0 });
    const refund = await rejection<Stripe.errors.StripeError>(() => t.stripe.refunds.create({ payment_intent: pi.id }));
    expect(refund.statusCode).toBe(400);
    const tooMuch = await rejection<Stripe.errors.StripeError>(() => t.stripe.paymentIntents.capture(pi.id, { amount_to_capture: 5001 }));
    expect(tooMuch.param).toBe('amount_to_capture');

    const captured = await t.stripe.paymentIntents.capture(pi.id, { amount_to_capture: 3000 });
    expect(captured).toMatchObject({ status: 'succeeded', amount_received: 3000, amount_capturable: 0 });
    const charge = await t.stripe.charges.retrieve(pi.latest_charge as string);
    expect(charge).toMatchObject({ captured: true, amount: 5000, amount_captured: 3000, amount_refunded: 2000, refunded: false });
    expect(await eventTypes(t.stripe, since)).toEqual([
      'payment_intent.created',
      'charge.succeeded',
      'payment_intent.amount_capturable_updated',
      'charge.captured',
      'payment_intent.succeeded',
    ]);
    // only the captured part can be refunded
    const over = await rejection<Stripe.errors.StripeError>(() => t.stripe.refunds.create({ payment_intent: pi.id, amount: 3001 }));
    expect(over.message).toBe('Refund amount ($30.01) is greater than unrefunded amount on charge ($30.00)');
    await t.stripe.refunds.create({ payment_intent: pi.id });
    expect((await t.stripe.charges.retrieve(charge.id)).refunded).toBe(true);

    const full = await pay({ capture_method: 'manual', payment_method: 'pm_card_visa', confirm: true });
    expect((await t.stripe.paymentIntents.capture(full.id)).amount_received).toBe(2000);
  });

  test('cancel: only cancelable states; an authorization is released', async () => {
    const open = await pay();
    const canceled = await t.stripe.paymentIntents.cancel(open.id, { cancellation_reason: 'abandoned' });
    expect(canceled).toMatchObject({ status: 'canceled', cancellation_reason: 'abandoned' });
    expect(canceled.canceled_at).toEqual(expect.any(Number));
    const twice = await rejection<Stripe.errors.StripeError>(() => t.stripe.paymentIntents.cancel(open.id));
    expect(twice.code).toBe('payment_intent_unexpected_state');

    const held = await pay({ capture_method: 'manual', payment_method: 'pm_card_visa', confirm: true });
    const since = await latestEventId(t.stripe);
    await t.stripe.paymentIntents.cancel(held.id);
    const charge = await t.stripe.charges.retrieve(held.latest_charge as string);
    expect(charge).toMatchObject({ captured: false, refunded: true, amount_refunded: 2000 });
    expect(await eventTypes(t.stripe, since)).toEqual(['charge.refunded', 'payment_intent.canceled']);
  });

  test('list by customer and retrieve with client_secret', async () => {
    const c = await t.stripe.customers.create({});
    const a = await pay({ customer: c.id });
    const b = await pay({ customer: c.id, payment_method: 'pm_card_visa', confirm: true });
    await pay();
    expect((await t.stripe.paymentIntents.list({ customer: c.id })).data.map((p) => p.id)).toEqual([b.id, a.id]);
    const res = await raw(t.em, 'GET', `/v1/payment_intents/${a.id}?client_secret=${a.client_secret}`);
    expect(res.json.id).toBe(a.id);
    const wrong = await raw(t.em, 'GET', `/v1/payment_intents/${a.id}?client_secret=nope`);
    expect(wrong.status).toBe(400);
  });
});

describe('3-D Secure', () => {
  test('requires_action with a redirect, completed with the test helper', async () => {
    const since = await latestEventId(t.stripe);
    const pi = await pay({ payment_method: 'pm_card_authenticationRequired', confirm: true, return_url: 'https://shop.example/return' });
    expect(pi.status).toBe('requires_action');
    expect(pi.client_secret).toBeTruthy();
    expect(pi.next_action?.type).toBe('redirect_to_url');
    expect(pi.next_action?.redirect_to_url?.return_url).toBe('https://shop.example/return');
    expect(pi.next_action?.redirect_to_url?.url).toBe(
      `${t.em.url}/authenticate/${pi.id}?client_secret=${encodeURIComponent(pi.client_secret as string)}`,
    );
    expect(pi.latest_charge).toBeNull();

    const done = await t.stripe.rawRequest('POST', `/v1/test_helpers/payment_intents/${pi.id}/authenticate`, { outcome: 'succeed' });
    expect(done.status).toBe('succeeded');
    expect(done.next_action).toBeNull();
    // the confirm was the account's API call; the authentication is the customer's
    expect((await t.stripe.events.list({ type: 'payment_intent.requires_action', limit: 1 })).data[0]?.request?.id).toMatch(/^req_/);
    expect((await t.stripe.events.list({ type: 'payment_intent.succeeded', limit: 1 })).data[0]?.request).toEqual({
      id: null,
      idempotency_key: null,
    });
    const charge = await t.stripe.charges.retrieve(done.latest_charge);
    expect(charge.payment_method_details?.card?.three_d_secure?.result).toBe('authenticated');
    expect(await eventTypes(t.stripe, since)).toEqual([
      'payment_intent.created',
      'payment_intent.requires_action',
      'charge.succeeded',
      'payment_intent.succeeded',
    ]);
    const notNow = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.rawRequest('POST', `/v1/test_helpers/payment_intents/${pi.id}/authenticate`, {}),
    );
    expect(notNow.code).toBe('payment_intent_unexpected_state');
  });

  test('manual capture after 3-D Secure gives requires_capture', async () => {
    const pi = await pay({ payment_method: 'pm_card_authenticationRequired', capture_method: 'manual', confirm: true });
    const done = await t.stripe.rawRequest('POST', `/v1/test_helpers/payment_intents/${pi.id}/authenticate`, { outcome: 'succeed' });
    expect(done).toMatchObject({ status: 'requires_capture', amount_capturable: 2000 });
  });

  test('failed authentication: requires_payment_method with payment_intent_authentication_failure', async () => {
    const pi = await pay({ payment_method: 'pm_card_authenticationRequired', confirm: true });
    const failed = await t.stripe.rawRequest('POST', `/v1/test_helpers/payment_intents/${pi.id}/authenticate`, { outcome: 'fail' });
    expect(failed.status).toBe('requires_payment_method');
    expect(failed.last_payment_error.code).toBe('payment_intent_authentication_failure');
    const events = await t.stripe.events.list({ type: 'payment_intent.payment_failed', limit: 1 });
    expect((events.data[0]?.data.object as Stripe.PaymentIntent).id).toBe(pi.id);
    // 4000 0082 6000 3178: authenticates, then the bank declines
    const declined = await pay({ payment_method: 'pm_card_authenticationRequiredChargeDeclinedInsufficientFunds', confirm: true });
    const after = await t.stripe.rawRequest('POST', `/v1/test_helpers/payment_intents/${declined.id}/authenticate`, { outcome: 'succeed' });
    expect(after.status).toBe('requires_payment_method');
    expect(after.last_payment_error.decline_code).toBe('insufficient_funds');
  });

  test('the authentication page completes the payment and returns to return_url', async () => {
    const pi = await pay({
      payment_method: 'pm_card_authenticationRequired',
      confirm: true,
      return_url: 'https://shop.example/return?order=7',
    });
    const url = new URL(pi.next_action?.redirect_to_url?.url as string);
    const pageRes = await raw(t.em, 'GET', url.pathname + url.search, { auth: null });
    expect(pageRes.status).toBe(200);
    expect(pageRes.headers['content-type']).toMatch(/text\/html/);
    expect(pageRes.text).toContain('>Complete</button>');
    expect(pageRes.text).toContain('>Fail</button>');
    expect(pageRes.text).toContain('$20.00');
    const submit = await raw(t.em, 'POST', url.pathname + url.search, { auth: null, body: 'outcome=succeed' });
    expect(submit.status).toBe(303);
    const back = new URL(submit.headers.location as string);
    expect(back.origin + back.pathname).toBe('https://shop.example/return');
    expect(Object.fromEntries(back.searchParams)).toEqual({
      order: '7',
      payment_intent: pi.id,
      payment_intent_client_secret: pi.client_secret,
      redirect_status: 'succeeded',
    });
    expect((await t.stripe.paymentIntents.retrieve(pi.id)).status).toBe('succeeded');

    // Without a return_url the next action is for Stripe.js (use_stripe_sdk), as in Stripe; its details carry the same page.
    const other = await pay({ payment_method: 'pm_card_authenticationRequired', confirm: true });
    expect(other.next_action?.type).toBe('use_stripe_sdk');
    const otherUrl = new URL((other.next_action?.use_stripe_sdk as { stripe_js: string }).stripe_js);
    const failed = await raw(t.em, 'POST', otherUrl.pathname + otherUrl.search, { auth: null, body: 'outcome=fail' });
    expect(failed.status).toBe(200);
    expect(failed.text).toContain('Authentication failed');
    expect((await t.stripe.paymentIntents.retrieve(other.id)).status).toBe('requires_payment_method');
    const badSecret = await raw(t.em, 'GET', `/authenticate/${other.id}?client_secret=wrong`, { auth: null });
    expect(badSecret.status).toBe(404);
  });

  test('off-session: always-authenticate cards fail, set-up cards pass', async () => {
    const c = await t.stripe.customers.create({});
    const always = await t.stripe.paymentMethods.attach('pm_card_authenticationRequired', { customer: c.id });
    const err = await rejection<Stripe.errors.StripeCardError>(() =>
      pay({ customer: c.id, payment_method: always.id, confirm: true, off_session: true }),
    );
    expect(err).toMatchObject({ statusCode: 402, code: 'authentication_required', decline_code: 'authentication_required' });

    const onSetup = await t.stripe.paymentMethods.attach('pm_card_authenticationRequiredOnSetup', { customer: c.id });
    const notSetUp = await rejection<Stripe.errors.StripeCardError>(() =>
      pay({ customer: c.id, payment_method: onSetup.id, confirm: true, off_session: true }),
    );
    expect(notSetUp.code).toBe('authentication_required');
    const onSession = await pay({ customer: c.id, payment_method: onSetup.id, confirm: true });
    expect(onSession.status).toBe('requires_action');
    await t.stripe.rawRequest('POST', `/v1/test_helpers/payment_intents/${onSession.id}/authenticate`, { outcome: 'succeed' });
    const later = await pay({ customer: c.id, payment_method: onSetup.id, confirm: true, off_session: true });
    expect(later.status).toBe('succeeded');
  });
});

describe('refunds', () => {
  test('partial, then full, then over-refund; charge amounts follow', async () => {
    const pi = await pay({ amount: 1000, payment_method: 'pm_card_visa', confirm: true });
    // more than the charge, before any refund: Stripe names the charge amount, and gives no code
    for (const by of [{ payment_intent: pi.id }, { charge: pi.latest_charge as string }]) {
      const whole = await rejection<Stripe.errors.StripeError>(() => t.stripe.refunds.create({ ...by, amount: 1001 }));
      expect(whole).toMatchObject({
        statusCode: 400,
        rawType: 'invalid_request_error',
        param: 'amount',
        message: 'Refund amount ($10.01) is greater than charge amount ($10.00)',
      });
      expect(whole.code).toBeUndefined();
    }
    const since = await latestEventId(t.stripe);
    const partial = await t.stripe.refunds.create({
      payment_intent: pi.id,
      amount: 300,
      reason: 'requested_by_customer',
      metadata: { ticket: 'T-1' },
    });
    expect(partial).toMatchObject({
      object: 'refund',
      amount: 300,
      status: 'succeeded',
      payment_intent: pi.id,
      charge: pi.latest_charge,
      reason: 'requested_by_customer',
      metadata: { ticket: 'T-1' },
      currency: 'usd',
    });
    let charge = await t.stripe.charges.retrieve(pi.latest_charge as string);
    expect(charge).toMatchObject({ amount_refunded: 300, refunded: false });

    const tooMuch = await rejection<Stripe.errors.StripeError>(() => t.stripe.refunds.create({ payment_intent: pi.id, amount: 800 }));
    expect(tooMuch).toMatchObject({
      statusCode: 400,
      rawType: 'invalid_request_error',
      param: 'amount',
      message: 'Refund amount ($8.00) is greater than unrefunded amount on charge ($7.00)',
    });
    expect(tooMuch.code).toBeUndefined();

    const rest = await t.stripe.refunds.create({ charge: charge.id });
    expect(rest.amount).toBe(700);
    charge = await t.stripe.charges.retrieve(charge.id);
    expect(charge).toMatchObject({ amount_refunded: 1000, refunded: true });

    const again = await rejection<Stripe.errors.StripeError>(() => t.stripe.refunds.create({ payment_intent: pi.id, amount: 1 }));
    expect(again).toMatchObject({
      statusCode: 400,
      code: 'charge_already_refunded',
      message: `Charge ${charge.id} has already been refunded.`,
    });

    expect(await eventTypes(t.stripe, since)).toEqual(['refund.created', 'charge.refunded', 'refund.created', 'charge.refunded']);
    const refundedEvent = (await t.stripe.events.list({ type: 'charge.refunded', limit: 1 })).data[0] as Stripe.Event;
    expect(refundedEvent.data.previous_attributes).toEqual({ amount_refunded: 300, refunded: false });

    expect(await t.stripe.refunds.retrieve(partial.id)).toEqual(partial);
    expect((await t.stripe.refunds.list({ payment_intent: pi.id })).data.map((r) => r.id)).toEqual([rest.id, partial.id]);
    expect((await t.stripe.refunds.list({ charge: charge.id })).data).toHaveLength(2);
    const updated = await t.stripe.refunds.update(partial.id, { metadata: { ticket: 'T-2' } });
    expect(updated.metadata).toEqual({ ticket: 'T-2' });
  });

  test('refunds need a succeeded payment', async () => {
    const open = await pay();
    const err = await rejection<Stripe.errors.StripeError>(() => t.stripe.refunds.create({ payment_intent: open.id }));
    expect(err.param).toBe('payment_intent');
    const none = await rejection<Stripe.errors.StripeError>(() => t.stripe.refunds.create({}));
    expect(none.statusCode).toBe(400);
    const missing = await rejection<Stripe.errors.StripeError>(() => t.stripe.refunds.create({ charge: 'ch_nope' }));
    expect(missing).toMatchObject({ statusCode: 404, code: 'resource_missing', param: 'charge' });
  });
});

describe('disputes', () => {
  test('the test helper opens a dispute on a charge', async () => {
    const pi = await pay({ payment_method: 'pm_card_visa', confirm: true });
    const since = await latestEventId(t.stripe);
    const dispute = await t.stripe.rawRequest('POST', `/v1/test_helpers/charges/${pi.latest_charge}/dispute`, {
      reason: 'product_not_received',
    });
    expect(dispute).toMatchObject({
      object: 'dispute',
      charge: pi.latest_charge,
      payment_intent: pi.id,
      amount: 2000,
      currency: 'usd',
      reason: 'product_not_received',
      status: 'needs_response',
    });
    expect(dispute.id).toMatch(/^dp_/);
    expect((await t.stripe.charges.retrieve(pi.latest_charge as string)).disputed).toBe(true);
    expect(await t.stripe.disputes.retrieve(dispute.id)).toEqual(dispute);
    expect(await eventTypes(t.stripe, since)).toEqual(['charge.dispute.created', 'charge.dispute.funds_withdrawn']);
    // the cardholder disputes, not the account: no request
    expect((await t.stripe.events.list({ type: 'charge.dispute.created', limit: 1 })).data[0]?.request).toEqual({
      id: null,
      idempotency_key: null,
    });

    const refund = await rejection<Stripe.errors.StripeError>(() => t.stripe.refunds.create({ payment_intent: pi.id }));
    expect(refund.code).toBe('charge_disputed');
    const twice = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.rawRequest('POST', `/v1/test_helpers/charges/${pi.latest_charge}/dispute`, {}),
    );
    expect(twice.statusCode).toBe(400);

    const closed = await t.stripe.disputes.close(dispute.id);
    expect(closed.status).toBe('lost');
    expect((await t.stripe.events.list({ type: 'charge.dispute.closed', limit: 1 })).data[0]?.data.object).toMatchObject({
      id: dispute.id,
    });
  });

  test('card 4000 0000 0000 0259 is disputed right after paying', async () => {
    const pm = await t.stripe.paymentMethods.create({ type: 'card', card: { number: '4000000000000259', exp_month: 12, exp_year: 2040 } });
    const pi = await pay({ payment_method: pm.id, confirm: true });
    expect(pi.status).toBe('succeeded');
    const disputes = await t.stripe.disputes.list({ payment_intent: pi.id });
    expect(disputes.data).toHaveLength(1);
    expect(disputes.data[0]).toMatchObject({ reason: 'fraudulent', charge: pi.latest_charge });
    const magic = await pay({ payment_method: 'pm_card_createDispute', confirm: true });
    expect((await t.stripe.charges.retrieve(magic.latest_charge as string)).disputed).toBe(true);
  });
});
