import { sql } from './support/db';
import { startTestServer, type TestServer } from './support/server';
import { deliver, fakeEvent, signedHeader } from './support/webhooks';

/** A validly signed body that is not a Stripe event is a bad request (400, nothing stored), never "database unavailable". */
describe('the envelope of a signed Stripe event', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ stripe: true, webhooks: false });
  });
  afterAll(() => server.close());

  const send = (event: Record<string, unknown>) => {
    const body = JSON.stringify(event);
    return deliver(server.url, body, { 'stripe-signature': signedHeader(body, server.webhookSecret) });
  };
  const stored = async () => (await sql(server.databaseUrl, 'select id from stripe_event')).map((r) => r.id);

  it.each([
    ['created is not a number', { created: 'yesterday' }, 'created'],
    ['created is past year 9999', { created: 1e15 }, 'created'],
    ['the id is 4 KB long', { id: `evt_${'x'.repeat(4096)}` }, 'id'],
    ['there is no type', { type: undefined }, 'type'],
    ['livemode is not a boolean', { livemode: 'no' }, 'livemode'],
    ['data holds no object', { data: {} }, 'data.object'],
  ])('answers 400 when %s', async (_, overrides, field) => {
    const res = await send(fakeEvent('customer.created', { id: 'cus_x', object: 'customer' }, overrides));
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ field });
    expect(res.body.error).toMatch(/^the body is not a Stripe event: /);
    expect(await stored()).toEqual([]);
  });

  it('answers 400 for a value PostgreSQL cannot store (a NUL character), not 503', async () => {
    const res = await send(fakeEvent('customer.created', { id: 'cus_nul', object: 'customer', name: 'a\u0000b' }));
    expect(res.status).toBe(400);
    expect(await stored()).toEqual([]);
  });

  it('still stores and acknowledges a well-formed event', async () => {
    const event = fakeEvent('customer.created', { id: 'cus_ok', object: 'customer' });
    const res = await send(event);
    expect(res.status).toBe(200);
    expect(await stored()).toEqual([event.id]);
  });
});
