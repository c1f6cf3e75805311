import type Stripe from 'stripe';
import { eventTypes, latestEventId, raw, rejection, startTestEmulator, type TestEmulator } from './support';

let t: TestEmulator;
let monthly: Stripe.Price;
let book: Stripe.Price;
beforeAll(async () => {
  t = await startTestEmulator();
  monthly = await t.stripe.prices.create({
    currency: 'usd',
    unit_amount: 1500,
    recurring: { interval: 'month' },
    product_data: { name: 'Premium' },
  });
  book = await t.stripe.prices.create({ currency: 'usd', unit_amount: 2500, product_data: { name: 'Book' } });
});
afterAll(() => t.em.stop());

type Completed = Stripe.Checkout.Session & { lastResponse?: unknown };
const complete = (id: string, params: Record<string, unknown> = {}) =>
  t.stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${id}/complete`, params) as Promise<Completed>;

describe('creating and reading sessions', () => {
  test('payment mode with price and price_data: amounts, hosted url, line items', async () => {
    const session = await t.stripe.checkout.sessions.create({
      mode: 'payment',
      line_items: [
        { price: book.id, quantity: 2 },
        { price_data: { currency: 'usd', unit_amount: 700, product_data: { name: 'Gift wrap' } }, quantity: 1 },
      ],
      client_reference_id: 'order-1',
      metadata: { order: '1' },
      success_url: 'https://shop.example.com/thanks?session_id={CHECKOUT_SESSION_ID}',
      cancel_url: 'https://shop.example.com/cart',
    });
    expect(session).toMatchObject({
      object: 'checkout.session',
      mode: 'payment',
      status: 'open',
      payment_status: 'unpaid',
      amount_subtotal: 5700,
      amount_total: 5700,
      currency: 'usd',
      client_reference_id: 'order-1',
      metadata: { order: '1' },
      customer: null,
      payment_intent: null,
      subscription: null,
      success_url: 'https://shop.example.com/thanks?session_id={CHECKOUT_SESSION_ID}',
      cancel_url: 'https://shop.example.com/cart',
      ui_mode: 'hosted_page',
    });
    expect(session.id).toMatch(/^cs_test_/);
    expect(session.url).toBe(`${t.em.url}/c/pay/${session.id}`);
    expect(session.expires_at - session.created).toBe(86400);
    expect(session.line_items).toBeUndefined();

    const items = await t.stripe.checkout.sessions.listLineItems(session.id);
    expect(items.data.map((li) => [li.description, li.quantity, li.amount_total, li.price?.unit_amount])).toEqual([
      ['Book', 2, 5000, 2500],
      ['Gift wrap', 1, 700, 700],
    ]);
    expect(items.data[0]?.id).toMatch(/^li_/);
    const page = await t.stripe.checkout.sessions.listLineItems(session.id, { limit: 1 });
    expect(page.has_more).toBe(true);
    const next = await t.stripe.checkout.sessions.listLineItems(session.id, { limit: 1, starting_after: page.data[0]?.id });
    expect(next.data.map((li) => li.description)).toEqual(['Gift wrap']);
    const expanded = await t.stripe.checkout.sessions.retrieve(session.id, { expand: ['line_items'] });
    expect(expanded.line_items?.data).toHaveLength(2);
    expect((await t.stripe.checkout.sessions.list({ limit: 100 })).data.map((s) => s.id)).toContain(session.id);

    const pageHtml = await raw(t.em, 'GET', `/c/pay/${session.id}`, { auth: null });
    expect(pageHtml.status).toBe(200);
    expect(pageHtml.text).toContain('$57.00');
    expect(pageHtml.text).toContain('href="https://shop.example.com/cart"');
  });

  test('refusals as Stripe words them', async () => {
    const recurringInPayment = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.checkout.sessions.create({
        mode: 'payment',
        line_items: [{ price: monthly.id, quantity: 1 }],
        success_url: 'https://x.example',
      }),
    );
    expect(recurringInPayment).toMatchObject({ statusCode: 400, param: 'line_items[0][price]' });
    expect(recurringInPayment.message).toMatch(/recurring price/);
    const both = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.checkout.sessions.create({
        mode: 'payment',
        customer: 'cus_x',
        customer_email: 'a@example.com',
        line_items: [{ price: book.id, quantity: 1 }],
      }),
    );
    expect(both).toMatchObject({ statusCode: 400, code: 'parameters_exclusive' });
    const noItems = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.checkout.sessions.create({ mode: 'payment', success_url: 'https://x.example' }),
    );
    expect(noItems).toMatchObject({ statusCode: 400, param: 'line_items' });
    const noQuantity = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.checkout.sessions.create({ mode: 'payment', line_items: [{ price: book.id }] }),
    );
    expect(noQuantity).toMatchObject({ statusCode: 400, param: 'line_items[0][quantity]' });
    const before = (await t.stripe.checkout.sessions.list({ limit: 100 })).data.length;
    const tooSmall = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.checkout.sessions.create({
        mode: 'payment',
        line_items: [{ price_data: { currency: 'usd', unit_amount: 10, product_data: { name: 'Gum' } }, quantity: 4 }],
        success_url: 'https://x.example',
      }),
    );
    expect(tooSmall).toMatchObject({
      statusCode: 400,
      code: 'amount_too_small',
      param: 'line_items',
      message: "The Checkout Session's total amount due must add up to at least $0.50 usd",
    });
    expect((await t.stripe.checkout.sessions.list({ limit: 100 })).data).toHaveLength(before);
    const badCurrency = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.checkout.sessions.create({
        mode: 'payment',
        line_items: [{ price_data: { currency: 'irr', unit_amount: 1000, product_data: { name: 'Rug' } }, quantity: 1 }],
        success_url: 'https://x.example',
      }),
    );
    expect(badCurrency).toMatchObject({ statusCode: 400, param: 'line_items[0][price_data][currency]' });
    const missing = await rejection<Stripe.errors.StripeError>(() => t.stripe.checkout.sessions.retrieve('cs_test_nope'));
    expect(missing).toMatchObject({ statusCode: 404, code: 'resource_missing' });
  });
});

describe('completing without a browser (test helper)', () => {
  test('payment mode: a PaymentIntent paid as the API would, session complete, events', async () => {
    const session = await t.stripe.checkout.sessions.create({
      mode: 'payment',
      line_items: [{ price: book.id, quantity: 1 }],
      payment_intent_data: { metadata: { order: '42' } },
      success_url: 'https://shop.example.com/thanks?session_id={CHECKOUT_SESSION_ID}',
    });
    const since = await latestEventId(t.stripe);
    const done = await complete(session.id, { email: 'buyer@example.com' });
    expect(done).toMatchObject({
      id: session.id,
      status: 'complete',
      payment_status: 'paid',
      url: null,
      customer: null,
      customer_details: { email: 'buyer@example.com' },
    });
    const pi = await t.stripe.paymentIntents.retrieve(done.payment_intent as string, { expand: ['latest_charge'] });
    expect(pi).toMatchObject({
      status: 'succeeded',
      amount: 2500,
      currency: 'usd',
      metadata: { order: '42' },
      capture_method: 'automatic_async',
    });
    expect((pi.latest_charge as Stripe.Charge).payment_method_details?.card?.last4).toBe('4242');
    const types = await eventTypes(t.stripe, since);
    expect(types).toEqual(['payment_intent.created', 'charge.succeeded', 'payment_intent.succeeded', 'checkout.session.completed']);
    const event = (await t.stripe.events.list({ type: 'checkout.session.completed', limit: 1 })).data[0];
    expect(event?.data.object).toMatchObject({ id: session.id, status: 'complete', payment_intent: pi.id });
    // the customer paid, not an API call of the account: like Stripe's, these events carry no request
    expect(event?.request).toEqual({ id: null, idempotency_key: null });
    expect((await t.stripe.events.list({ type: 'payment_intent.succeeded', limit: 1 })).data[0]?.request).toEqual({
      id: null,
      idempotency_key: null,
    });
    // the hosted page now sends the customer on to success_url, with the session id in it
    const page = await raw(t.em, 'GET', `/c/pay/${session.id}`, { auth: null });
    expect(page.status).toBe(303);
    expect(page.headers.location).toBe(`https://shop.example.com/thanks?session_id=${session.id}`);
    const again = await rejection<Stripe.errors.StripeError>(() => complete(session.id));
    expect(again.statusCode).toBe(400);
  });

  test('the hosted form posted without a browser: paid, redirected, and its events carry no request', async () => {
    const session = await t.stripe.checkout.sessions.create({
      mode: 'payment',
      line_items: [{ price: book.id, quantity: 1 }],
      success_url: 'https://shop.example.com/ok/{CHECKOUT_SESSION_ID}',
    });
    const since = await latestEventId(t.stripe);
    const form = 'email=form%40example.com&cardNumber=4242+4242+4242+4242&cardExpiry=12+%2F+34&cardCvc=123&billingName=Ada';
    const res = await raw(t.em, 'POST', `/c/pay/${session.id}`, { auth: null, body: form });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`https://shop.example.com/ok/${session.id}`);
    const events: Stripe.Event[] = [];
    for await (const e of t.stripe.events.list({ ending_before: since as string, limit: 100 })) events.push(e);
    expect(events.map((e) => e.type)).toEqual([
      'payment_intent.created',
      'charge.succeeded',
      'payment_intent.succeeded',
      'checkout.session.completed',
    ]);
    for (const e of events) expect(e.request).toEqual({ id: null, idempotency_key: null });
  });

  test('payment mode with capture_method=manual: requires_capture, then captured', async () => {
    const customer = await t.stripe.customers.create({ email: 'hold@example.com' });
    const session = await t.stripe.checkout.sessions.create({
      mode: 'payment',
      customer: customer.id,
      line_items: [{ price: book.id, quantity: 1 }],
      payment_intent_data: { capture_method: 'manual' },
    });
    const done = await complete(session.id);
    expect(done).toMatchObject({ status: 'complete', payment_status: 'unpaid', customer: customer.id });
    const pi = await t.stripe.paymentIntents.retrieve(done.payment_intent as string);
    expect(pi).toMatchObject({ status: 'requires_capture', amount_capturable: 2500, customer: customer.id });
    expect((await t.stripe.paymentIntents.capture(pi.id)).status).toBe('succeeded');
  });

  test('payment mode with customer_creation=always creates the customer', async () => {
    const session = await t.stripe.checkout.sessions.create({
      mode: 'payment',
      customer_creation: 'always',
      line_items: [{ price: book.id, quantity: 1 }],
    });
    const done = await complete(session.id, { email: 'new@example.com', name: 'Ada Lovelace' });
    const customer = (await t.stripe.customers.retrieve(done.customer as string)) as Stripe.Customer;
    expect(customer).toMatchObject({ email: 'new@example.com', name: 'Ada Lovelace' });
    expect((await t.stripe.paymentIntents.retrieve(done.payment_intent as string)).customer).toBe(customer.id);
  });

  test('subscription mode: the customer is created from the email, the card saved, the subscription active', async () => {
    const session = await t.stripe.checkout.sessions.create({
      mode: 'subscription',
      customer_email: 'subscriber@example.com',
      line_items: [{ price: monthly.id, quantity: 1 }],
      metadata: { ours: 'x' },
      subscription_data: { metadata: { plan: 'premium' } },
      success_url: 'https://app.example.com/done?session_id={CHECKOUT_SESSION_ID}',
    });
    const since = await latestEventId(t.stripe);
    await complete(session.id);
    const done = await t.stripe.checkout.sessions.retrieve(session.id, { expand: ['subscription', 'customer'] });
    expect(done).toMatchObject({
      status: 'complete',
      payment_status: 'paid',
      payment_intent: null,
      metadata: { ours: 'x' },
      customer_details: { email: 'subscriber@example.com' },
    });
    const customer = done.customer as Stripe.Customer;
    expect(customer.email).toBe('subscriber@example.com');
    const sub = done.subscription as Stripe.Subscription;
    expect(sub).toMatchObject({ status: 'active', customer: customer.id, metadata: { plan: 'premium' } });
    expect(done.invoice).toBe(sub.latest_invoice);
    expect((await t.stripe.invoices.retrieve(done.invoice as string)).status).toBe('paid');
    const pm = await t.stripe.paymentMethods.retrieve(sub.default_payment_method as string);
    expect(pm).toMatchObject({ customer: customer.id, card: { last4: '4242' } });
    expect(await eventTypes(t.stripe, since)).toEqual(
      expect.arrayContaining([
        'customer.created',
        'payment_method.attached',
        'customer.subscription.created',
        'invoice.paid',
        'checkout.session.completed',
      ]),
    );
  });

  test('subscription mode for an existing customer, with price_data: that customer subscribes, its card saved, no customer made', async () => {
    const customer = await t.stripe.customers.create({ email: 'known@example.com', name: 'Known' });
    const session = await t.stripe.checkout.sessions.create({
      mode: 'subscription',
      customer: customer.id,
      client_reference_id: 'user-7',
      line_items: [
        {
          price_data: { currency: 'usd', unit_amount: 900, product: monthly.product as string, recurring: { interval: 'week' } },
          quantity: 2,
        },
      ],
      success_url: 'https://app.example.com/done',
    });
    expect(session).toMatchObject({
      customer: customer.id,
      client_reference_id: 'user-7',
      amount_total: 1800,
      mode: 'subscription',
      status: 'open',
    });
    const since = await latestEventId(t.stripe);
    await complete(session.id, { card_number: '5555555555554444' });
    const done = await t.stripe.checkout.sessions.retrieve(session.id, { expand: ['subscription.latest_invoice.payments'] });
    expect(done).toMatchObject({ status: 'complete', payment_status: 'paid', customer: customer.id, client_reference_id: 'user-7' });
    const sub = done.subscription as Stripe.Subscription;
    expect(sub).toMatchObject({
      status: 'active',
      customer: customer.id,
      items: { data: [{ quantity: 2, price: { unit_amount: 900, recurring: { interval: 'week' }, product: monthly.product } }] },
    });
    expect(sub.items.data[0]?.current_period_end).toBe((sub.items.data[0]?.current_period_start as number) + 7 * 86400);
    // exactly what POST /v1/subscriptions makes: a paid subscription_create invoice whose PaymentIntent saved the card
    const invoice = sub.latest_invoice as Stripe.Invoice;
    expect(invoice).toMatchObject({ billing_reason: 'subscription_create', status: 'paid', amount_paid: 1800, customer: customer.id });
    const pi = await t.stripe.paymentIntents.retrieve(invoice.payments?.data[0]?.payment.payment_intent as string);
    expect(pi).toMatchObject({
      status: 'succeeded',
      customer: customer.id,
      description: 'Subscription creation',
      setup_future_usage: 'off_session',
      payment_method: sub.default_payment_method,
    });
    expect((await t.stripe.customers.listPaymentMethods(customer.id)).data.map((pm) => [pm.id, pm.card?.last4])).toEqual([
      [sub.default_payment_method, '4444'],
    ]);
    const types = await eventTypes(t.stripe, since);
    expect(types).not.toContain('customer.created');
    expect(types).toEqual(
      expect.arrayContaining(['payment_method.attached', 'customer.subscription.created', 'invoice.paid', 'checkout.session.completed']),
    );
    expect((await t.stripe.customers.list({ email: 'known@example.com' })).data.map((c) => c.id)).toEqual([customer.id]);
  });

  test('a declined card answers the card error and leaves the session open; another card then pays', async () => {
    const session = await t.stripe.checkout.sessions.create({
      mode: 'subscription',
      customer_email: 'retry@example.com',
      line_items: [{ price: monthly.id, quantity: 1 }],
    });
    const declined = await rejection<Stripe.errors.StripeError>(() => complete(session.id, { card_number: '4000000000000002' }));
    expect(declined).toMatchObject({ statusCode: 402, type: 'StripeCardError', code: 'card_declined', decline_code: 'generic_decline' });
    const funds = await rejection<Stripe.errors.StripeError>(() => complete(session.id, { card_number: '4000000000009995' }));
    expect(funds).toMatchObject({ statusCode: 402, decline_code: 'insufficient_funds' });
    expect((await t.stripe.checkout.sessions.retrieve(session.id)).status).toBe('open');
    // nothing was created for the refused cards
    expect((await t.stripe.customers.list({ email: 'retry@example.com' })).data).toEqual([]);
    const done = await complete(session.id, { card_number: '4242424242424242' });
    expect(done.status).toBe('complete');
    expect((await t.stripe.subscriptions.retrieve(done.subscription as string)).status).toBe('active');
  });

  test('payment mode decline keeps the session open with its PaymentIntent, which the next card pays', async () => {
    const session = await t.stripe.checkout.sessions.create({ mode: 'payment', line_items: [{ price: book.id, quantity: 1 }] });
    await rejection(() => complete(session.id, { card_number: '4000000000000002' }));
    const open = await t.stripe.checkout.sessions.retrieve(session.id, { expand: ['payment_intent'] });
    expect(open.status).toBe('open');
    const pi = open.payment_intent as Stripe.PaymentIntent;
    expect(pi).toMatchObject({ status: 'requires_payment_method', last_payment_error: { decline_code: 'generic_decline' } });
    const done = await complete(session.id);
    expect(done.payment_intent).toBe(pi.id);
    expect((await t.stripe.paymentIntents.retrieve(pi.id)).status).toBe('succeeded');
  });

  test('3-D Secure: settled at once with three_d_secure, or later through the PaymentIntent helper', async () => {
    const a = await t.stripe.checkout.sessions.create({
      mode: 'subscription',
      customer_email: 'tds@example.com',
      line_items: [{ price: monthly.id, quantity: 1 }],
    });
    const done = await complete(a.id, { card_number: '4000002500003155', three_d_secure: 'succeed' });
    expect(done.status).toBe('complete');
    expect((await t.stripe.subscriptions.retrieve(done.subscription as string)).status).toBe('active');

    const b = await t.stripe.checkout.sessions.create({ mode: 'payment', line_items: [{ price: book.id, quantity: 1 }] });
    const pending = await complete(b.id, { card_number: '4000002500003155' });
    expect(pending.status).toBe('open');
    const pi = await t.stripe.paymentIntents.retrieve(pending.payment_intent as string);
    expect(pi.status).toBe('requires_action');
    await t.stripe.rawRequest('POST', `/v1/test_helpers/payment_intents/${pi.id}/authenticate`, {});
    expect(await t.stripe.checkout.sessions.retrieve(b.id)).toMatchObject({ status: 'complete', payment_status: 'paid' });

    const c = await t.stripe.checkout.sessions.create({
      mode: 'subscription',
      customer_email: 'tdsfail@example.com',
      line_items: [{ price: monthly.id, quantity: 1 }],
    });
    const failed = await rejection<Stripe.errors.StripeError>(() =>
      complete(c.id, { card_number: '4000002500003155', three_d_secure: 'fail' }),
    );
    expect(failed).toMatchObject({ statusCode: 402, code: 'payment_intent_authentication_failure' });
    expect((await t.stripe.checkout.sessions.retrieve(c.id)).status).toBe('open');
    // as in current API versions, a failed attempt leaves no incomplete subscription and no invoice behind
    const [payer] = (await t.stripe.customers.list({ email: 'tdsfail@example.com' })).data as [Stripe.Customer];
    expect((await t.stripe.subscriptions.list({ customer: payer.id, status: 'all' })).data).toEqual([]);
    expect((await t.stripe.invoices.list({ customer: payer.id })).data).toEqual([]);
    // the next card pays: one subscription, its first invoice paid by the same PaymentIntent as the failed attempt
    const ok = await complete(c.id, { card_number: '4242424242424242' });
    expect(ok).toMatchObject({ status: 'complete', customer: payer.id });
    const subs = (await t.stripe.subscriptions.list({ customer: payer.id, status: 'all', expand: ['data.latest_invoice.payments'] })).data;
    expect(subs.map((x) => x.status)).toEqual(['active']);
    const payments = (subs[0]?.latest_invoice as Stripe.Invoice).payments?.data ?? [];
    const intent = await t.stripe.paymentIntents.retrieve(payments[0]?.payment.payment_intent as string, { expand: ['payment_method'] });
    expect(intent).toMatchObject({
      status: 'succeeded',
      customer: payer.id,
      payment_method: { card: { last4: '4242' } },
      last_payment_error: null,
    });
    expect((await t.stripe.charges.list({ payment_intent: intent.id })).data.map((ch) => ch.status)).toEqual(['succeeded']);
    expect((await t.stripe.events.list({ type: 'payment_intent.payment_failed', limit: 1 })).data[0]?.data.object).toMatchObject({
      id: intent.id,
    });
  });

  test('subscription mode with a 3-D Secure card: nothing but the payment exists until it is authenticated, then the subscription is created paid', async () => {
    const session = await t.stripe.checkout.sessions.create({
      mode: 'subscription',
      customer_email: 'later@example.com',
      line_items: [{ price: monthly.id, quantity: 1 }],
      subscription_data: { metadata: { plan: 'premium' } },
    });
    const since = await latestEventId(t.stripe);
    const pending = await complete(session.id, { card_number: '4000002500003155' });
    expect(pending).toMatchObject({ status: 'open', subscription: null, invoice: null, payment_intent: null });
    const [payer] = (await t.stripe.customers.list({ email: 'later@example.com' })).data as [Stripe.Customer];
    expect((await t.stripe.subscriptions.list({ customer: payer.id, status: 'all' })).data).toEqual([]);
    expect((await t.stripe.invoices.list({ customer: payer.id })).data).toEqual([]);
    const [pi] = (await t.stripe.paymentIntents.list({ customer: payer.id })).data as [Stripe.PaymentIntent];
    expect(pi).toMatchObject({
      status: 'requires_action',
      amount: 1500,
      description: 'Subscription creation',
      setup_future_usage: 'off_session',
    });
    // the card is saved only once the payment succeeds
    expect((await t.stripe.customers.listPaymentMethods(payer.id)).data).toEqual([]);

    await t.stripe.rawRequest('POST', `/v1/test_helpers/payment_intents/${pi.id}/authenticate`, { outcome: 'succeed' });
    const done = await t.stripe.checkout.sessions.retrieve(session.id, { expand: ['subscription.latest_invoice.payments'] });
    expect(done).toMatchObject({ status: 'complete', payment_status: 'paid', customer: payer.id });
    const sub = done.subscription as Stripe.Subscription;
    expect(sub).toMatchObject({
      status: 'active',
      customer: payer.id,
      metadata: { plan: 'premium' },
      default_payment_method: pi.payment_method,
    });
    const invoice = sub.latest_invoice as Stripe.Invoice;
    expect(done.invoice).toBe(invoice.id);
    expect(invoice).toMatchObject({ status: 'paid', billing_reason: 'subscription_create', amount_paid: 1500, attempt_count: 1 });
    expect(invoice.payments?.data.map((p) => [p.status, p.payment.payment_intent])).toEqual([['paid', pi.id]]);
    expect((await t.stripe.customers.listPaymentMethods(payer.id)).data.map((m) => m.id)).toEqual([sub.default_payment_method]);
    // the payment comes first; the subscription and its invoice only after it succeeded
    const types = await eventTypes(t.stripe, since);
    expect(types.indexOf('payment_intent.succeeded')).toBeLessThan(types.indexOf('customer.subscription.created'));
    expect(types.indexOf('payment_intent.requires_action')).toBeLessThan(types.indexOf('invoice.created'));
    expect(types).not.toContain('invoice.payment_action_required');
    expect(types.filter((x) => x === 'payment_intent.created')).toHaveLength(1);
    expect(types.at(-1)).toBe('checkout.session.completed');
  });
});

