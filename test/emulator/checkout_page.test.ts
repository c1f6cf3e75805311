import type { Browser } from 'playwright-core';
import type Stripe from 'stripe';
import { describeInBrowser, expectText, fillCard, launchChromium, startShop } from '../support/browser';
import { startTestEmulator, type TestEmulator } from './support';

jest.setTimeout(60_000);

let t: TestEmulator;
let browser: Browser;
let shop: { url: string; close: () => Promise<void> };
let monthly: Stripe.Price;
let book: Stripe.Price;

/** The hosted Checkout page, paid by a person in a real (headless) browser. */
describeInBrowser('checkout_page')('hosted Checkout page in Chromium', () => {
  beforeAll(async () => {
    t = await startTestEmulator();
    shop = await startShop();
    browser = await launchChromium();
    monthly = await t.stripe.prices.create({
      currency: 'usd',
      unit_amount: 1500,
      recurring: { interval: 'month' },
      product_data: { name: 'Premium' },
    });
    book = await t.stripe.prices.create({ currency: 'usd', unit_amount: 2500, product_data: { name: 'Book' } });
  });
  afterAll(async () => {
    await browser?.close();
    await shop?.close();
    await t?.em.stop();
  });

  test('subscription mode: paid with 4242 4242 4242 4242, redirected to success_url with the session id', async () => {
    const session = await t.stripe.checkout.sessions.create({
      mode: 'subscription',
      line_items: [{ price: monthly.id, quantity: 1 }],
      success_url: `${shop.url}/success?session_id={CHECKOUT_SESSION_ID}`,
      cancel_url: `${shop.url}/cancel`,
    });
    const page = await browser.newPage();
    try {
      await page.goto(session.url as string);
      await expectText(page, '#total', '$15.00');
      await fillCard(page, '4242 4242 4242 4242', 'ada@example.com');
      await Promise.all([page.waitForURL(`${shop.url}/success**`), page.click('button:has-text("Pay")')]);
      expect(page.url()).toBe(`${shop.url}/success?session_id=${session.id}`);
    } finally {
      await page.close();
    }
    const done = await t.stripe.checkout.sessions.retrieve(session.id, { expand: ['subscription'] });
    expect(done).toMatchObject({
      status: 'complete',
      payment_status: 'paid',
      customer_details: { email: 'ada@example.com', name: 'Ada Lovelace' },
    });
    expect((done.subscription as Stripe.Subscription).status).toBe('active');
  });

  test('refused with 4000 0000 0000 0002: the decline is shown and the session stays open', async () => {
    const session = await t.stripe.checkout.sessions.create({
      mode: 'payment',
      line_items: [{ price: book.id, quantity: 1 }],
      success_url: `${shop.url}/success`,
    });
    const page = await browser.newPage();
    try {
      await page.goto(session.url as string);
      await fillCard(page, '4000 0000 0000 0002', 'bob@example.com');
      await Promise.all([page.waitForLoadState('load'), page.click('#submit')]);
      await expectText(page, '#error', 'Your card was declined.');
      expect(page.url()).toContain(`/c/pay/${session.id}`);
      // insufficient funds, then a good card on the same page
      await fillCard(page, '4000 0000 0000 9995');
      await page.click('#submit');
      await expectText(page, '#error', 'Your card has insufficient funds.');
      expect((await t.stripe.checkout.sessions.retrieve(session.id)).status).toBe('open');
      await fillCard(page, '4242424242424242');
      await Promise.all([page.waitForURL(`${shop.url}/success`), page.click('#submit')]);
    } finally {
      await page.close();
    }
    expect((await t.stripe.checkout.sessions.retrieve(session.id)).status).toBe('complete');
  });

  test('3-D Secure with 4000 0025 0000 3155: the authentication step, completed', async () => {
    const session = await t.stripe.checkout.sessions.create({
      mode: 'payment',
      line_items: [{ price: book.id, quantity: 1 }],
      success_url: `${shop.url}/paid/{CHECKOUT_SESSION_ID}`,
    });
    const page = await browser.newPage();
    try {
      await page.goto(session.url as string);
      await fillCard(page, '4000 0025 0000 3155', 'tds@example.com');
      await Promise.all([page.waitForURL('**/authenticate/**'), page.click('#submit')]);
      await Promise.all([page.waitForURL(`${shop.url}/paid/${session.id}`), page.click('#complete')]);
    } finally {
      await page.close();
    }
    expect(await t.stripe.checkout.sessions.retrieve(session.id)).toMatchObject({ status: 'complete', payment_status: 'paid' });
  });

  test('3-D Secure failed: back on the form with the reason, still open', async () => {
    const session = await t.stripe.checkout.sessions.create({
      mode: 'subscription',
      line_items: [{ price: monthly.id, quantity: 1 }],
      success_url: `${shop.url}/success`,
    });
    const page = await browser.newPage();
    try {
      await page.goto(session.url as string);
      await fillCard(page, '4000 0025 0000 3155', 'fail@example.com');
      await Promise.all([page.waitForURL('**/authenticate/**'), page.click('#submit')]);
      await Promise.all([page.waitForURL(`**/c/pay/${session.id}/return**`), page.click('#fail')]);
      await expectText(page, '#error', 'authenticate');
    } finally {
      await page.close();
    }
    expect((await t.stripe.checkout.sessions.retrieve(session.id)).status).toBe('open');
  });

  test('the Cancel link goes to cancel_url and buys nothing', async () => {
    const session = await t.stripe.checkout.sessions.create({
      mode: 'payment',
      line_items: [{ price: book.id, quantity: 1 }],
      success_url: `${shop.url}/success`,
      cancel_url: `${shop.url}/cart`,
    });
    const page = await browser.newPage();
    try {
      await page.goto(session.url as string);
      await Promise.all([page.waitForURL(`${shop.url}/cart`), page.click('text=Cancel')]);
    } finally {
      await page.close();
    }
    expect(await t.stripe.checkout.sessions.retrieve(session.id)).toMatchObject({ status: 'open', payment_intent: null });
  });
});
