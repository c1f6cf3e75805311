import { sql } from './support/db';
import { startTestServer, type TestServer } from './support/server';
import { deliver, fakeEvent, signedHeader } from './support/webhooks';

/**
 * The database refuses connections (as during a failover or a restart): a webhook must not be
 * acknowledged, so Stripe delivers it again, and /readyz says the server is not ready.
 */
describe('webhooks while the database is unreachable', () => {
  let server: TestServer;
  let name: string;
  beforeAll(async () => {
    server = await startTestServer({ stripe: true, webhooks: false });
    name = new URL(server.databaseUrl).pathname.slice(1);
  });
  afterAll(async () => {
    await allowConnections(true);
    await server.close();
  });

  /** Runs on the maintenance database, since the test database itself is the one being cut off. */
  const admin = (text: string, params: unknown[] = []) => {
    const url = new URL(server.databaseUrl);
    url.pathname = '/postgres';
    return sql(url.toString(), text, params);
  };
  async function allowConnections(allow: boolean) {
    await admin(`alter database "${name}" with allow_connections ${allow}`);
    if (!allow)
      await admin('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [name]);
  }

  it('answers 503 and stores nothing; the same delivery later is stored and answered 200', async () => {
    const event = fakeEvent('customer.created', { id: 'cus_down', object: 'customer' });
    const body = JSON.stringify(event);
    const send = () => deliver(server.url, body, { 'stripe-signature': signedHeader(body, server.webhookSecret) });

    await allowConnections(false);
    const refused = await send();
    expect(refused.status).toBe(503);
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ checks: { database: 'unreachable' } });

    await allowConnections(true);
    expect(await sql(server.databaseUrl, 'select id from stripe_event')).toEqual([]);
    const accepted = await send();
    expect(accepted.status).toBe(200);
    expect(await sql(server.databaseUrl, 'select id, status from stripe_event')).toEqual([{ id: event.id, status: 'ignored' }]);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  });
});
