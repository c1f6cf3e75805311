import type Stripe from 'stripe';
import { eventTypes, latestEventId, raw, rejection, startTestEmulator, type TestEmulator } from './support';

let t: TestEmulator;
beforeAll(async () => {
  t = await startTestEmulator();
});
afterAll(() => t.em.stop());

describe('customers', () => {
  test('create, retrieve, update with metadata rules, and their events', async () => {
    const since = await latestEventId(t.stripe);
    const c = await t.stripe.customers.create({
      email: 'ada@example.com',
      name: 'Ada',
      description: 'first',
      phone: '+15555550100',
      metadata: { plan: 'free', team: 'a' },
      address: { line1: '1 Main St', city: 'Springfield', country: 'US' },
    });
    expect(c).toMatchObject({
      object: 'customer',
      email: 'ada@example.com',
      name: 'Ada',
      metadata: { plan: 'free', team: 'a' },
      balance: 0,
      default_source: null,
    });
    expect(c.address?.city).toBe('Springfield');
    expect(c.invoice_settings.default_payment_method).toBeNull();
    expect(await t.stripe.customers.retrieve(c.id)).toEqual(c);

    const updated = await t.stripe.customers.update(c.id, { name: 'Ada L.', metadata: { plan: 'premium', team: '' }, description: '' });
    expect(updated.name).toBe('Ada L.');
    expect(updated.metadata).toEqual({ plan: 'premium' });
    expect(updated.description).toBeNull();
    expect(updated.email).toBe('ada@example.com');

    const events = await t.stripe.events.list({ types: ['customer.created', 'customer.updated'], limit: 2 });
    const [upd, created] = events.data as [Stripe.Event, Stripe.Event];
    expect(created.type).toBe('customer.created');
    expect(upd.type).toBe('customer.updated');
    expect((upd.data.object as Stripe.Customer).name).toBe('Ada L.');
    expect(upd.data.previous_attributes).toEqual({ name: 'Ada', metadata: { plan: 'free', team: 'a' }, description: 'first' });
    expect((created.data.object as Stripe.Customer).name).toBe('Ada');
    expect(await eventTypes(t.stripe, since)).toEqual(['customer.created', 'customer.updated']);

    // an update that changes nothing emits nothing
    const before = await latestEventId(t.stripe);
    await t.stripe.customers.update(c.id, { name: 'Ada L.' });
    expect(await latestEventId(t.stripe)).toBe(before);
  });

  test('list filters by email (exact) and deleted customers retrieve as stubs', async () => {
    const a = await t.stripe.customers.create({ email: 'filter@example.com' });
    await t.stripe.customers.create({ email: 'Filter@example.com' });
    const found = await t.stripe.customers.list({ email: 'filter@example.com' });
    expect(found.data.map((c) => c.id)).toEqual([a.id]);

    const deleted = await t.stripe.customers.del(a.id);
    expect(deleted).toMatchObject({ id: a.id, object: 'customer', deleted: true });
    const again = await t.stripe.customers.retrieve(a.id);
    expect(again.deleted).toBe(true);
    expect((await t.stripe.customers.list({ email: 'filter@example.com' })).data).toEqual([]);
    const err = await rejection<Stripe.errors.StripeError>(() => t.stripe.customers.update(a.id, { name: 'x' }));
    expect(err.code).toBe('resource_missing');
    const ev = await t.stripe.events.list({ type: 'customer.deleted', limit: 1 });
    expect((ev.data[0]?.data.object as Stripe.Customer).id).toBe(a.id);
  });

  test('invalid email is refused', async () => {
    const err = await rejection<Stripe.errors.StripeError>(() => t.stripe.customers.create({ email: 'not-an-email' }));
    expect(err.code).toBe('email_invalid');
    expect(err.param).toBe('email');
  });

  test('test_clock must exist; a customer on a clock lives at the clock’s time', async () => {
    const err = await rejection<Stripe.errors.StripeError>(() => t.stripe.customers.create({ test_clock: 'clock_missing' }));
    expect(err.statusCode).toBe(404);
    expect(err.param).toBe('test_clock');
    const frozen = 1_800_000_000;
    t.em.ctx.store.insert({ id: 'clock_catalogtest', object: 'test_helpers.test_clock', frozen_time: frozen });
    const c = await t.stripe.customers.create({ test_clock: 'clock_catalogtest' });
    expect(c.test_clock).toBe('clock_catalogtest');
    expect(c.created).toBe(frozen);
    expect(t.em.ctx.now(c.id)).toBe(frozen);
    const pi = await t.stripe.paymentIntents.create({ amount: 500, currency: 'usd', customer: c.id });
    expect(pi.created).toBe(frozen);
    const listed = await t.stripe.customers.list({ test_clock: 'clock_catalogtest' });
    expect(listed.data.map((x) => x.id)).toEqual([c.id]);
  });

  test('default payment method: magic id at creation, attached methods only, cleared on detach', async () => {
    const c = await t.stripe.customers.create({
      payment_method: 'pm_card_visa',
      invoice_settings: { default_payment_method: 'pm_card_visa' },
    });
    const pmId = c.invoice_settings.default_payment_method as string;
    expect(pmId).toMatch(/^pm_/);
    expect(pmId).not.toBe('pm_card_visa');
    expect((await t.stripe.paymentMethods.retrieve(pmId)).customer).toBe(c.id);

    const loose = await t.stripe.paymentMethods.create({
      type: 'card',
      card: { number: '4242424242424242', exp_month: 12, exp_year: 2040 },
    });
    const err = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.customers.update(c.id, { invoice_settings: { default_payment_method: loose.id } }),
    );
    expect(err.param).toBe('invoice_settings[default_payment_method]');
    expect(err.message).toBe(
      `The customer does not have a payment method with the ID ${loose.id}. The payment method must be attached to the customer.`,
    );

    await t.stripe.paymentMethods.attach(loose.id, { customer: c.id });
    const switched = await t.stripe.customers.update(c.id, { invoice_settings: { default_payment_method: loose.id } });
    expect(switched.invoice_settings.default_payment_method).toBe(loose.id);
    await t.stripe.paymentMethods.detach(loose.id);
    expect(((await t.stripe.customers.retrieve(c.id)) as Stripe.Customer).invoice_settings.default_payment_method).toBeNull();

    const methods = await t.stripe.customers.listPaymentMethods(c.id);
    expect(methods.data.map((m) => m.id)).toEqual([pmId]);
  });

  test('a customer is not created when its payment method is refused', async () => {
    const before = (await t.stripe.customers.list({ limit: 100 })).data.length;
    const err = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.customers.create({ email: 'declined@example.com', payment_method: 'pm_card_chargeDeclined' }),
    );
    expect(err.statusCode).toBe(402);
    expect(err.code).toBe('card_declined');
    expect((await t.stripe.customers.list({ limit: 100 })).data.length).toBe(before);
  });
});

