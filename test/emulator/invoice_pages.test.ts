import type { Browser, BrowserContext, Page } from 'playwright-core';
import type Stripe from 'stripe';
import { describeInBrowser, expectText, fillCard, launchChromium } from '../support/browser';
import { checkPdfStructure, pdfTextLines } from '../support/pdf';
import { raw, startTestEmulator, type TestEmulator } from './support';

jest.setTimeout(60_000);

let t: TestEmulator;
let browser: Browser;
let monthly: Stripe.Price;

/** A browser on a machine with no internet: only the emulator (loopback) is reachable; the browser's own resources (its PDF viewer) are not network. */
async function offline(): Promise<{ context: BrowserContext; blocked: string[] }> {
  const context = await browser.newContext();
  const blocked: string[] = [];
  await context.route(/.*/, (route) => {
    const url = route.request().url();
    const { protocol, hostname } = new URL(url);
    if (!['http:', 'https:', 'ws:', 'wss:'].includes(protocol) || hostname === '127.0.0.1') return route.continue();
    blocked.push(url);
    return route.abort('internetdisconnected');
  });
  return { context, blocked };
}

/** A customer on a test clock with a paid monthly subscription (15.00 USD), and its first invoice. */
async function subscribed(paymentMethod = 'pm_card_visa') {
  const clock = await t.stripe.testHelpers.testClocks.create({ frozen_time: Math.floor(Date.now() / 1000) });
  const customer = await t.stripe.customers.create({ email: 'ada@example.com', name: 'Ada Lovelace', test_clock: clock.id });
  const pm = await t.stripe.paymentMethods.attach(paymentMethod, { customer: customer.id });
  const subscription = await t.stripe.subscriptions.create({
    customer: customer.id,
    items: [{ price: monthly.id }],
    default_payment_method: pm.id,
  });
  const invoice = await t.stripe.invoices.retrieve(subscription.latest_invoice as string);
  return { clock, customer, subscription, invoice };
}

/**
 * The PDF link of the hosted page, clicked: Chromium opens the PDF (in its viewer). Back on the page, the
 * browser fetches the same link for its bytes (the viewer stands in for the document's own response body).
 */
async function openPdf(page: Page): Promise<Buffer> {
  const [response] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname.endsWith('/pdf')),
    page.click('#download-pdf'),
  ]);
  expect(response.status()).toBe(200);
  expect(response.headers()['content-type']).toBe('application/pdf');
  await page.waitForURL(/\/pdf$/);
  await page.goBack();
  const href = new URL((await page.getAttribute('#download-pdf', 'href'))!, page.url()).href;
  const bytes = await page.evaluate(async (url) => Array.from(new Uint8Array(await (await fetch(url)).arrayBuffer())), href);
  return Buffer.from(bytes);
}

