import Stripe from 'stripe';
import { encodeForm, parseForm } from '../../src/emulator/core/params';
import { CARD, raw, rejection, sdk, startTestEmulator, type TestEmulator } from './support';

let t: TestEmulator;
beforeAll(async () => {
  t = await startTestEmulator();
});
afterAll(() => t.em.stop());

describe('form encoding', () => {
  test('parses nested hashes, indexed and pushed arrays as Rack does', () => {
    expect(parseForm('a=1&metadata[plan]=pro&metadata[n]=2')).toEqual({ a: '1', metadata: { plan: 'pro', n: '2' } });
    expect(parseForm('expand[]=x&expand[]=y.z')).toEqual({ expand: ['x', 'y.z'] });
    expect(parseForm('items[0][price]=p1&items[1][price]=p2&items[1][quantity]=3')).toEqual({
      items: { 0: { price: 'p1' }, 1: { price: 'p2', quantity: '3' } },
    });
    expect(parseForm('items[][price]=p1&items[][quantity]=2&items[][price]=p2')).toEqual({
      items: [{ price: 'p1', quantity: '2' }, { price: 'p2' }],
    });
    expect(parseForm('name=Ada+Lovelace&email=a%2Bb%40x.io&q=%5Bnot%5D')).toEqual({ name: 'Ada Lovelace', email: 'a+b@x.io', q: '[not]' });
    expect(parseForm('a%5Bb%5D=1')).toEqual({ a: { b: '1' } });
  });

  test('encodeForm is parseForm inverse for SDK-style payloads', () => {
    const data = { amount: 100, metadata: { a: 'x y' }, expand: ['latest_charge'], items: [{ price: 'p', quantity: 2 }] };
    expect(parseForm(encodeForm(data))).toEqual({
      amount: '100',
      metadata: { a: 'x y' },
      expand: { 0: 'latest_charge' },
      items: { 0: { price: 'p', quantity: '2' } },
    });
  });
});

describe('authentication', () => {
  test('a request without a key gets 401 in Stripe’s envelope', async () => {
    const res = await raw(t.em, 'GET', '/v1/customers', { auth: null });
    expect(res.status).toBe(401);
    expect(res.json.error.type).toBe('invalid_request_error');
    expect(res.json.error.message).toMatch(/^You did not provide an API key\./);
  });

  test('only test secret keys are accepted', async () => {
    for (const key of ['sk_live_abcdefgh1234', 'nonsense']) {
      const res = await raw(t.em, 'GET', '/v1/customers', { auth: `Bearer ${key}` });
      expect(res.status).toBe(401);
      expect(res.json.error.message).toMatch(/^Invalid API Key provided: /);
      expect(res.json.error.message).not.toContain('abcdefgh');
    }
    const pk = await raw(t.em, 'GET', '/v1/customers', { auth: 'Bearer pk_test_123' });
    expect(pk.status).toBe(401);
    expect(pk.json.error.message).toMatch(/publishable API key/);
    const err = await rejection<Stripe.errors.StripeError>(() => sdk(t.em, 'sk_live_123456789').customers.list());
    expect(err).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
    // Basic auth with the key as user name, as `curl -u sk_test_x:` sends it
    const basic = await raw(t.em, 'GET', '/v1/customers', { auth: `Basic ${Buffer.from('sk_test_basic:').toString('base64')}` });
    expect(basic.status).toBe(200);
  });
});

