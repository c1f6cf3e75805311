import type Stripe from 'stripe';
import { portalPrices, productOf, subscribedCustomer, tollgateFeatures, visit } from './portalFixture';
import { raw, rejection, startTestEmulator, type TestEmulator } from './support';

let t: TestEmulator;
let basic: Stripe.Price;
let premium: Stripe.Price;
let oneTime: Stripe.Price;
beforeAll(async () => {
  t = await startTestEmulator();
  ({ basic, premium } = await portalPrices(t));
  oneTime = await t.stripe.prices.create({ currency: 'usd', unit_amount: 500, product: basic.product as string });
});
afterAll(() => t.em.stop());

describe('configurations', () => {
  test('a default configuration exists: invoice history, card updates, cancellation at period end', async () => {
    const list = await t.stripe.billingPortal.configurations.list({ is_default: true });
    expect(list.data).toHaveLength(1);
    const config = list.data[0]!;
    expect(config).toMatchObject({
      object: 'billing_portal.configuration',
      active: true,
      is_default: true,
      features: {
        invoice_history: { enabled: true },
        payment_method_update: { enabled: true },
        subscription_cancel: { enabled: true, mode: 'at_period_end' },
        subscription_update: { enabled: false },
        customer_update: { enabled: false },
        subscription_pause: { enabled: false },
      },
    });
    expect(config.id).toMatch(/^bpc_/);
    expect((await t.stripe.billingPortal.configurations.retrieve(config.id)).id).toBe(config.id);
  });

  test('create, retrieve, update and list a configuration', async () => {
    const created = await t.stripe.billingPortal.configurations.create({
      features: tollgateFeatures({ basic, premium }),
      metadata: { owner: 'tollgate' },
      name: 'Plans',
      default_return_url: 'https://shop.example.com/account',
    });
    expect(created).toMatchObject({
      is_default: false,
      active: true,
      name: 'Plans',
      metadata: { owner: 'tollgate' },
      default_return_url: 'https://shop.example.com/account',
      features: {
        subscription_cancel: { cancellation_reason: { enabled: true, options: ['too_expensive', 'unused', 'other'] } },
        subscription_update: {
          enabled: true,
          default_allowed_updates: ['price'],
          proration_behavior: 'always_invoice',
          products: [
            { product: productOf(basic), prices: [basic.id] },
            { product: productOf(premium), prices: [premium.id] },
          ],
          schedule_at_period_end: { conditions: [{ type: 'decreasing_item_amount' }, { type: 'shortening_interval' }] },
        },
      },
    });
    expect((await t.stripe.billingPortal.configurations.retrieve(created.id)).features).toEqual(created.features);

    const updated = await t.stripe.billingPortal.configurations.update(created.id, {
      features: { subscription_update: { products: [{ product: productOf(premium), prices: [premium.id] }] } },
      metadata: { version: '2' },
    });
    expect(updated.features.subscription_update.products).toEqual([
      expect.objectContaining({ product: productOf(premium), prices: [premium.id] }),
    ]);
    expect(updated.features.subscription_update.proration_behavior).toBe('always_invoice');
    expect(updated.metadata).toEqual({ owner: 'tollgate', version: '2' });

    const inactive = await t.stripe.billingPortal.configurations.update(created.id, { active: false });
    expect(inactive.active).toBe(false);
    const active = await t.stripe.billingPortal.configurations.list({ active: false });
    expect(active.data.map((c) => c.id)).toContain(created.id);
  });

  test.each([
    ['customer detail updates', { customer_update: { enabled: true, allowed_updates: ['email'] } }, 'features[customer_update][enabled]'],
    ['pausing', { subscription_pause: { enabled: true } }, 'features[subscription_pause][enabled]'],
    [
      'a product without prices',
      { subscription_update: { enabled: true, default_allowed_updates: ['price'], products: [] } },
      'features[subscription_update][products]',
    ],
    [
      'quantity updates',
      { subscription_update: { enabled: true, default_allowed_updates: ['quantity'], products: [] } },
      'features[subscription_update][default_allowed_updates]',
    ],
  ])('refused clearly: %s', async (_what, features, param) => {
    const err = await rejection(() => t.stripe.billingPortal.configurations.create({ features } as never));
    expect(err).toMatchObject({ type: 'StripeInvalidRequestError', param });
  });

  test('offered prices must be recurring prices of their product', async () => {
    const foreign = await rejection(() =>
      t.stripe.billingPortal.configurations.create({
        features: {
          subscription_update: {
            enabled: true,
            default_allowed_updates: ['price'],
            products: [{ product: productOf(basic), prices: [premium.id] }],
          },
        },
      }),
    );
    expect(foreign.message).toBe(`The price ${premium.id} does not belong to the product ${productOf(basic)}.`);
    const once = await rejection(() =>
      t.stripe.billingPortal.configurations.create({
        features: {
          subscription_update: {
            enabled: true,
            default_allowed_updates: ['price'],
            products: [{ product: productOf(basic), prices: [oneTime.id] }],
          },
        },
      }),
    );
    expect(once.message).toMatch(/is not recurring/);
  });

  test('the default configuration cannot be deactivated; a refused update changes nothing', async () => {
    const [config] = (await t.stripe.billingPortal.configurations.list({ is_default: true })).data;
    const err = await rejection(() => t.stripe.billingPortal.configurations.update(config!.id, { active: false }));
    expect(err).toMatchObject({ param: 'active' });
    const created = await t.stripe.billingPortal.configurations.create({ features: tollgateFeatures({ basic, premium }) });
    await rejection(() =>
      t.stripe.billingPortal.configurations.update(created.id, {
        metadata: { changed: 'yes' },
        features: { subscription_pause: { enabled: true } },
      }),
    );
    expect((await t.stripe.billingPortal.configurations.retrieve(created.id)).metadata).toEqual({});
  });
});