describeInBrowser('invoice_pages')('hosted invoice page and PDF', () => {
  beforeAll(async () => {
    t = await startTestEmulator();
    browser = await launchChromium();
    monthly = await t.stripe.prices.create({
      currency: 'usd',
      unit_amount: 1500,
      recurring: { interval: 'month' },
      product_data: { name: 'Premium' },
    });
  });
  afterAll(async () => {
    await browser?.close();
    await t?.em.stop();
  });

  test('links are set on finalization (null on the draft), on the emulator, behind a token that is not the invoice id', async () => {
    const { invoice } = await subscribed();
    expect(invoice.status).toBe('paid');
    expect(invoice.hosted_invoice_url).toMatch(new RegExp(`^${t.em.url}/i/test_[A-Za-z0-9_-]{32}$`));
    expect(invoice.invoice_pdf).toBe(`${invoice.hosted_invoice_url}/pdf`);
    expect(invoice.hosted_invoice_url).not.toContain(invoice.id);
    const events = (await t.stripe.events.list({ limit: 100 })).data.filter((e) => (e.data.object as { id: string }).id === invoice.id);
    const created = events.find((e) => e.type === 'invoice.created')!.data.object as Stripe.Invoice;
    const finalized = events.find((e) => e.type === 'invoice.finalized')!.data.object as Stripe.Invoice;
    expect(created).toMatchObject({ status: 'draft', hosted_invoice_url: null, invoice_pdf: null });
    expect(finalized).toMatchObject({ status: 'open', hosted_invoice_url: invoice.hosted_invoice_url, invoice_pdf: invoice.invoice_pdf });

    const unknown = await raw(t.em, 'GET', '/i/test_nothing-here', { auth: null });
    expect(unknown.status).toBe(404);
    expect((await raw(t.em, 'GET', '/i/test_nothing-here/pdf', { auth: null })).status).toBe(404);
  });

  test('a paid invoice: the page shows number, status, customer, lines with periods and amounts; its PDF says the same', async () => {
    const { invoice } = await subscribed();
    const { context, blocked } = await offline();
    const page = await context.newPage();
    try {
      const answer = await page.goto(invoice.hosted_invoice_url!);
      expect(answer?.headers()['content-type']).toContain('text/html');
      await expectText(page, '#number', invoice.number!);
      await expectText(page, '#status', 'Paid');
      await expectText(page, '#customer', 'Ada Lovelace · ada@example.com');
      await expectText(page, '#lines', '1 × Premium (at $15.00 / month)');
      const day = (s: number) =>
        new Date(s * 1000).toLocaleDateString('en-US', { timeZone: 'UTC', month: 'short', day: 'numeric', year: 'numeric' });
      const line = invoice.lines.data[0];
      await expectText(page, '#lines .period', `${day(line.period.start)} – ${day(line.period.end)}`);
      await expectText(page, '#total', '$15.00');
      await expectText(page, '#amount-paid', '$15.00');
      await expectText(page, '#amount-remaining', '$0.00');
      expect(await page.locator('#payment-form').count()).toBe(0);

      const pdf = await openPdf(page);
      expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
      checkPdfStructure(pdf);
      const text = pdfTextLines(pdf);
      expect(text).toEqual(
        expect.arrayContaining([
          `Invoice number ${invoice.number}`,
          'Status Paid',
          'Ada Lovelace',
          'ada@example.com',
          '1 × Premium (at $15.00 / month)',
          `${day(line.period.start)} – ${day(line.period.end)}`,
        ]),
      );
      expect(text.slice(text.indexOf('Total'), text.indexOf('Total') + 2)).toEqual(['Total', '$15.00']);
      expect(text.slice(text.indexOf('Amount paid'), text.indexOf('Amount paid') + 2)).toEqual(['Amount paid', '$15.00']);
    } finally {
      await context.close();
    }
    expect(blocked).toEqual([]);

    const direct = await raw(t.em, 'GET', new URL(invoice.invoice_pdf!).pathname, { auth: null });
    expect(direct.status).toBe(200);
    expect(direct.headers['content-type']).toBe('application/pdf');
  });

  test('a failed renewal: the open invoice shows what is due; a declined card shows why; a good card pays it and the subscription is active again', async () => {
    const { clock, customer, subscription } = await subscribed();
    const failing = await t.stripe.paymentMethods.attach('pm_card_chargeCustomerFail', { customer: customer.id });
    await t.stripe.subscriptions.update(subscription.id, { default_payment_method: failing.id });
    await t.stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: subscription.items.data[0].current_period_end + 3600 });
    const [open] = (await t.stripe.invoices.list({ customer: customer.id, status: 'open' })).data;
    expect(open).toMatchObject({ billing_reason: 'subscription_cycle', amount_remaining: 1500 });
    expect((await t.stripe.subscriptions.retrieve(subscription.id)).status).toBe('past_due');

    const { context, blocked } = await offline();
    const page = await context.newPage();
    try {
      await page.goto(open.hosted_invoice_url!);
      await expectText(page, '#status', 'Open');
      await expectText(page, '#amount-due', '$15.00');
      await expectText(page, '#amount-paid', '$0.00');
      await expectText(page, '#amount-remaining', '$15.00');
      const pdfText = pdfTextLines(await openPdf(page));
      expect(pdfText).toEqual(expect.arrayContaining([`Invoice number ${open.number}`, 'Status Open']));

      await fillCard(page, '4000 0000 0000 0002');
      await Promise.all([page.waitForLoadState('load'), page.click('#submit')]);
      await expectText(page, '#error', 'Your card was declined.');
      expect((await t.stripe.invoices.retrieve(open.id)).status).toBe('open');

      await fillCard(page, '4242 4242 4242 4242');
      await Promise.all([page.waitForURL(open.hosted_invoice_url!), page.click('#submit')]);
      await expectText(page, '#status', 'Paid');
      await expectText(page, '#amount-remaining', '$0.00');
    } finally {
      await context.close();
    }
    expect(blocked).toEqual([]);
    expect((await t.stripe.invoices.retrieve(open.id)).status).toBe('paid');
    expect((await t.stripe.subscriptions.retrieve(subscription.id)).status).toBe('active');
  });

  test('a card that asks for 3-D Secure goes through the authentication page and back to the paid invoice', async () => {
    const { clock, customer, subscription } = await subscribed();
    const failing = await t.stripe.paymentMethods.attach('pm_card_chargeCustomerFail', { customer: customer.id });
    await t.stripe.subscriptions.update(subscription.id, { default_payment_method: failing.id });
    await t.stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: subscription.items.data[0].current_period_end + 3600 });
    const [open] = (await t.stripe.invoices.list({ customer: customer.id, status: 'open' })).data;

    const { context } = await offline();
    const page = await context.newPage();
    try {
      await page.goto(open.hosted_invoice_url!);
      await fillCard(page, '4000 0025 0000 3155');
      await Promise.all([page.waitForURL(/\/authenticate\//), page.click('#submit')]);
      await Promise.all([page.waitForURL(open.hosted_invoice_url!), page.click('#complete')]);
      await expectText(page, '#status', 'Paid');
    } finally {
      await context.close();
    }
    expect((await t.stripe.invoices.retrieve(open.id)).status).toBe('paid');
  });
});