describe('errors', () => {
  test('unknown routes answer 404 invalid_request_error, after authentication', async () => {
    const res = await raw(t.em, 'POST', '/v1/unicorns?x=1', { body: 'a=1' });
    expect(res.status).toBe(404);
    expect(res.json).toEqual({
      error: {
        type: 'invalid_request_error',
        message:
          'Unrecognized request URL (POST: /v1/unicorns). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.',
      },
    });
    expect(res.headers['request-id']).toMatch(/^req_/);
    expect((await raw(t.em, 'GET', '/v1/unicorns', { auth: null })).status).toBe(401);
    const outside = await raw(t.em, 'GET', '/favicon.ico');
    expect(outside.status).toBe(404);
    expect(outside.json.error.type).toBe('invalid_request_error');
    const err = await rejection<Stripe.errors.StripeError>(() => t.stripe.rawRequest('GET', '/v1/unicorns'));
    expect(err).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(err.statusCode).toBe(404);
  });

  test('a missing object is resource_missing 404 with the param', async () => {
    const err = await rejection<Stripe.errors.StripeError>(() => t.stripe.customers.retrieve('cus_nope'));
    expect(err.statusCode).toBe(404);
    expect(err.code).toBe('resource_missing');
    expect(err.param).toBe('id');
    expect(err.message).toBe("No such customer: 'cus_nope'");
    const pi = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.paymentIntents.create({ amount: 100, currency: 'usd', customer: 'cus_nope' }),
    );
    expect(pi.param).toBe('customer');
  });

  test('missing and malformed parameters are refused with the param named', async () => {
    const missing = await raw(t.em, 'POST', '/v1/payment_intents', { body: 'currency=usd' });
    expect(missing.status).toBe(400);
    expect(missing.json.error).toMatchObject({
      type: 'invalid_request_error',
      code: 'parameter_missing',
      param: 'amount',
      message: 'Missing required param: amount.',
    });
    const badInt = await raw(t.em, 'POST', '/v1/payment_intents', { body: 'currency=usd&amount=12.5' });
    expect(badInt.json.error).toMatchObject({ code: 'parameter_invalid_integer', param: 'amount', message: 'Invalid integer: 12.5' });
    const badEnum = await raw(t.em, 'POST', '/v1/prices', {
      body: 'currency=usd&unit_amount=1&product_data[name]=x&recurring[interval]=fortnight',
    });
    expect(badEnum.json.error).toMatchObject({
      param: 'recurring[interval]',
      message: 'Invalid recurring[interval]: must be one of day, week, month, or year',
    });
    const empty = await raw(t.em, 'POST', '/v1/products', { body: 'name=' });
    expect(empty.json.error).toMatchObject({ code: 'parameter_invalid_empty', param: 'name' });
    const badBool = await raw(t.em, 'GET', '/v1/products?active=yes');
    expect(badBool.json.error).toMatchObject({ param: 'active', message: 'Invalid boolean: yes' });
  });

  test('unknown but valid-looking parameters are accepted and ignored', async () => {
    const res = await raw(t.em, 'POST', '/v1/customers', {
      body: 'email=ignored@example.com&preferred_color=blue&tax[ip_address]=1.2.3.4',
    });
    expect(res.status).toBe(200);
    expect(res.json.object).toBe('customer');
    expect(res.json.preferred_color).toBeUndefined();
  });

  test('valid Stripe parameters without effect here are accepted through the SDK, not refused', async () => {
    // every parameter below is typed by the SDK (so it is a real Stripe parameter) and not implemented here
    const customer = await t.stripe.customers.create({
      email: 'valid@example.com',
      preferred_locales: ['en'],
      tax: { validate_location: 'deferred' },
      invoice_settings: { rendering_options: { amount_tax_display: 'exclude_tax' } },
    });
    const price = await t.stripe.prices.create({
      currency: 'usd',
      unit_amount: 900,
      recurring: { interval: 'month' },
      product_data: { name: 'Valid' },
      tax_behavior: 'exclusive',
      nickname: 'n',
    });
    const pi = await t.stripe.paymentIntents.create({
      amount: 1000,
      currency: 'usd',
      customer: customer.id,
      payment_method: 'pm_card_visa',
      confirm: true,
      payment_method_options: { card: { request_three_d_secure: 'automatic', capture_method: 'manual' } },
      statement_descriptor_suffix: 'ORDER 1',
      radar_options: { session: 'rs_x' },
      ...CARD,
    });
    expect(pi.status).toBe('succeeded');
    await t.stripe.paymentMethods
      .attach('pm_card_visa', { customer: customer.id })
      .then((pm) => t.stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: pm.id } }));
    const sub = await t.stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: price.id, metadata: { seat: '1' } }],
      proration_behavior: 'none',
      collection_method: 'charge_automatically',
      payment_settings: { payment_method_types: ['card'], payment_method_options: { card: { request_three_d_secure: 'automatic' } } },
      automatic_tax: { enabled: false },
    });
    expect(sub.status).toBe('active');
    expect(
      (await t.stripe.subscriptions.update(sub.id, { proration_behavior: 'none', cancel_at_period_end: true })).cancel_at_period_end,
    ).toBe(true);
    const session = await t.stripe.checkout.sessions.create({
      mode: 'payment',
      line_items: [{ price_data: { currency: 'usd', unit_amount: 500, product_data: { name: 'Thing' } }, quantity: 1 }],
      billing_address_collection: 'auto',
      phone_number_collection: { enabled: false },
      allow_promotion_codes: false,
      success_url: 'https://example.com/ok',
    });
    expect(session.status).toBe('open');
    expect(
      (await t.stripe.refunds.create({ payment_intent: pi.id, amount: 100, metadata: { k: 'v' }, instructions_email: 'valid@example.com' }))
        .status,
    ).toBe('succeeded');
  });

  test('Stripe-Version is accepted and echoed; a malformed one is refused', async () => {
    const ok = await raw(t.em, 'GET', '/v1/customers?limit=1', { headers: { 'Stripe-Version': '2024-06-20' } });
    expect(ok.status).toBe(200);
    expect(ok.headers['stripe-version']).toBe('2024-06-20');
    const bad = await raw(t.em, 'GET', '/v1/customers', { headers: { 'Stripe-Version': 'latest-and-greatest' } });
    expect(bad.status).toBe(400);
    expect(bad.json.error.message).toBe('Invalid Stripe API version: latest-and-greatest');
  });

  test('JSON responses are typed objects with Stripe prefixes, unix times and livemode false', async () => {
    const before = Math.floor(Date.now() / 1000);
    const c = await t.stripe.customers.create({ name: 'Times' });
    expect(c.id).toMatch(/^cus_[A-Za-z0-9]{24}$/);
    expect(c.livemode).toBe(false);
    expect(c.created).toBeGreaterThanOrEqual(before);
    expect(c.created).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
  });
});