describe('expiring', () => {
  test('expire: expired, checkout.session.expired; not twice; no longer payable', async () => {
    const session = await t.stripe.checkout.sessions.create({
      mode: 'payment',
      line_items: [{ price: book.id, quantity: 1 }],
      cancel_url: 'https://shop.example.com/cart',
    });
    const since = await latestEventId(t.stripe);
    const expired = await t.stripe.checkout.sessions.expire(session.id);
    expect(expired).toMatchObject({ status: 'expired', url: null, payment_status: 'unpaid' });
    expect(await eventTypes(t.stripe, since)).toEqual(['checkout.session.expired']);
    expect((await rejection<Stripe.errors.StripeError>(() => t.stripe.checkout.sessions.expire(session.id))).statusCode).toBe(400);
    expect((await rejection<Stripe.errors.StripeError>(() => complete(session.id))).statusCode).toBe(400);
    const page = await raw(t.em, 'GET', `/c/pay/${session.id}`, { auth: null });
    expect(page.status).toBe(410);
    expect(page.text).toMatch(/expired/);
    expect((await t.stripe.checkout.sessions.list({ status: 'expired', limit: 100 })).data.map((s) => s.id)).toContain(session.id);
  });

  test('expiring a session whose payment was declined cancels its PaymentIntent', async () => {
    const session = await t.stripe.checkout.sessions.create({ mode: 'payment', line_items: [{ price: book.id, quantity: 1 }] });
    await rejection(() => complete(session.id, { card_number: '4000000000000002' }));
    const expired = await t.stripe.checkout.sessions.expire(session.id, { expand: ['payment_intent'] });
    expect((expired.payment_intent as Stripe.PaymentIntent).status).toBe('canceled');

    // subscription mode: the first payment left waiting for 3-D Secure is canceled, and no subscription appears
    const sub = await t.stripe.checkout.sessions.create({
      mode: 'subscription',
      customer_email: 'gone@example.com',
      line_items: [{ price: monthly.id, quantity: 1 }],
    });
    await complete(sub.id, { card_number: '4000002500003155' });
    const [payer] = (await t.stripe.customers.list({ email: 'gone@example.com' })).data as [Stripe.Customer];
    const [waiting] = (await t.stripe.paymentIntents.list({ customer: payer.id })).data as [Stripe.PaymentIntent];
    expect(waiting.status).toBe('requires_action');
    await t.stripe.checkout.sessions.expire(sub.id);
    expect(await t.stripe.paymentIntents.retrieve(waiting.id)).toMatchObject({ status: 'canceled', cancellation_reason: 'abandoned' });
    expect((await t.stripe.subscriptions.list({ customer: payer.id, status: 'all' })).data).toEqual([]);
  });
});
