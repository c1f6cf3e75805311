import type Stripe from 'stripe';
import { advanceClock, pricingId, SUBSCRIBE, unix, userOnTestClock } from './support/billing';
import { runScript } from './support/cli';
import { sql } from './support/db';
import { startTestServer, type TestServer } from './support/server';
import { deliver, signedHeader } from './support/webhooks';

jest.setTimeout(180_000);

const INVOICE_FIELDS = `id stripeInvoiceId number status subscriptionId periodStart periodEnd hostedInvoiceUrl invoicePdfUrl created
  total { amount amountMinor currency } amountPaid { amount } amountDue { amount } amountRemaining { amount }`;
const MY_INVOICES = `query($first: Int, $after: String) { myInvoices(first: $first, after: $after) {
  edges { cursor node { ${INVOICE_FIELDS} } } pageInfo { hasNextPage endCursor } } }`;
const USER_INVOICES = `query($userId: ID!, $first: Int, $after: String) { invoices(userId: $userId, first: $first, after: $after) {
  edges { node { ${INVOICE_FIELDS} } } pageInfo { hasNextPage endCursor } } }`;
const SUBSCRIPTION_INVOICES = `query($first: Int) { mySubscriptions { id invoices(first: $first) { number status stripeInvoiceId } } }`;

/** The invoices of a user as they see them, newest first. */
async function myInvoices(server: TestServer, token: string, variables: Record<string, unknown> = {}): Promise<any[]> {
  const res = await server.gql(MY_INVOICES, variables, token);
  expect(res.errors).toBeUndefined();
  return res.data.myInvoices.edges.map((e: { node: unknown }) => e.node);
}

/** What Stripe says about one invoice, in the shape Tollgate shows it. */
function asStripeSays(i: Stripe.Invoice) {
  const money = (minor: number) => (minor / 100).toFixed(2);
  return {
    stripeInvoiceId: i.id,
    number: i.number,
    status: i.status!.toUpperCase(),
    total: { amount: money(i.total), amountMinor: i.total, currency: i.currency },
    amountPaid: { amount: money(i.amount_paid) },
    amountDue: { amount: money(i.amount_due) },
    amountRemaining: { amount: money(i.amount_remaining) },
    periodStart: new Date(i.period_start * 1000).toISOString(),
    periodEnd: new Date(i.period_end * 1000).toISOString(),
    hostedInvoiceUrl: i.hosted_invoice_url,
    invoicePdfUrl: i.invoice_pdf,
    created: new Date(i.created * 1000).toISOString(),
  };
}

async function stripeInvoices(server: TestServer, customer: string): Promise<Stripe.Invoice[]> {
  return (await server.stripe.invoices.list({ customer, limit: 100 })).data;
}

/**
 * Invoices reach Tollgate through the emulator's real signed webhooks (and stripe:sync), and users read
 * them through myInvoices and Subscription.invoices.
 */