describe('idempotency', () => {
  test('same key and same parameters replay the stored response', async () => {
    const before = (await t.stripe.customers.list({ email: 'idem@example.com' })).data.length;
    const a = await raw(t.em, 'POST', '/v1/customers', {
      body: 'email=idem@example.com&metadata[n]=1',
      headers: { 'Idempotency-Key': 'key-replay-1' },
    });
    const b = await raw(t.em, 'POST', '/v1/customers', {
      body: 'metadata[n]=1&email=idem@example.com',
      headers: { 'Idempotency-Key': 'key-replay-1' },
    });
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(b.json.id).toBe(a.json.id);
    expect(b.headers['idempotent-replayed']).toBe('true');
    expect(b.headers['original-request']).toBe(a.headers['request-id']);
    expect((await t.stripe.customers.list({ email: 'idem@example.com' })).data.length).toBe(before + 1);
    // through the SDK
    const c1 = await t.stripe.customers.create({ email: 'idem2@example.com' }, { idempotencyKey: 'key-replay-2' });
    const c2 = await t.stripe.customers.create({ email: 'idem2@example.com' }, { idempotencyKey: 'key-replay-2' });
    expect(c2.id).toBe(c1.id);
  });

  test('same key with other parameters is an idempotency_error', async () => {
    await t.stripe.customers.create({ email: 'one@example.com' }, { idempotencyKey: 'key-mismatch' });
    const err = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.customers.create({ email: 'two@example.com' }, { idempotencyKey: 'key-mismatch' }),
    );
    expect(err).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    expect(err.statusCode).toBe(400);
    expect(err.type).toBe('StripeIdempotencyError');
    expect(err.rawType).toBe('idempotency_error');
    expect(err.message).toBe(
      "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than 'key-mismatch' if you meant to execute a different request.",
    );
    const otherEndpoint = await raw(t.em, 'POST', '/v1/products', {
      body: 'email=one@example.com',
      headers: { 'Idempotency-Key': 'key-mismatch' },
    });
    expect(otherEndpoint.status).toBe(400);
    expect(otherEndpoint.json.error.type).toBe('idempotency_error');
  });

  test('a request refused by validation is not saved under its key', async () => {
    const first = await raw(t.em, 'POST', '/v1/products', {
      body: 'description=no name',
      headers: { 'Idempotency-Key': 'key-validation' },
    });
    expect(first.status).toBe(400);
    const second = await raw(t.em, 'POST', '/v1/products', { body: 'name=Fixed', headers: { 'Idempotency-Key': 'key-validation' } });
    expect(second.status).toBe(200);
    expect(second.json.name).toBe('Fixed');
  });

  test('a declined payment is replayed, not charged twice', async () => {
    // `payment_method_types` is how older API versions name `allowed_payment_method_types`: both work
    const body = 'amount=1500&currency=usd&confirm=true&payment_method=pm_card_chargeDeclined&payment_method_types[0]=card';
    const a = await raw(t.em, 'POST', '/v1/payment_intents', { body, headers: { 'Idempotency-Key': 'key-decline' } });
    const b = await raw(t.em, 'POST', '/v1/payment_intents', { body, headers: { 'Idempotency-Key': 'key-decline' } });
    expect(a.status).toBe(402);
    expect(b.status).toBe(402);
    expect(b.text).toBe(a.text);
    const charges = await t.stripe.charges.list({ payment_intent: a.json.error.payment_intent.id });
    expect(charges.data).toHaveLength(1);
  });

  test('a failure after the work was done (a module listener that throws) answers 500 api_error, saved for its key', async () => {
    let fail = true;
    const faulty = await startTestEmulator({
      modules: [
        {
          name: 'fault',
          register: (_router, ctx) =>
            ctx.on('payment_intent.succeeded', () => {
              if (!fail) return;
              fail = false;
              throw new Error('injected failure');
            }),
        },
      ],
    });
    try {
      const body = 'amount=1500&currency=usd&confirm=true&payment_method=pm_card_visa&allowed_payment_method_types[0]=card';
      const a = await raw(faulty.em, 'POST', '/v1/payment_intents', { body, headers: { 'Idempotency-Key': 'key-500' } });
      expect(a.status).toBe(500);
      expect(a.json.error).toMatchObject({ type: 'api_error', message: 'An unknown error occurred in the Stripe emulator.' });
      expect(a.text).not.toMatch(/injected/);
      // As at Stripe, the same key replays the 500; the payment itself went through once.
      const b = await raw(faulty.em, 'POST', '/v1/payment_intents', { body, headers: { 'Idempotency-Key': 'key-500' } });
      expect(b.status).toBe(500);
      expect(b.headers['idempotent-replayed']).toBe('true');
      const intents = (await faulty.stripe.paymentIntents.list()).data;
      expect(intents.map((pi) => pi.status)).toEqual(['succeeded']);
    } finally {
      await faulty.em.stop();
    }
  });
});

