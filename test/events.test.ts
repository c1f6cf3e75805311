import type { EntityManager } from '@mikro-orm/postgresql';
import { upsertUser } from '../src/auth/users';
import { issueUserToken } from '../src/auth/userTokens';
import { verifySignature } from '../src/events/signature';
import { CANCEL, pricingId, SUBSCRIBE } from './support/billing';
import { runScript } from './support/cli';
import { sql } from './support/db';
import { CREATE_PAYMENT, REFUND_PAYMENT } from './support/payments';
import { startAppProcess, type ServerProcess } from './support/process';
import { startReceiver, type Receiver } from './support/receiver';
import { startTestServer, type TestServer } from './support/server';

jest.setTimeout(120_000);

/** Events to the product: written with the change, signed, delivered over HTTP to a receiver in the test. */
describe('events to the product', () => {
  let server: TestServer;
  let receiver: Receiver;
  let secret: string;
  let endpointId: string;
  const cli = (args: string[]) => runScript('eventsEndpoint', args, { DATABASE_URL: server.databaseUrl, LOG_LEVEL: 'silent' });
  const of = (userId: string) => receiver.received.filter((r) => r.json.user.id === userId);
  const typesOf = (userId: string) => of(userId).map((r) => r.json.type);

  beforeAll(async () => {
    server = await startTestServer({
      stripe: true,
      env: { EVENTS_DELIVERY: 'on', EVENTS_POLL_MS: '100', EVENTS_RETRY_BASE_MS: '400', EVENTS_RETRY_MAX_MS: '1000' },
    });
    receiver = await startReceiver();
    const added = await cli(['add', '--url', receiver.url]);
    expect(added.code).toBe(0);
    [, endpointId] = /^(\S+)\s+enabled\s/.exec(added.stdout)!;
    [, secret] = /secret (whsec_\S+)/.exec(added.stdout)!;
  });

  afterAll(async () => {
    await server?.close();
    await receiver?.close();
  });

  it('a new user: user.created, signed with the endpoint secret as Stripe signs webhooks', async () => {
    const user = await server.createUser();
    const [event] = await receiver.waitFor(() => of(user.id).length > 0).then(() => of(user.id));
    expect(verifySignature(secret, event.body, event.signature)).toBe(true);
    expect(verifySignature('whsec_other', event.body, event.signature)).toBe(false);
    expect(event.json).toEqual({
      id: expect.stringMatching(/^evt_[0-9a-f]{24}$/),
      type: 'user.created',
      created: expect.any(Number),
      user: { id: user.id, externalId: null },
      data: { object: { id: user.id, externalId: null, email: user.email, name: null, timezone: 'UTC', role: 'USER' } },
    });
  });

  it("a user made by the product's id: one user.created, none when the same call only updates", async () => {
    const em = server.em() as EntityManager;
    const { user } = await upsertUser(em, { externalId: 'ext-events-1', email: 'ext-events-1@example.com' });
    await upsertUser(em, { externalId: 'ext-events-1', name: 'Ada' });
    // A later change of the same user arrives after anything before it (order per user): then nothing else came.
    const paid = await payAs(user.id, '3.00');
    await receiver.waitFor(() => typesOf(user.id).includes('payment.succeeded'));
    expect(typesOf(user.id)).toEqual(['user.created', 'payment.succeeded']);
    expect(of(user.id)[0].json.user).toEqual({ id: user.id, externalId: 'ext-events-1' });
    expect(of(user.id)[1].json.data.object).toMatchObject({
      id: paid,
      status: 'CONFIRMED',
      amount: { amount: '3.00', amountMinor: 300, currency: 'usd' },
    });
  });

  /** A payment for a user (as that user, with a fresh token). */
  async function payAs(userId: string, amount: string): Promise<string> {
    const token = await issueUserToken(server.em(), userId);
    const res = await server.gql(CREATE_PAYMENT, { input: { amount, currency: 'usd', paymentMethod: 'pm_card_visa' } }, token);
    return res.data.createPayment.payment.id;
  }

  it('subscribe, then cancel at period end: subscription.created, .updated with what changed', async () => {
    const user = await server.createUser();
    const premium = await pricingId(server, 'premium');
    const res = await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_visa' } }, user.token);
    const sub = res.data.subscribe.subscription;
    await server.gql(CANCEL, { id: sub.id }, user.token);
    await receiver.waitFor(() => of(user.id).some((r) => r.json.data.object.cancelAtPeriodEnd === true));
    await server.emulator.idle(20_000);
    const events = of(user.id);
    expect(new Set(events.map((e) => e.json.id)).size).toBe(events.length);
    for (const e of events) expect(verifySignature(secret, e.body, e.signature)).toBe(true);
    expect(typesOf(user.id)).toEqual(['user.created', 'subscription.created', 'subscription.updated', 'subscription.updated']);
    expect(events[1].json.data.object).toMatchObject({ id: sub.id, plan: { id: expect.any(String) }, pricing: { id: premium } });
    expect(events[2].json.data).toMatchObject({ object: { status: 'ACTIVE' }, previousAttributes: { status: 'INCOMPLETE' } });
    expect(events[3].json.data).toMatchObject({
      object: { status: 'ACTIVE', cancelAtPeriodEnd: true },
      previousAttributes: { cancelAtPeriodEnd: false },
    });
  });

  it('a subscribe that is declined and rolled back emits nothing', async () => {
    const user = await server.createUser();
    const premium = await pricingId(server, 'premium');
    const res = await server.gql(SUBSCRIBE, { input: { pricingId: premium, paymentMethod: 'pm_card_chargeDeclined' } }, user.token);
    expect(res.errors?.[0].extensions?.code).toBe('PAYMENT_FAILED');
    await server.emulator.idle(20_000);
    await payAs(user.id, '2.00');
    await receiver.waitFor(() => typesOf(user.id).includes('payment.succeeded'));
    expect(typesOf(user.id)).toEqual(['user.created', 'payment.succeeded']);
  });

  it('a declined payment is payment.failed; a refund is payment.refunded', async () => {
    const user = await server.createUser();
    const admin = await server.createUser({ admin: true });
    const declined = await server.gql(
      CREATE_PAYMENT,
      { input: { amount: '5.00', currency: 'usd', paymentMethod: 'pm_card_chargeDeclined' } },
      user.token,
    );
    expect(declined.data.createPayment.payment.status).toBe('REJECTED');
    const paid = await server.gql(
      CREATE_PAYMENT,
      { input: { amount: '7.00', currency: 'usd', paymentMethod: 'pm_card_visa' } },
      user.token,
    );
    await server.gql(REFUND_PAYMENT, { id: paid.data.createPayment.payment.id, amount: '2.00' }, admin.token);
    await receiver.waitFor(() => typesOf(user.id).includes('payment.refunded'));
    await server.emulator.idle(20_000);
    expect(typesOf(user.id)).toEqual(['user.created', 'payment.failed', 'payment.succeeded', 'payment.refunded']);
    expect(of(user.id)[1].json.data.object).toMatchObject({ status: 'REJECTED', failureCode: 'generic_decline' });
    expect(of(user.id)[3].json.data.object).toMatchObject({ status: 'PARTIALLY_REFUNDED', refundedAmount: { amount: '2.00' } });
  });

  it('a receiver answering 500 gets the same event again, later, and then it is delivered', async () => {
    receiver.answer(500);
    const user = await server.createUser();
    await receiver.waitFor(() => of(user.id).length === 2);
    const [first, second] = of(user.id);
    expect(second.json.id).toBe(first.json.id);
    expect(second.at - first.at).toBeGreaterThanOrEqual(150);
    const [delivery] = await sql(
      server.databaseUrl,
      `select d.status, d.attempts, d.last_status from event_delivery d join outbox_event e on e.seq = d.event_seq where e.id = $1`,
      [first.json.id],
    );
    expect(delivery).toEqual({ status: 'delivered', attempts: 2, last_status: 200 });
  });

  it('events:endpoint list shows the endpoint (not its secret); events:replay sends an event again', async () => {
    const listed = await cli(['list']);
    expect(listed.stdout).toContain(`${endpointId}  enabled   ${receiver.url}  *`);
    expect(listed.stdout).not.toContain(secret);
    const user = await server.createUser();
    await receiver.waitFor(() => of(user.id).length === 1);
    const id = of(user.id)[0].json.id;
    const replay = await runScript('eventsReplay', ['--event', id], { DATABASE_URL: server.databaseUrl, LOG_LEVEL: 'silent' });
    expect(replay.stdout).toBe('queued 1 deliveries\n');
    await receiver.waitFor(() => of(user.id).length === 2);
    expect(of(user.id)[1].body).toBe(of(user.id)[0].body);
    const bad = await runScript('eventsReplay', ['--event', 'nope'], { DATABASE_URL: server.databaseUrl, LOG_LEVEL: 'silent' });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/event must be an event id/);
  });

  it('events:endpoint refuses a bad URL or an unknown event type, and writes nothing', async () => {
    const before = (await cli(['list'])).stdout;
    const badUrl = await cli(['add', '--url', 'ftp://example.com/x']);
    expect(badUrl.code).not.toBe(0);
    expect(badUrl.stderr).toMatch(/url must be an http:\/\/ or https:\/\/ URL/);
    const badType = await cli(['add', '--url', 'https://example.com/x', '--events', 'subscription.*,invoice.paid']);
    expect(badType.stderr).toMatch(/unknown event type/);
    expect((await cli(['list'])).stdout).toBe(before);
  });

  it('admins manage endpoints and see deliveries over GraphQL; others may not; bad input writes nothing', async () => {
    const admin = await server.createUser({ admin: true });
    const user = await server.createUser();
    const ADD = `mutation($input: AddEventEndpointInput!) { addEventEndpoint(input: $input) { endpoint { id url events enabled } secret } }`;
    const refused = await server.gql(ADD, { input: { url: receiver.url } }, user.token);
    expect(refused.errors?.[0].extensions?.code).toBe('FORBIDDEN');
    const bad = await server.gql(ADD, { input: { url: 'javascript:alert(1)', events: ['payment.*'] } }, admin.token);
    expect(bad.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'url' });
    const before = await server.gql(`{ eventEndpoints { id } }`, undefined, admin.token);
    expect(before.data.eventEndpoints).toHaveLength(1);

    const added = await server.gql(ADD, { input: { url: `${receiver.url}?second`, events: ['payment.*'] } }, admin.token);
    const second = added.data.addEventEndpoint;
    expect(second).toMatchObject({ endpoint: { events: ['payment.*'], enabled: true }, secret: expect.stringMatching(/^whsec_/) });
    const rotated = await server.gql(
      `mutation($id: ID!) { rotateEventEndpointSecret(id: $id) { secret } }`,
      { id: second.endpoint.id },
      admin.token,
    );
    expect(rotated.data.rotateEventEndpointSecret.secret).not.toBe(second.secret);
    const disabled = await server.gql(
      `mutation($id: ID!) { disableEventEndpoint(id: $id) { enabled } }`,
      { id: second.endpoint.id },
      admin.token,
    );
    expect(disabled.data.disableEventEndpoint.enabled).toBe(false);

    await receiver.waitFor(() => of(user.id).length === 1);
    const deliveries = await server.gql(
      `query($id: String) { eventDeliveries(eventId: $id) { eventId eventType endpointId status attempts lastStatus lastDurationMs deliveredAt } }`,
      { id: of(user.id)[0].json.id },
      admin.token,
    );
    expect(deliveries.data.eventDeliveries).toEqual([
      {
        eventId: of(user.id)[0].json.id,
        eventType: 'user.created',
        endpointId,
        status: 'DELIVERED',
        attempts: 1,
        lastStatus: 200,
        lastDurationMs: expect.any(Number),
        deliveredAt: expect.any(String),
      },
    ]);
  });

  describe('three server processes on one database', () => {
    const processes: Array<ServerProcess & { url: string }> = [];
    afterAll(async () => {
      await Promise.all(processes.map((p) => p.stop()));
    });

    it('deliver each event once, in order per user', async () => {
      const env = {
        DATABASE_URL: server.databaseUrl,
        EMULATOR_URL: server.emulator.url,
        WEBHOOK_SECRET: server.webhookSecret,
        EVENTS_DELIVERY: 'on',
        EVENTS_POLL_MS: '50',
      };
      processes.push(...(await Promise.all([startAppProcess(env), startAppProcess(env)])));
      const users = await Promise.all([1, 2, 3].map(() => server.createUser()));
      await receiver.waitFor(() => users.every((u) => of(u.id).length === 1));
      // 20 events per user at once (as a burst of changes would write them), for the three processes to share.
      for (const u of users)
        await sql(
          server.databaseUrl,
          `insert into outbox_event (id, type, user_id, data, created_at)
           select 'evt_' || lpad(to_hex(g) || substr(md5($1::text), 1, 8), 24, '0'), 'usage.threshold', $1::uuid, jsonb_build_object('object', jsonb_build_object('n', g)), now()
             from generate_series(1, 20) g`,
          [u.id],
        );
      await receiver.waitFor(() => users.every((u) => of(u.id).length === 21), 30_000);
      await new Promise((r) => setTimeout(r, 500));
      for (const u of users) {
        const got = of(u.id).slice(1);
        expect(got.map((r) => r.json.data.object.n)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
        expect(new Set(got.map((r) => r.json.id)).size).toBe(20);
      }
    });
  });
});
