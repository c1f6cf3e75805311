import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Stripe from 'stripe';
import { startEmulator } from '../../src/emulator';
import { CARD, raw, sdk } from './support';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'stripe-emulator-state-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('state survives a restart with the same data file', async () => {
  const dataFile = join(dir, 'state.json');
  const first = await startEmulator({ dataFile });
  const s1 = sdk(first);
  const customer = await s1.customers.create({
    email: 'kept@example.com',
    payment_method: 'pm_card_visa',
    invoice_settings: { default_payment_method: 'pm_card_visa' },
  });
  const price = await s1.prices.create({
    currency: 'usd',
    unit_amount: 20000,
    recurring: { interval: 'month' },
    product_data: { name: 'Premium' },
    lookup_key: 'premium',
  });
  const pi = await s1.paymentIntents.create(
    {
      amount: 2000,
      currency: 'usd',
      customer: customer.id,
      payment_method: customer.invoice_settings.default_payment_method as string,
      confirm: true,
      ...CARD,
    },
    { idempotencyKey: 'persisted-key' },
  );
  await s1.refunds.create({ payment_intent: pi.id, amount: 500 });
  const we = await s1.webhookEndpoints.create({ url: 'http://127.0.0.1:9/hook', enabled_events: ['customer.updated'] });
  const eventsBefore = (await s1.events.list({ limit: 100 })).data.map((e) => e.id);
  await first.stop();
  expect(JSON.parse(readFileSync(dataFile, 'utf8')).format).toBe('stripe-emulator-state');

  const second = await startEmulator({ dataFile });
  try {
    const s2 = sdk(second);
    expect(await s2.customers.retrieve(customer.id)).toEqual(customer);
    expect((await s2.prices.list({ lookup_keys: ['premium'] })).data.map((p) => p.id)).toEqual([price.id]);
    const charge = await s2.charges.retrieve(pi.latest_charge as string);
    expect(charge.amount_refunded).toBe(500);
    expect((await s2.events.list({ limit: 100 })).data.map((e) => e.id)).toEqual(eventsBefore);
    expect((await s2.webhookEndpoints.retrieve(we.id)).url).toBe('http://127.0.0.1:9/hook');
    // idempotency keys are kept too: the same request replays, no second payment
    const replay = await s2.paymentIntents.create(
      {
        amount: 2000,
        currency: 'usd',
        customer: customer.id,
        payment_method: customer.invoice_settings.default_payment_method as string,
        confirm: true,
        ...CARD,
      },
      { idempotencyKey: 'persisted-key' },
    );
    expect(replay.id).toBe(pi.id);
    expect((await s2.paymentIntents.list({ customer: customer.id })).data).toHaveLength(1);
    // hidden state too: the saved card still charges, new objects keep list order
    const again = await s2.paymentIntents.create({
      amount: 700,
      currency: 'usd',
      customer: customer.id,
      payment_method: charge.payment_method as string,
      confirm: true,
      ...CARD,
    });
    expect(again.status).toBe('succeeded');
    expect((await s2.paymentIntents.list({ customer: customer.id })).data.map((p: Stripe.PaymentIntent) => p.id)).toEqual([
      again.id,
      pi.id,
    ]);
  } finally {
    await second.stop();
  }
});

test('changes are saved while running, not only on stop', async () => {
  const dataFile = join(dir, 'live.json');
  const em = await startEmulator({ dataFile });
  try {
    const c = await sdk(em).customers.create({ name: 'Soon on disk' });
    const deadline = Date.now() + 3000;
    let text = '';
    while (Date.now() < deadline) {
      try {
        text = readFileSync(dataFile, 'utf8');
      } catch {
        text = '';
      }
      if (text.includes(c.id)) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(text).toContain(c.id);
  } finally {
    await em.stop();
  }
});

test('a data file that is not emulator state is refused, not overwritten', async () => {
  const dataFile = join(dir, 'broken.json');
  writeFileSync(dataFile, '{ not json');
  await expect(startEmulator({ dataFile })).rejects.toThrow(/is not valid JSON/);
  expect(readFileSync(dataFile, 'utf8')).toBe('{ not json');
  writeFileSync(dataFile, '{"something":"else"}');
  await expect(startEmulator({ dataFile })).rejects.toThrow(/not a Stripe emulator state file/);
});

test('without a data file nothing is kept', async () => {
  const a = await startEmulator();
  const id = (await sdk(a).customers.create({})).id;
  await a.stop();
  const b = await startEmulator();
  try {
    expect((await raw(b, 'GET', `/v1/customers/${id}`)).status).toBe(404);
  } finally {
    await b.stop();
  }
});