describe('expand', () => {
  test('expands ids to objects, nested paths and list elements', async () => {
    const customer = await t.stripe.customers.create({ email: 'expand@example.com' });
    const pi = await t.stripe.paymentIntents.create({
      amount: 2500,
      currency: 'usd',
      customer: customer.id,
      payment_method: 'pm_card_visa',
      confirm: true,
      ...CARD,
    });
    const expanded = await t.stripe.paymentIntents.retrieve(pi.id, { expand: ['latest_charge', 'customer', 'payment_method'] });
    const charge = expanded.latest_charge as Stripe.Charge;
    expect(charge.object).toBe('charge');
    expect(charge.payment_intent).toBe(pi.id);
    expect((expanded.customer as Stripe.Customer).email).toBe('expand@example.com');
    expect((expanded.payment_method as Stripe.PaymentMethod).card?.last4).toBe('4242');

    const deep = await t.stripe.charges.retrieve(charge.id, { expand: ['payment_intent.customer'] });
    const deepPi = deep.payment_intent as Stripe.PaymentIntent;
    expect((deepPi.customer as Stripe.Customer).id).toBe(customer.id);

    const list = await t.stripe.paymentIntents.list({ customer: customer.id, expand: ['data.latest_charge'] });
    expect((list.data[0]?.latest_charge as Stripe.Charge).id).toBe(charge.id);

    // a field only present when expanded
    await t.stripe.refunds.create({ charge: charge.id, amount: 500 });
    const withRefunds = await t.stripe.charges.retrieve(charge.id, { expand: ['refunds'] });
    expect(withRefunds.refunds?.data.map((r) => r.amount)).toEqual([500]);
    const plain = await t.stripe.charges.retrieve(charge.id);
    expect(plain.refunds).toBeUndefined();
    // the stored object is not changed by expansion
    expect((await t.stripe.paymentIntents.retrieve(pi.id)).latest_charge).toBe(charge.id);
  });

  test('expanding a deleted object gives its deleted stub; unknown fields are refused', async () => {
    const customer = await t.stripe.customers.create({});
    const pi = await t.stripe.paymentIntents.create({ amount: 100, currency: 'usd', customer: customer.id });
    await t.stripe.customers.del(customer.id);
    const again = await t.stripe.paymentIntents.retrieve(pi.id, { expand: ['customer'] });
    expect(again.customer).toEqual({ id: customer.id, object: 'customer', deleted: true });
    const err = await rejection<Stripe.errors.StripeError>(() => t.stripe.paymentIntents.retrieve(pi.id, { expand: ['amount'] }));
    expect(err.message).toBe('This property cannot be expanded (amount).');
    const err2 = await rejection<Stripe.errors.StripeError>(() => t.stripe.paymentIntents.retrieve(pi.id, { expand: ['unicorn'] }));
    expect(err2.statusCode).toBe(400);
  });
});