describe('invoices synced from Stripe', () => {
  let server: TestServer;
  let premium: string;
  beforeAll(async () => {
    server = await startTestServer({ stripe: true });
    premium = await pricingId(server, 'premium');
  });
  afterAll(() => server.close());

  async function subscribed() {
    const user = await userOnTestClock(server);
    const res = await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_visa' } }, user.token);
    expect(res.errors).toBeUndefined();
    await server.emulator.idle(20_000);
    return { user, sub: res.data.subscribe.subscription };
  }

  it("a Premium subscription's first invoice is listed with Stripe's number, amounts and links, paid", async () => {
    const { user, sub } = await subscribed();
    const [inStripe] = await stripeInvoices(server, user.customerId);
    expect(inStripe).toMatchObject({ status: 'paid', total: 20000 });
    const mine = await myInvoices(server, user.token);
    expect(mine).toEqual([{ ...asStripeSays(inStripe), id: expect.any(String), subscriptionId: sub.id }]);
    expect(mine[0]).toMatchObject({
      status: 'PAID',
      total: { amount: '200.00' },
      amountPaid: { amount: '200.00' },
      amountRemaining: { amount: '0.00' },
    });
    expect(mine[0].hostedInvoiceUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/i\/test_/);

    const subs = (await server.gql(SUBSCRIPTION_INVOICES, {}, user.token)).data.mySubscriptions;
    expect(subs).toEqual([{ id: sub.id, invoices: [{ number: inStripe.number, status: 'PAID', stripeInvoiceId: inStripe.id }] }]);
  });

  it('a renewal under a test clock adds a second invoice, newest first; a failed one is OPEN with what is still due', async () => {
    const { user, sub } = await subscribed();
    await advanceClock(server, user.clock.id, unix(sub.currentPeriodEnd) + 3600);
    let mine = await myInvoices(server, user.token);
    expect(mine.map((i) => i.status)).toEqual(['PAID', 'PAID']);
    expect(mine.map((i) => i.stripeInvoiceId)).toEqual((await stripeInvoices(server, user.customerId)).map((i) => i.id));
    expect(new Date(mine[0].created).getTime()).toBeGreaterThan(new Date(mine[1].created).getTime());

    // The next renewal is charged to a card that declines.
    const failing = await server.stripe.paymentMethods.attach('pm_card_chargeCustomerFail', { customer: user.customerId });
    await server.stripe.subscriptions.update(sub.stripeSubscriptionId, { default_payment_method: failing.id });
    const period = (await server.gql(`query { mySubscriptions { currentPeriodEnd } }`, {}, user.token)).data.mySubscriptions[0];
    await advanceClock(server, user.clock.id, unix(period.currentPeriodEnd) + 3600);
    mine = await myInvoices(server, user.token);
    const [failed] = await stripeInvoices(server, user.customerId);
    expect(failed.status).toBe('open');
    expect(mine).toHaveLength(3);
    expect(mine[0]).toEqual({ ...asStripeSays(failed), id: expect.any(String), subscriptionId: sub.id });
    expect(mine[0]).toMatchObject({
      status: 'OPEN',
      amountDue: { amount: '200.00' },
      amountPaid: { amount: '0.00' },
      amountRemaining: { amount: '200.00' },
    });
    const listed = (await server.gql(SUBSCRIPTION_INVOICES, { first: 2 }, user.token)).data.mySubscriptions[0].invoices;
    expect(listed.map((i: { status: string }) => i.status)).toEqual(['OPEN', 'PAID']);

    // Written off, then voided, in Stripe: the invoice follows.
    await server.stripe.invoices.markUncollectible(failed.id);
    await server.emulator.idle(10_000);
    expect((await myInvoices(server, user.token, { first: 1 }))[0].status).toBe('UNCOLLECTIBLE');
    await server.stripe.invoices.voidInvoice(failed.id);
    await server.emulator.idle(10_000);
    expect((await myInvoices(server, user.token, { first: 1 }))[0]).toMatchObject({ status: 'VOID', amountRemaining: { amount: '0.00' } });
  });

  it('pages newest first with the cursor of the previous page; bad pages are BAD_USER_INPUT', async () => {
    const { user, sub } = await subscribed();
    await advanceClock(server, user.clock.id, unix(sub.currentPeriodEnd) + 3600);
    const renewed = (await server.gql(`query { mySubscriptions { currentPeriodEnd } }`, {}, user.token)).data.mySubscriptions[0];
    await advanceClock(server, user.clock.id, unix(renewed.currentPeriodEnd) + 3600);
    const all = (await stripeInvoices(server, user.customerId)).map((i) => i.id);
    expect(all).toHaveLength(3);

    const first = (await server.gql(MY_INVOICES, { first: 2 }, user.token)).data.myInvoices;
    expect(first.edges.map((e: any) => e.node.stripeInvoiceId)).toEqual(all.slice(0, 2));
    expect(first.pageInfo).toEqual({ hasNextPage: true, endCursor: first.edges[1].cursor });
    const second = (await server.gql(MY_INVOICES, { first: 2, after: first.pageInfo.endCursor }, user.token)).data.myInvoices;
    expect(second.edges.map((e: any) => e.node.stripeInvoiceId)).toEqual(all.slice(2));
    expect(second.pageInfo.hasNextPage).toBe(false);

    for (const [query, variables] of [
      [MY_INVOICES, { first: 0 }],
      [MY_INVOICES, { first: 101 }],
      [MY_INVOICES, { after: 'not-a-cursor' }],
      [SUBSCRIPTION_INVOICES, { first: 101 }],
    ] as const) {
      const res = await server.gql(query, variables, user.token);
      expect(res.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
    }
  });

  it("a user sees only their own invoices; admins read anyone's, and nobody else may", async () => {
    const a = await subscribed();
    const b = await server.createUser();
    expect(await myInvoices(server, b.token)).toEqual([]);
    const refused = await server.gql(USER_INVOICES, { userId: a.user.id }, b.token);
    expect(refused.errors?.[0].extensions?.code).toBe('FORBIDDEN');
    expect(refused.data).toBeNull();
    expect((await server.gql(MY_INVOICES, {})).errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');

    const admin = await server.createUser({ admin: true });
    const seen = (await server.gql(USER_INVOICES, { userId: a.user.id }, admin.token)).data.invoices.edges.map((e: any) => e.node);
    expect(seen).toEqual(await myInvoices(server, a.user.token));
    expect((await server.gql(USER_INVOICES, { userId: b.id }, admin.token)).data.invoices.edges).toEqual([]);
    const unknown = await server.gql(USER_INVOICES, { userId: '00000000-0000-4000-8000-000000000000' }, admin.token);
    expect(unknown.errors?.[0].extensions?.code).toBe('NOT_FOUND');
  });

  it('stripe:sync fills in invoices missing from the database (a dry run only shows them)', async () => {
    const { user, sub } = await subscribed();
    await advanceClock(server, user.clock.id, unix(sub.currentPeriodEnd) + 3600);
    const before = await myInvoices(server, user.token);
    expect(before).toHaveLength(2);
    // Lost, as if their webhooks never came.
    await sql(server.databaseUrl, 'delete from invoice where user_id = $1', [user.id]);
    expect(await myInvoices(server, user.token)).toEqual([]);

    const env = { DATABASE_URL: server.databaseUrl, STRIPE_EMULATOR_PORT: String(server.emulator.port), LOG_LEVEL: 'silent' };
    const dry = await runScript('stripeSync', ['--dry-run'], env);
    expect(dry.code).toBe(0);
    for (const i of before) expect(dry.stdout).toContain(`stripeInvoiceId: null -> "${i.stripeInvoiceId}"`);
    expect(await myInvoices(server, user.token)).toEqual([]);

    const real = await runScript('stripeSync', [], env);
    expect(real.code).toBe(0);
    expect(await myInvoices(server, user.token)).toEqual(before.map((i) => ({ ...i, id: expect.any(String) })));
    expect((await runScript('stripeSync', ['--dry-run'], env)).stdout).toMatch(/would change 0 objects/);
  });
});

/**
 * Deliveries promise no order and may repeat: here the emulator's events are delivered by hand, late,
 * twice and in reverse, and each still leaves the invoice as Stripe has it now.
 */
describe('invoice events delivered twice and in reverse order', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ stripe: true, webhooks: false });
  });
  afterAll(() => server.close());

  it('apply once, and never move an invoice back', async () => {
    const user = await userOnTestClock(server);
    const res = await server.gql(
      SUBSCRIBE,
      { input: { pricingId: await pricingId(server, 'premium'), paymentMethod: 'pm_card_visa' } },
      user.token,
    );
    expect(res.errors).toBeUndefined();
    const [invoice] = (await server.stripe.invoices.list({ customer: user.customerId })).data;
    const events = (await server.stripe.events.list({ limit: 100 })).data.filter(
      (e) => e.type.startsWith('invoice.') && (e.data.object as { id: string }).id === invoice.id,
    );
    // newest first: invoice.payment_succeeded, invoice.paid, invoice.finalized, invoice.created
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['invoice.created', 'invoice.finalized', 'invoice.paid']));
    expect(events.find((e) => e.type === 'invoice.created')!.data.object).toMatchObject({ status: 'draft', hosted_invoice_url: null });

    const send = (event: Stripe.Event) => {
      const body = JSON.stringify(event);
      return deliver(server.url, body, { 'stripe-signature': signedHeader(body, server.webhookSecret) });
    };
    const answers = [];
    for (const event of [...events, ...events]) answers.push((await send(event)).body.status);
    const handled = events.filter((e) => e.type !== 'invoice.payment_succeeded').length;
    expect(answers.filter((s) => s === 'pending')).toHaveLength(handled);
    expect(answers.filter((s) => s === 'duplicate')).toHaveLength(events.length);
    await server.inboxDrained();

    // Stored newest first; each, the draft's invoice.created included, read Stripe's paid invoice.
    const outcomes = await sql(
      server.databaseUrl,
      `select type, outcome from stripe_event where type in ('invoice.created', 'invoice.finalized', 'invoice.paid') order by received_at`,
    );
    expect(outcomes.map((o) => o.type)).toEqual(['invoice.paid', 'invoice.finalized', 'invoice.created']);
    expect(outcomes.map((o) => o.outcome)).toEqual(outcomes.map(() => expect.stringMatching(/invoice \S+ from in_\S+: paid$/)));
    expect(await sql(server.databaseUrl, 'select status, number, subscription_id is not null as linked from invoice')).toEqual([
      { status: 'paid', number: invoice.number, linked: true },
    ]);
  });
});