describe('sessions', () => {
  test('a session for a customer: the configuration, return_url and an unguessable page URL', async () => {
    const { customer } = await subscribedCustomer(t, basic);
    const config = await t.stripe.billingPortal.configurations.create({ features: tollgateFeatures({ basic, premium }) });
    const session = await t.stripe.billingPortal.sessions.create({
      customer: customer.id,
      return_url: 'https://shop.example.com/account',
      configuration: config.id,
    });
    expect(session).toMatchObject({
      object: 'billing_portal.session',
      customer: customer.id,
      configuration: config.id,
      return_url: 'https://shop.example.com/account',
      flow: null,
      livemode: false,
      on_behalf_of: null,
    });
    expect(session.id).toMatch(/^bps_/);
    expect(session.url).toMatch(new RegExp(`^${t.em.url}/p/session/test_[A-Za-z0-9]{40}$`));
    expect(session.url).not.toContain(session.id);
    const page = await visit(t, session.url);
    expect(page.status).toBe(200);
    expect(page.text).toContain('Basic');
    expect(page.text).toContain('$10.00 per month');
    expect(page.text).toContain('href="https://shop.example.com/account"');

    const withDefault = await t.stripe.billingPortal.sessions.create({ customer: customer.id });
    const [defaultConfig] = (await t.stripe.billingPortal.configurations.list({ is_default: true })).data;
    expect(withDefault.configuration).toBe(defaultConfig!.id);
    expect(withDefault.return_url).toBeNull();
  });

  test('refusals: an unknown customer, flow_data, an inactive configuration; a made-up link', async () => {
    const missing = await rejection(() => t.stripe.billingPortal.sessions.create({ customer: 'cus_nope' }));
    expect(missing).toMatchObject({ statusCode: 404, code: 'resource_missing', param: 'customer' });
    const { customer } = await subscribedCustomer(t, basic);
    const flow = await rejection(() =>
      t.stripe.billingPortal.sessions.create({ customer: customer.id, flow_data: { type: 'payment_method_update' } }),
    );
    expect(flow).toMatchObject({ param: 'flow_data' });
    expect(flow.message).toMatch(/does not implement portal flows/);
    const config = await t.stripe.billingPortal.configurations.create({ features: tollgateFeatures({ basic, premium }) });
    await t.stripe.billingPortal.configurations.update(config.id, { active: false });
    const inactive = await rejection(() => t.stripe.billingPortal.sessions.create({ customer: customer.id, configuration: config.id }));
    expect(inactive).toMatchObject({ param: 'configuration' });
    expect((await raw(t.em, 'GET', '/p/session/test_madeup', { auth: null })).status).toBe(404);
  });

  test('a link expires 5 minutes after creation unless opened; an opened one an hour after the last action', async () => {
    const clock = await t.stripe.testHelpers.testClocks.create({ frozen_time: Math.floor(Date.now() / 1000) });
    const { customer } = await subscribedCustomer(t, basic, { clock: clock.id });
    const advance = (seconds: number) =>
      t.stripe.testHelpers.testClocks
        .retrieve(clock.id)
        .then((c) => t.stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: c.frozen_time + seconds }));
    const unopened = await t.stripe.billingPortal.sessions.create({ customer: customer.id, return_url: 'https://shop.example.com/' });
    const opened = await t.stripe.billingPortal.sessions.create({ customer: customer.id });
    expect((await visit(t, opened.url)).status).toBe(200);
    await advance(6 * 60);
    const gone = await visit(t, unopened.url);
    expect(gone.status).toBe(410);
    expect(gone.text).toContain('This session has expired');
    expect(gone.text).toContain('href="https://shop.example.com/"');
    expect((await visit(t, opened.url)).status).toBe(200);
    await advance(59 * 60);
    expect((await visit(t, opened.url)).status).toBe(200);
    await advance(61 * 60);
    expect((await visit(t, opened.url)).status).toBe(410);
  });
});