describe('lists', () => {
  test('newest first, limit, starting_after, ending_before and auto-pagination', async () => {
    const tag = `page-${Date.now()}`;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await t.stripe.customers.create({ email: `${tag}@example.com`, name: `n${i}` })).id);
    const newestFirst = [...ids].reverse();

    const first = await t.stripe.customers.list({ email: `${tag}@example.com`, limit: 2 });
    expect(first.object).toBe('list');
    expect(first.url).toBe('/v1/customers');
    expect(first.data.map((c) => c.id)).toEqual(newestFirst.slice(0, 2));
    expect(first.has_more).toBe(true);

    const second = await t.stripe.customers.list({ email: `${tag}@example.com`, limit: 2, starting_after: newestFirst[1] });
    expect(second.data.map((c) => c.id)).toEqual(newestFirst.slice(2, 4));
    expect(second.has_more).toBe(true);
    const last = await t.stripe.customers.list({ email: `${tag}@example.com`, limit: 2, starting_after: newestFirst[3] });
    expect(last.data.map((c) => c.id)).toEqual(newestFirst.slice(4));
    expect(last.has_more).toBe(false);

    const before = await t.stripe.customers.list({ email: `${tag}@example.com`, limit: 2, ending_before: newestFirst[4] });
    expect(before.data.map((c) => c.id)).toEqual(newestFirst.slice(2, 4));
    expect(before.has_more).toBe(true);

    const all: string[] = [];
    for await (const c of t.stripe.customers.list({ email: `${tag}@example.com`, limit: 2 })) all.push(c.id);
    expect(all).toEqual(newestFirst);

    const tooMany = await rejection<Stripe.errors.StripeError>(() => t.stripe.customers.list({ limit: 101 }));
    expect(tooMany.param).toBe('limit');
    const badCursor = await rejection<Stripe.errors.StripeError>(() => t.stripe.customers.list({ starting_after: 'cus_doesnotexist' }));
    expect(badCursor.statusCode).toBe(404);
    expect(badCursor.param).toBe('starting_after');
  });

  test('created filters', async () => {
    const c = await t.stripe.customers.create({ email: 'created-filter@example.com' });
    const hit = await t.stripe.customers.list({ email: 'created-filter@example.com', created: { gte: c.created } });
    expect(hit.data.map((x) => x.id)).toEqual([c.id]);
    const miss = await t.stripe.customers.list({ email: 'created-filter@example.com', created: { gt: c.created } });
    expect(miss.data).toEqual([]);
    const exact = await t.stripe.customers.list({ email: 'created-filter@example.com', created: c.created });
    expect(exact.data.map((x) => x.id)).toEqual([c.id]);
  });
});