describe('products', () => {
  test('create, retrieve, update, list by active, custom ids, delete rules', async () => {
    const p = await t.stripe.products.create({ name: 'Premium', description: 'All the minutes', metadata: { tier: 'top' } });
    expect(p).toMatchObject({
      object: 'product',
      name: 'Premium',
      active: true,
      description: 'All the minutes',
      metadata: { tier: 'top' },
      default_price: null,
      type: 'service',
    });
    expect(p.id).toMatch(/^prod_/);
    const archived = await t.stripe.products.update(p.id, { active: false, name: 'Premium (old)' });
    expect(archived.active).toBe(false);
    expect(archived.name).toBe('Premium (old)');
    const inactive = await t.stripe.products.list({ active: false, limit: 100 });
    expect(inactive.data.map((x) => x.id)).toContain(p.id);
    const active = await t.stripe.products.list({ active: true, limit: 100 });
    expect(active.data.map((x) => x.id)).not.toContain(p.id);

    const custom = await t.stripe.products.create({ id: 'prod_custom_day_pass', name: 'Day Pass' });
    expect(custom.id).toBe('prod_custom_day_pass');
    const dup = await rejection<Stripe.errors.StripeError>(() => t.stripe.products.create({ id: 'prod_custom_day_pass', name: 'Again' }));
    expect(dup.code).toBe('resource_already_exists');

    await t.stripe.prices.create({ product: custom.id, currency: 'usd', unit_amount: 500 });
    const refused = await rejection<Stripe.errors.StripeError>(() => t.stripe.products.del(custom.id));
    expect(refused.message).toBe('This product cannot be deleted because it has one or more user-created prices.');
    const gone = await t.stripe.products.del(p.id);
    expect(gone.deleted).toBe(true);
  });

  test('default_price_data creates the default price', async () => {
    const p = await t.stripe.products.create({
      name: 'With default',
      default_price_data: { currency: 'eur', unit_amount: 990, recurring: { interval: 'month' } },
    });
    const price = await t.stripe.prices.retrieve(p.default_price as string);
    expect(price).toMatchObject({ product: p.id, currency: 'eur', unit_amount: 990, type: 'recurring' });
    expect(price.recurring?.interval).toBe('month');
  });
});

