import type { Browser, BrowserContext, Page } from 'playwright-core';
import type Stripe from 'stripe';
import { advanceClock, MY_SUBSCRIPTIONS, pricingId, SUBSCRIBE, userOnTestClock } from './support/billing';
import { describeInBrowser, expectText, launchChromium, startShop } from './support/browser';
import { sql } from './support/db';
import { startTestServer, type TestServer } from './support/server';

jest.setTimeout(180_000);

const PORTAL = `mutation($returnUrl: String!) { createBillingPortalSession(returnUrl: $returnUrl) { url } }`;
const CREATE_PLAN = `mutation($input: CreatePlanInput!) { createPlan(input: $input) { code } }`;

/** A person in the customer portal, in Chromium on a machine with no internet, with Tollgate following over webhooks. */
describeInBrowser('customer portal')('the customer portal in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let shop: { url: string; close: () => Promise<void> };
  let user: Awaited<ReturnType<typeof userOnTestClock>>;
  let subscriptionId: string;
  let page: Page;
  let portalUrl: string;

  beforeAll(async () => {
    server = await startTestServer({ stripe: true });
    shop = await startShop();
    browser = await launchChromium();
    context = await browser.newContext();
    await context.route(/.*/, (route) => {
      const host = new URL(route.request().url()).hostname;
      return host === '127.0.0.1' || host === 'localhost' ? route.continue() : route.abort('internetdisconnected');
    });
    // A second renewing plan, cheaper than Premium, so there is a plan to change to.
    const admin = (await server.createUser({ admin: true })).token;
    const plan = await server.gql(
      CREATE_PLAN,
      {
        input: {
          code: 'basic',
          name: 'Basic',
          rank: 1,
          pricingOptions: [{ lookupKey: 'basic_monthly', amount: '50', currency: 'USD', interval: 'MONTH' }],
        },
      },
      admin,
    );
    expect(plan.errors).toBeUndefined();
    user = await userOnTestClock(server);
    const res = await server.gql(
      SUBSCRIBE,
      { input: { pricingId: await pricingId(server, 'basic'), paymentMethod: 'pm_card_visa' } },
      user.token,
    );
    expect(res.errors).toBeUndefined();
    subscriptionId = res.data.subscribe.subscription.stripeSubscriptionId;
    await server.emulator.idle(20_000);
  });
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await shop?.close();
    await server?.close();
  });

  /** After the webhooks of what the person did: Tollgate's subscription says what Stripe's says. */
  async function expectInSync(): Promise<{ mine: any; stripe: Stripe.Subscription }> {
    await server.emulator.idle(20_000);
    const stripe = await server.stripe.subscriptions.retrieve(subscriptionId);
    const [mine] = (await server.gql(MY_SUBSCRIPTIONS, undefined, user.token)).data.mySubscriptions;
    const [{ code }] = await sql(
      server.databaseUrl,
      'select p.code from plan_pricing pp join plan p on p.id = pp.plan_id where pp.stripe_price_id = $1',
      [stripe.items.data[0]!.price.id],
    );
    expect(mine).toMatchObject({
      stripeSubscriptionId: stripe.id,
      status: stripe.status.toUpperCase(),
      cancelAtPeriodEnd: stripe.cancel_at_period_end,
      plan: { code },
      currentPeriodEnd: new Date(stripe.items.data[0]!.current_period_end * 1000).toISOString(),
    });
    return { mine, stripe };
  }

  async function openPortal(): Promise<void> {
    const res = await server.gql(PORTAL, { returnUrl: `${shop.url}/account` }, user.token);
    expect(res.errors).toBeUndefined();
    portalUrl = res.data.createBillingPortalSession.url;
    page = await context.newPage();
    await page.goto(portalUrl);
  }

  const subscription = () => `[id="${subscriptionId}"]`;

  test('shows the subscription: plan, price, status and when it renews', async () => {
    await openPortal();
    await expectText(page, `${subscription()} .plan`, 'Basic');
    await expectText(page, `${subscription()} .price`, '$50.00 per month');
    await expectText(page, `${subscription()} .status-value`, 'active');
    const { stripe } = await expectInSync();
    const end = new Date(stripe.items.data[0]!.current_period_end * 1000);
    const day = end.toLocaleDateString('en-US', { year: 'numeric', month: 'long', day: 'numeric', timeZone: 'UTC' });
    await expectText(page, `${subscription()} .renews`, `Renews on ${day}`);
  });

  test('cancel at period end with a reason: Stripe and Tollgate say it ends at the period end', async () => {
    await page.selectOption(`${subscription()} select[name=reason]`, 'too_expensive');
    await Promise.all([page.waitForURL(/done=canceled/), page.click(`${subscription()} button.cancel`)]);
    await expectText(page, '#notice', 'canceled at the end of the billing period');
    await expectText(page, `${subscription()} .ends`, 'Cancels on');
    const { mine, stripe } = await expectInSync();
    expect(mine).toMatchObject({ status: 'ACTIVE', cancelAtPeriodEnd: true });
    expect(stripe.cancellation_details).toMatchObject({ reason: 'cancellation_requested', feedback: 'too_expensive' });
  });

  test('renew: the cancellation is taken back in both', async () => {
    await Promise.all([page.waitForURL(/done=renewed/), page.click(`${subscription()} button.renew`)]);
    await expectText(page, `${subscription()} .renews`, 'Renews on');
    const { mine } = await expectInSync();
    expect(mine).toMatchObject({ status: 'ACTIVE', cancelAtPeriodEnd: false });
  });

  test('upgrade to Premium: at once in Stripe and in Tollgate, the prorated difference invoiced and paid', async () => {
    await Promise.all([page.waitForURL(/done=updated/), page.click(`${subscription()} button.change-plan:has-text("Premium")`)]);
    await expectText(page, `${subscription()} .plan`, 'Premium');
    await expectText(page, `${subscription()} .price`, '$200.00 per month');
    const { mine, stripe } = await expectInSync();
    expect(mine.plan.code).toBe('premium');
    const invoice = await server.stripe.invoices.retrieve(stripe.latest_invoice as string);
    expect(invoice).toMatchObject({ billing_reason: 'subscription_update', status: 'paid' });
    expect(invoice.amount_paid).toBeGreaterThan(14_000);
  });

  test('downgrade to Basic: scheduled for the period end; Premium stays in force meanwhile', async () => {
    await Promise.all([page.waitForURL(/done=scheduled/), page.click(`${subscription()} button.change-plan:has-text("Basic")`)]);
    await expectText(page, `${subscription()} .scheduled`, 'Changes to Basic ($50.00 per month) on');
    await expectText(page, `${subscription()} .plan`, 'Premium');
    const { mine, stripe } = await expectInSync();
    expect(mine).toMatchObject({ status: 'ACTIVE', cancelAtPeriodEnd: false, plan: { code: 'premium' } });
    expect(stripe.schedule).not.toBeNull();
    const query = `query { mySubscriptions { scheduledChange { pricing { lookupKey } effectiveAt } } }`;
    const [{ scheduledChange }] = (await server.gql(query, undefined, user.token)).data.mySubscriptions;
    expect(scheduledChange).toEqual({
      pricing: { lookupKey: 'basic_monthly' },
      effectiveAt: new Date(stripe.items.data[0]!.current_period_end * 1000).toISOString(),
    });
  });

  test('replace the card with another test card: the default for invoices and for the subscription', async () => {
    await page.fill('#cardNumber', '5555 5555 5555 4444');
    await page.fill('#cardExpiry', '12 / 34');
    await page.fill('#cardCvc', '123');
    await page.fill('#billingName', 'Ada Lovelace');
    await Promise.all([page.waitForURL(/done=card/), page.click('#save-card')]);
    await expectText(page, '#card', 'mastercard •••• 4444');
    await server.emulator.idle(20_000);
    const customer = (await server.stripe.customers.retrieve(user.customerId)) as Stripe.Customer;
    const card = await server.stripe.paymentMethods.retrieve(customer.invoice_settings.default_payment_method as string);
    expect(card.card).toMatchObject({ brand: 'mastercard', last4: '4444' });
    expect((await server.stripe.subscriptions.retrieve(subscriptionId)).default_payment_method).toBe(card.id);
    await expectInSync();
  });

  test('a card that cannot be saved is refused on the page and changes nothing', async () => {
    await page.fill('#cardNumber', '4000 0000 0000 0002');
    await page.fill('#cardExpiry', '12 / 34');
    await page.fill('#cardCvc', '123');
    await page.click('#save-card');
    await expectText(page, '#error', 'Your card was declined.');
    await expectText(page, '#card', 'mastercard •••• 4444');
  });

  test('the invoices are listed, each with its links', async () => {
    await page.goto(portalUrl);
    const invoices = await server.stripe.invoices.list({ customer: user.customerId, limit: 100 });
    const rows = await page.$$eval('#invoices tr.invoice', (trs) => trs.map((tr) => tr.id));
    expect(rows).toEqual(invoices.data.filter((i) => i.status !== 'draft').map((i) => i.id));
    // the first invoice and the upgrade's
    expect(rows.length).toBe(2);
    for (const invoice of invoices.data) {
      const links = await page.$$eval(`[id="${invoice.id}"] a`, (as) => as.map((a) => a.getAttribute('href')));
      expect(links).toEqual([invoice.hosted_invoice_url, invoice.invoice_pdf]);
      expect(links).toHaveLength(2);
      const [pageRes, pdf] = await Promise.all(links.map((link) => fetch(link!)));
      expect(pageRes.status).toBe(200);
      expect(await pageRes.text()).toContain(invoice.number!);
      expect(pdf.headers.get('content-type')).toBe('application/pdf');
    }
  });

  test('the return link goes back to returnUrl', async () => {
    await Promise.all([page.waitForURL(`${shop.url}/account`), page.click('#return')]);
    await expectText(page, '#path', '/account');
  });

  test('at the period end the downgrade applies: Basic in Stripe, in Tollgate and on a new portal page', async () => {
    const { stripe } = await expectInSync();
    await advanceClock(server, user.clock.id, stripe.items.data[0]!.current_period_end + 60);
    const { mine, stripe: after } = await expectInSync();
    expect(after.items.data[0]!.price.id).toBe((await server.stripe.prices.list({ lookup_keys: ['basic_monthly'] })).data[0]!.id);
    expect(mine).toMatchObject({ status: 'ACTIVE', plan: { code: 'basic' } });
    await openPortal();
    await expectText(page, `${subscription()} .plan`, 'Basic');
    expect(await page.$(`${subscription()} .scheduled`)).toBeNull();
  });
});