describe('garbage input', () => {
  /** Bodies that are well-formed HTTP but nonsense for every endpoint: wrong shapes, unknown keys, bad values. */
  const GARBAGE = [
    '',
    'unknown_param=1&x[y][z]=2',
    'amount[a]=1&currency[]=usd&customer[]=x',
    'items=x&items[0]=y&line_items[0]=z&line_items[1][price_data]=x',
    'items[0][price][a]=1&items[][quantity]=x',
    'metadata=x&email[]=a',
    'metadata[a][b]=c&invoice_settings=x&payment_settings=x',
    'expand[]=nonsense&limit=abc',
    'expand[a]=b&limit[]=1&starting_after[]=x',
    'expand[]=a.b.c.d.e.f&created[foo]=1',
    'mode=payment&line_items[0][price]=&line_items[0][quantity]=1',
    'payment_method[]=x&confirm=true&return_url[]=x',
    'recurring=month&product_data=x&currency=usd&unit_amount=1',
    'frozen_time=-1&amount_to_capture=x&outcome[]=succeed',
    'enabled_events[0][a]=1&url[]=http://x',
    'card=x&type=card&billing_details=x&shipping[address]=x',
    'cancellation_details=x&subscription_data=x&payment_intent_data=x',
    'a[b]=1&a=2&a[]=3&%ZZ=1&x=%E0%A4%A',
    '__proto__[polluted]=yes&metadata[__proto__][polluted]=yes&items[][__proto__][polluted]=yes',
  ];

  test('no route answers anything but Stripe’s error envelope or a page; nothing is polluted; the server keeps serving', async () => {
    const customer = await t.stripe.customers.create({ email: 'garbage@example.com' });
    const routes = t.em.routes();
    expect(routes.length).toBeGreaterThan(50);
    const failures: string[] = [];
    for (const { method, pattern } of routes) {
      for (const id of [customer.id, 'xx_missing']) {
        const path = pattern.replace(/:[a-z_]+/g, id);
        for (const body of GARBAGE) {
          const res = method === 'POST' ? await raw(t.em, method, path, { body }) : await raw(t.em, method, `${path}?${body}`);
          const api = pattern.startsWith('/v1/');
          const envelope = res.json?.error && typeof res.json.error.type === 'string' && typeof res.json.error.message === 'string';
          if (res.status >= 500 || (api && res.status >= 400 && !envelope))
            failures.push(`${method} ${path} ${body} -> ${res.status} ${res.text.slice(0, 120)}`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted')).toBe(false);
    expect((await t.stripe.customers.retrieve(customer.id)).id).toBe(customer.id);
  });

  test('parameters nested absurdly deep are refused with a 400, in forms and in JSON', async () => {
    for (const res of [
      await raw(t.em, 'POST', '/v1/customers', { body: `a${'[]'.repeat(50_000)}=1` }),
      await raw(t.em, 'POST', '/v1/customers', { body: `metadata${'[x]'.repeat(50_000)}=1` }),
      await raw(t.em, 'GET', `/v1/customers?a${'[b]'.repeat(100)}=1`),
      await raw(t.em, 'POST', '/v1/customers', {
        body: `${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`,
        headers: { 'Content-Type': 'application/json' },
      }),
    ]) {
      expect(res.status).toBe(400);
      expect(res.json.error).toMatchObject({ type: 'invalid_request_error', message: expect.stringMatching(/nested at most \d+ levels/) });
    }
    // Stripe's real parameters nest far less than the limit
    const ok = await raw(t.em, 'POST', '/v1/customers', {
      body: 'invoice_settings[custom_fields][0][name]=a&invoice_settings[custom_fields][0][value]=b&metadata[k]=v',
    });
    expect(ok.status).toBe(200);
  });

  test('a malformed body is an invalid_request_error, never a half-read request', async () => {
    const badJson = await raw(t.em, 'POST', '/v1/customers', { body: '{"email": ', headers: { 'Content-Type': 'application/json' } });
    expect(badJson.status).toBe(400);
    expect(badJson.json.error).toMatchObject({ type: 'invalid_request_error', message: expect.stringMatching(/^Invalid JSON body/) });
    const notAnObject = await raw(t.em, 'POST', '/v1/customers', {
      body: '["email", "x@example.com"]',
      headers: { 'Content-Type': 'application/json' },
    });
    expect(notAnObject.status).toBe(400);
    expect(notAnObject.json.error.type).toBe('invalid_request_error');
    const tooLarge = await raw(t.em, 'POST', '/v1/customers', { body: `description=${'x'.repeat(1024 * 1024 + 10)}` });
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.json.error.type).toBe('invalid_request_error');
    // a JSON body is still read when it is well-formed (some tools send JSON)
    const json = await raw(t.em, 'POST', '/v1/customers', {
      body: '{"email": "json@example.com", "metadata": {"a": "1"}, "__proto__": {"polluted": "yes"}}',
      headers: { 'Content-Type': 'application/json' },
    });
    expect(json.json).toMatchObject({ object: 'customer', email: 'json@example.com', metadata: { a: '1' } });
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});