describe('prices', () => {
  test('one-time and recurring prices, with product or product_data', async () => {
    const product = await t.stripe.products.create({ name: 'Plan' });
    const once = await t.stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 1000, nickname: 'once' });
    expect(once).toMatchObject({
      object: 'price',
      type: 'one_time',
      recurring: null,
      unit_amount: 1000,
      currency: 'usd',
      active: true,
      billing_scheme: 'per_unit',
      lookup_key: null,
    });
    expect(once.unit_amount_decimal?.toString()).toBe('1000');

    for (const interval of ['day', 'week', 'month', 'year'] as const) {
      const r = await t.stripe.prices.create({
        product: product.id,
        currency: 'usd',
        unit_amount: 200,
        recurring: { interval, interval_count: 2 },
      });
      expect(r.type).toBe('recurring');
      expect(r.recurring).toEqual({ interval, interval_count: 2, meter: null, trial_period_days: null, usage_type: 'licensed' });
    }
    const inline = await t.stripe.prices.create({
      currency: 'usd',
      unit_amount: 500,
      product_data: { name: 'Inline product', metadata: { k: 'v' } },
    });
    const inlineProduct = await t.stripe.products.retrieve(inline.product as string);
    expect(inlineProduct).toMatchObject({ name: 'Inline product', metadata: { k: 'v' } });
    const jpy = await t.stripe.prices.create({ product: product.id, currency: 'JPY', unit_amount: 500 });
    expect(jpy.currency).toBe('jpy');

    const tooLong = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 1, recurring: { interval: 'year', interval_count: 4 } }),
    );
    expect(tooLong.param).toBe('recurring[interval_count]');
    const noProduct = await rejection<Stripe.errors.StripeError>(() => t.stripe.prices.create({ currency: 'usd', unit_amount: 1 }));
    expect(noProduct.param).toBe('product');
    const badCurrency = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.prices.create({ product: product.id, currency: 'xyz', unit_amount: 1 }),
    );
    expect(badCurrency.param).toBe('currency');
    expect(badCurrency.message).toMatch(/^Invalid currency: xyz\. Stripe currently supports these currencies: usd, /);
    const missingProduct = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.prices.create({ product: 'prod_nope', currency: 'usd', unit_amount: 1 }),
    );
    expect(missingProduct.message).toBe("No such product: 'prod_nope'");
    expect(missingProduct.param).toBe('product');
  });

  test('lookup keys are unique; transfer_lookup_key moves them; lookup_keys[] filters', async () => {
    const product = await t.stripe.products.create({ name: 'Lookup' });
    const v1 = await t.stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 500, lookup_key: 'day_pass' });
    expect(v1.lookup_key).toBe('day_pass');
    const clash = await rejection<Stripe.errors.StripeError>(() =>
      t.stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 600, lookup_key: 'day_pass' }),
    );
    expect(clash.statusCode).toBe(400);
    expect(clash.param).toBe('lookup_key');
    expect(clash.message).toBe(`A price (\`${v1.id}\`) already uses that lookup key.`);

    const since = await latestEventId(t.stripe);
    const v2 = await t.stripe.prices.create({
      product: product.id,
      currency: 'usd',
      unit_amount: 600,
      lookup_key: 'day_pass',
      transfer_lookup_key: true,
    });
    expect(v2.lookup_key).toBe('day_pass');
    expect((await t.stripe.prices.retrieve(v1.id)).lookup_key).toBeNull();
    expect(await eventTypes(t.stripe, since)).toEqual(['price.updated', 'price.created']);

    const byKey = await t.stripe.prices.list({ lookup_keys: ['day_pass', 'premium_month'] });
    expect(byKey.data.map((p) => p.id)).toEqual([v2.id]);

    const premium = await t.stripe.prices.create({
      product: product.id,
      currency: 'usd',
      unit_amount: 20000,
      recurring: { interval: 'month' },
      lookup_key: 'premium_month',
    });
    const both = await t.stripe.prices.list({ lookup_keys: ['day_pass', 'premium_month'] });
    expect(both.data.map((p) => p.id).sort()).toEqual([v2.id, premium.id].sort());

    // update: taking a key needs transfer_lookup_key too
    const refused = await rejection<Stripe.errors.StripeError>(() => t.stripe.prices.update(v1.id, { lookup_key: 'premium_month' }));
    expect(refused.message).toBe(`A price (\`${premium.id}\`) already uses that lookup key.`);
    const moved = await t.stripe.prices.update(v1.id, {
      lookup_key: 'premium_month',
      transfer_lookup_key: true,
      metadata: { moved: 'yes' },
    });
    expect(moved.lookup_key).toBe('premium_month');
    expect(moved.metadata).toEqual({ moved: 'yes' });
    expect((await t.stripe.prices.retrieve(premium.id)).lookup_key).toBeNull();
  });

  test('update active and list filters (active, product, type)', async () => {
    const product = await t.stripe.products.create({ name: 'Filters' });
    const a = await t.stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 100 });
    const b = await t.stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 100, recurring: { interval: 'week' } });
    await t.stripe.prices.update(a.id, { active: false });
    expect((await t.stripe.prices.list({ product: product.id })).data.map((p) => p.id)).toEqual([b.id, a.id]);
    expect((await t.stripe.prices.list({ product: product.id, active: true })).data.map((p) => p.id)).toEqual([b.id]);
    expect((await t.stripe.prices.list({ product: product.id, active: false })).data.map((p) => p.id)).toEqual([a.id]);
    expect((await t.stripe.prices.list({ product: product.id, type: 'one_time' })).data.map((p) => p.id)).toEqual([a.id]);
    expect((await t.stripe.prices.list({ product: product.id, type: 'recurring' })).data.map((p) => p.id)).toEqual([b.id]);
  });

  test('lookup_keys[] sent the way other clients send arrays', async () => {
    const res = await raw(t.em, 'GET', '/v1/prices?lookup_keys[]=day_pass&lookup_keys[]=nope');
    expect(res.status).toBe(200);
    expect(res.json.data.map((p: Stripe.Price) => p.lookup_key)).toEqual(['day_pass']);
  });
});
