import type Stripe from 'stripe';
import { runScript } from './support/cli';
import { sql } from './support/db';
import { MY_SUBSCRIPTIONS, pricingId, SUBSCRIBE, subscriptionsOf, userOnTestClock } from './support/billing';
import { startAppProcess, type ServerProcess } from './support/process';
import { startTestServer, type TestServer } from './support/server';
import { deliver, signedHeader } from './support/webhooks';

/**
 * Delivery as Stripe really does it: late, out of order, twice, to several processes, or failing
 * halfway. The server's webhook endpoint is not registered here, so the test hands the emulator's real
 * events over itself, in the order it chooses, signed with the server's secret.
 */
describe('webhook delivery order, failures, replay, several processes and stripe:sync', () => {
  let server: TestServer;
  beforeAll(async () => {
    // Retries an hour apart: a failed event here waits for stripe:replay, not for the worker.
    server = await startTestServer({ stripe: true, webhooks: false, env: { WEBHOOK_RETRY_BASE_MS: '3600000' } });
  });
  afterAll(() => server.close());

  const send = (event: Stripe.Event | Record<string, unknown>, url = server.url) => {
    const body = JSON.stringify(event);
    return deliver(url, body, { 'stripe-signature': signedHeader(body, server.webhookSecret) });
  };

  /** The emulator's events about one object, oldest first (as Stripe's API would list them). */
  async function eventsAbout(objectId: string): Promise<Stripe.Event[]> {
    const all: Stripe.Event[] = [];
    for await (const e of server.stripe.events.list({ limit: 100 })) if ((e.data.object as { id?: string }).id === objectId) all.push(e);
    return all.reverse();
  }

  async function subscribed(): Promise<{ token: string; id: string; stripeSubscriptionId: string }> {
    const user = await server.createUser();
    const res = await server.gql(
      SUBSCRIBE,
      { input: { pricingId: await pricingId(server, 'premium'), paymentMethod: 'pm_card_visa' } },
      user.token,
    );
    expect(res.errors).toBeUndefined();
    return { token: user.token, ...res.data.subscribe.subscription };
  }

  const row = async (id: string) =>
    (await sql(server.databaseUrl, 'select status, cancel_at_period_end, ended_at from subscription where id = $1', [id]))[0];

  it("a subscription's events delivered in reverse order leave Stripe's current state", async () => {
    const sub = await subscribed();
    await server.stripe.subscriptions.update(sub.stripeSubscriptionId, { cancel_at_period_end: true });
    await server.stripe.subscriptions.update(sub.stripeSubscriptionId, { cancel_at_period_end: false });
    await server.stripe.subscriptions.cancel(sub.stripeSubscriptionId);
    const events = await eventsAbout(sub.stripeSubscriptionId);
    expect(events.map((e) => e.type)).toEqual([
      'customer.subscription.created',
      'customer.subscription.updated',
      'customer.subscription.updated',
      'customer.subscription.deleted',
    ]);
    for (const e of [...events].reverse()) expect((await send(e)).status).toBe(200);
    await server.inboxDrained();
    // The oldest snapshot (active, not canceling) arrived last; applying snapshots would end there.
    expect(await row(sub.id)).toMatchObject({ status: 'canceled', ended_at: expect.any(Date) });
    const [mine] = (await server.gql(MY_SUBSCRIPTIONS, undefined, sub.token)).data.mySubscriptions;
    expect(mine.status).toBe('CANCELED');
  });

  it('one real event delivered three times is applied once', async () => {
    const sub = await subscribed();
    await server.stripe.subscriptions.update(sub.stripeSubscriptionId, { cancel_at_period_end: true });
    const [update] = (await eventsAbout(sub.stripeSubscriptionId)).filter((e) => e.type === 'customer.subscription.updated');
    const synced = async () =>
      (await sql(server.databaseUrl, 'select stripe_synced_at, updated_at from subscription where id = $1', [sub.id]))[0];
    const first = await send(update);
    expect(first).toMatchObject({ status: 200, body: { status: 'pending', stored: true } });
    await server.inboxDrained();
    const applied = await synced();
    expect(await row(sub.id)).toMatchObject({ cancel_at_period_end: true });
    const inboxRow = async () =>
      (await sql(server.databaseUrl, 'select status, attempts, processed_at, outcome from stripe_event where id = $1', [update.id]))[0];
    const stored = await inboxRow();
    for (let i = 0; i < 2; i++) expect(await send(update)).toMatchObject({ status: 200, body: { status: 'duplicate', stored: false } });
    // Nothing was re-applied: the row was not written again, and the inbox row is as the first delivery left it.
    expect(await synced()).toEqual(applied);
    expect(await inboxRow()).toEqual(stored);
    expect(stored).toMatchObject({ status: 'processed', attempts: 1 });
  });

  it('applying an event and marking it done are one transaction: when marking fails, the change is rolled back too', async () => {
    const sub = await subscribed();
    await server.stripe.subscriptions.update(sub.stripeSubscriptionId, { cancel_at_period_end: true });
    const [update] = (await eventsAbout(sub.stripeSubscriptionId)).filter((e) => e.type === 'customer.subscription.updated');
    await sql(
      server.databaseUrl,
      `create function refuse_marking_done() returns trigger language plpgsql as $$
       begin raise exception 'the inbox refuses to mark this event done'; end $$`,
    );
    await sql(
      server.databaseUrl,
      `create trigger refuse_done before update on stripe_event for each row when (old.id = '${update.id}' and new.status = 'processed') execute function refuse_marking_done()`,
    );
    try {
      expect((await send(update)).status).toBe(200);
      await server.inboxDrained();
      // The handler had written the subscription before the marking failed: that write is gone as well.
      expect(await row(sub.id)).toMatchObject({ cancel_at_period_end: false });
      expect(await sql(server.databaseUrl, 'select status, attempts, last_error from stripe_event where id = $1', [update.id])).toEqual([
        { status: 'failed', attempts: 1, last_error: expect.stringContaining('the inbox refuses to mark this event done') },
      ]);
    } finally {
      await sql(server.databaseUrl, 'drop trigger refuse_done on stripe_event');
      await sql(server.databaseUrl, 'drop function refuse_marking_done');
    }
    // Stripe would not deliver it again (it was acknowledged): it is replayed.
    expect((await send(update)).body.status).toBe('duplicate');
    const env = { DATABASE_URL: server.databaseUrl, STRIPE_EMULATOR_PORT: String(server.emulator.port), LOG_LEVEL: 'silent' };
    expect((await runScript('stripeReplay', ['--failed'], env)).stdout).toContain(`${update.id}: processed`);
    expect(await row(sub.id)).toMatchObject({ cancel_at_period_end: true });
  });

  it('two updates stamped with the same second, in either order, leave the state of the later one', async () => {
    for (const order of ['as made', 'swapped'] as const) {
      const sub = await subscribed();
      await server.stripe.subscriptions.update(sub.stripeSubscriptionId, { cancel_at_period_end: true });
      await server.stripe.subscriptions.update(sub.stripeSubscriptionId, { cancel_at_period_end: false, metadata: { second: 'yes' } });
      const updates = (await eventsAbout(sub.stripeSubscriptionId)).filter((e) => e.type === 'customer.subscription.updated');
      expect(updates).toHaveLength(2);
      // Same second, as Stripe often stamps quick successive changes: `created` cannot order them.
      const sameSecond = updates.map((e) => ({ ...e, created: updates[0].created }));
      expect((sameSecond[0].data.object as Stripe.Subscription).cancel_at_period_end).toBe(true);
      for (const e of order === 'as made' ? sameSecond : [...sameSecond].reverse()) expect((await send(e)).status).toBe(200);
      await server.inboxDrained();
      expect(await row(sub.id)).toMatchObject({ status: 'active', cancel_at_period_end: false });
    }
  });

  it('a handler that fails keeps the error and the next attempt on the event; stripe:replay --failed then applies it', async () => {
    const sub = await subscribed();
    await server.stripe.subscriptions.update(sub.stripeSubscriptionId, { cancel_at_period_end: true });
    const [event] = (await eventsAbout(sub.stripeSubscriptionId)).filter((e) => e.type === 'customer.subscription.updated');

    // Writes to this one subscription row fail for as long as the trigger exists (a database-side failure).
    await sql(
      server.databaseUrl,
      `create function refuse_subscription_write() returns trigger language plpgsql as $$
       begin raise exception 'subscription row is locked for maintenance'; end $$`,
    );
    await sql(
      server.databaseUrl,
      `create trigger refuse_write before update on subscription for each row when (old.id = '${sub.id}') execute function refuse_subscription_write()`,
    );
    try {
      const first = await send(event);
      expect(first).toMatchObject({ status: 200, body: { status: 'pending' } });
      expect(JSON.stringify(first.body)).not.toMatch(/maintenance|subscription row/);
      await server.inboxDrained();
      const [stored] = await sql(
        server.databaseUrl,
        'select status, attempts, last_error, next_attempt_at > now() as later from stripe_event where id = $1',
        [event.id],
      );
      expect(stored).toEqual({
        status: 'failed',
        attempts: 1,
        last_error: expect.stringContaining('subscription row is locked for maintenance'),
        later: true,
      });
      expect(await row(sub.id)).toMatchObject({ cancel_at_period_end: false });
      // A replay while the failure lasts fails too, says why and exits non-zero.
      // Its failure schedules the next attempt as the server would: an hour away, so the replay below is what applies it.
      const early = await runScript('stripeReplay', ['--failed'], {
        DATABASE_URL: server.databaseUrl,
        STRIPE_EMULATOR_PORT: String(server.emulator.port),
        LOG_LEVEL: 'silent',
        WEBHOOK_RETRY_BASE_MS: '3600000',
      });
      expect(early.code).toBe(1);
      expect(early.stdout).toContain(`${event.id}: failed - `);
      expect(early.stdout).toMatch(/subscription row is locked for maintenance/);
      expect(early.stdout).toMatch(/0 of 1 events processed, 1 failed/);
    } finally {
      await sql(server.databaseUrl, 'drop trigger refuse_write on subscription');
      await sql(server.databaseUrl, 'drop function refuse_subscription_write');
    }

    const replay = await runScript('stripeReplay', ['--failed'], {
      DATABASE_URL: server.databaseUrl,
      STRIPE_EMULATOR_PORT: String(server.emulator.port),
      LOG_LEVEL: 'silent',
    });
    expect(replay.stderr).toBe('');
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain(`${event.id}: processed`);
    expect(replay.stdout).toMatch(/1 of 1 events processed/);
    expect(await sql(server.databaseUrl, 'select status, attempts, last_error from stripe_event where id = $1', [event.id])).toEqual([
      { status: 'processed', attempts: 3, last_error: null },
    ]);
    expect(await row(sub.id)).toMatchObject({ cancel_at_period_end: true });

    // Nothing is left to replay, and a redelivery now is a duplicate.
    const none = await runScript('stripeReplay', ['--failed'], {
      DATABASE_URL: server.databaseUrl,
      STRIPE_EMULATOR_PORT: String(server.emulator.port),
      LOG_LEVEL: 'silent',
    });
    expect(none.stdout).toMatch(/0 of 0 events processed/);
    expect((await send(event)).body.status).toBe('duplicate');
  });

  it('stripe:replay --failed also runs an event that was stored but never processed (the server stopped in between)', async () => {
    const sub = await subscribed();
    await server.stripe.subscriptions.update(sub.stripeSubscriptionId, { cancel_at_period_end: true });
    const [update] = (await eventsAbout(sub.stripeSubscriptionId)).filter((e) => e.type === 'customer.subscription.updated');
    // As the inbox holds it after a crash between storing the event and processing it.
    await sql(
      server.databaseUrl,
      `insert into stripe_event (id, type, status, attempts, payload, livemode, stripe_created_at, received_at, own_request)
       values ($1, $2, 'pending', 0, $3, false, to_timestamp($4), now() - interval '2 minutes', false)`,
      [update.id, update.type, JSON.stringify(update), update.created],
    );
    const env = { DATABASE_URL: server.databaseUrl, STRIPE_EMULATOR_PORT: String(server.emulator.port), LOG_LEVEL: 'silent' };
    const replay = await runScript('stripeReplay', ['--failed'], env);
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain(`${update.id}: processed`);
    expect(await row(sub.id)).toMatchObject({ cancel_at_period_end: true });
    expect(await sql(server.databaseUrl, 'select status, attempts from stripe_event where id = $1', [update.id])).toEqual([
      { status: 'processed', attempts: 1 },
    ]);
  });

  it('stripe:replay --event re-runs one stored event: a subscription of a customer unknown then is adopted once the customer is linked', async () => {
    const user = await server.createUser();
    const customer = await server.stripe.customers.create({ email: user.email });
    const [{ stripe_price_id: price }] = await sql(
      server.databaseUrl,
      `select pp.stripe_price_id from plan_pricing pp join plan p on p.id = pp.plan_id where p.code = 'premium'`,
    );
    const pm = await server.stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    const s = await server.stripe.subscriptions.create({ customer: customer.id, items: [{ price }], default_payment_method: pm.id });
    const [created] = await eventsAbout(s.id);
    expect(created.type).toBe('customer.subscription.created');
    expect((await send(created)).body.status).toBe('pending');
    await server.inboxDrained();
    const outcome = async () =>
      (await sql(server.databaseUrl, 'select status, attempts, outcome from stripe_event where id = $1', [created.id]))[0];
    expect(await outcome()).toEqual({
      status: 'processed',
      attempts: 1,
      outcome: `subscription ${s.id} of unknown customer ${customer.id} recorded, not applied`,
    });

    // An operator links the customer to the user, then replays the recorded event.
    await sql(server.databaseUrl, 'update app_user set stripe_customer_id = $1 where id = $2', [customer.id, user.id]);
    const env = { DATABASE_URL: server.databaseUrl, STRIPE_EMULATOR_PORT: String(server.emulator.port), LOG_LEVEL: 'silent' };
    const replay = await runScript('stripeReplay', ['--event', created.id], env);
    expect(replay.code).toBe(0);
    expect(replay.stdout).toMatch(
      new RegExp(`^\\[1/1\\] ${created.id}: processed \\(adopted subscription [0-9a-f-]{36} from ${s.id}: active\\)$`, 'm'),
    );
    expect(await outcome()).toMatchObject({ status: 'processed', attempts: 2, outcome: expect.stringMatching(/^adopted subscription/) });
    const [mine] = (await server.gql(MY_SUBSCRIPTIONS, undefined, user.token)).data.mySubscriptions;
    expect(mine).toMatchObject({ stripeSubscriptionId: s.id, status: 'ACTIVE', plan: { code: 'premium' } });

    // Replaying it again re-reads Stripe and finds the row it made: still one subscription.
    expect((await runScript('stripeReplay', ['--event', created.id], env)).stdout).toMatch(/processed \(updated subscription/);
    expect(await sql(server.databaseUrl, 'select count(*)::int as n from subscription where stripe_subscription_id = $1', [s.id])).toEqual([
      { n: 1 },
    ]);
  });

  it('stripe:replay refuses unclear flags and unknown events with a non-zero exit', async () => {
    const env = { DATABASE_URL: server.databaseUrl, STRIPE_EMULATOR_PORT: String(server.emulator.port), LOG_LEVEL: 'silent' };
    const neither = await runScript('stripeReplay', [], env);
    expect(neither.code).not.toBe(0);
    expect(neither.stderr).toMatch(/--failed or --event/);
    const unknown = await runScript('stripeReplay', ['--event', 'evt_not_stored'], env);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/evt_not_stored is not in the inbox/);
  });

  describe('two server processes on one database', () => {
    const processes: Array<ServerProcess & { url: string }> = [];
    afterAll(async () => {
      await Promise.all(processes.map((p) => p.stop()));
    });

    it('receiving the same events at the same time store each once and apply each once', async () => {
      const env = { DATABASE_URL: server.databaseUrl, EMULATOR_URL: server.emulator.url, WEBHOOK_SECRET: server.webhookSecret };
      processes.push(...(await Promise.all([startAppProcess(env), startAppProcess(env)])));
      const sub = await subscribed();
      await server.stripe.subscriptions.update(sub.stripeSubscriptionId, { cancel_at_period_end: true });
      const events = await eventsAbout(sub.stripeSubscriptionId);
      expect(events).toHaveLength(2);

      // Each event five times to each process, all at once.
      const results = await Promise.all(
        events.flatMap((e) => processes.flatMap((p) => Array.from({ length: 5 }, () => send(e, p.url).then((r) => ({ id: e.id, ...r }))))),
      );
      expect(results.every((r) => r.status === 200)).toBe(true);
      await server.inboxDrained();
      for (const e of events) {
        const statuses = results.filter((r) => r.id === e.id).map((r) => r.body.status);
        expect(statuses.filter((s) => s === 'pending')).toHaveLength(1);
        expect(statuses.filter((s) => s === 'duplicate')).toHaveLength(9);
        // Three workers (the two processes and this test's server) compete; at most one of them applied it,
        // and the inbox counts one attempt (each attempt counts itself in its own transaction).
        const applied = processes
          .flatMap((p) => p.output().split('\n'))
          .filter((l) => l.includes(e.id) && l.includes('Stripe event applied'));
        expect(applied.length).toBeLessThanOrEqual(1);
      }
      const stored = await sql(server.databaseUrl, 'select status, attempts from stripe_event where id = any($1) order by id', [
        events.map((e) => e.id),
      ]);
      expect(stored).toEqual([
        { status: 'processed', attempts: 1 },
        { status: 'processed', attempts: 1 },
      ]);
      expect(await row(sub.id)).toMatchObject({ status: 'active', cancel_at_period_end: true });
    });
  });

  it('stripe:sync --dry-run shows a change made directly in Stripe and writes nothing; a real run applies it', async () => {
    const sub = await subscribed();
    await server.stripe.subscriptions.update(sub.stripeSubscriptionId, { cancel_at_period_end: true });
    const env = { DATABASE_URL: server.databaseUrl, STRIPE_EMULATOR_PORT: String(server.emulator.port), LOG_LEVEL: 'silent' };
    const before = await sql(server.databaseUrl, 'select * from subscription order by id');

    const dry = await runScript('stripeSync', ['--dry-run'], env);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`~ Subscription ${sub.id}\n    cancelAtPeriodEnd: false -> true\n`);
    expect(dry.stdout).toMatch(/customers checked; would change \d+ objects? \(dry run: nothing written\)/);
    expect(dry.stderr).toMatch(/customers \[.*\] \d+\/\d+/); // progress
    expect(await sql(server.databaseUrl, 'select * from subscription order by id')).toEqual(before);

    const real = await runScript('stripeSync', [], env);
    expect(real.code).toBe(0);
    expect(real.stdout).toContain(`~ Subscription ${sub.id}`);
    expect(await row(sub.id)).toMatchObject({ cancel_at_period_end: true });

    const again = await runScript('stripeSync', ['--dry-run'], env);
    expect(again.stdout).toMatch(/would change 0 objects/);
  });

  it('stripe:sync reads every customer, subscription and invoice page by page, and its dry run shows each change', async () => {
    const ours = await subscribed();
    await server.stripe.subscriptions.update(ours.stripeSubscriptionId, { cancel_at_period_end: true });
    // A known customer with three subscriptions made in Stripe's dashboard, two of them already canceled.
    const other = await userOnTestClock(server);
    const [{ stripe_price_id: price }] = await sql(
      server.databaseUrl,
      `select pp.stripe_price_id from plan_pricing pp join plan p on p.id = pp.plan_id where p.code = 'premium'`,
    );
    const pm = await server.stripe.paymentMethods.attach('pm_card_visa', { customer: other.customerId });
    const made: Stripe.Subscription[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await server.stripe.subscriptions.create({ customer: other.customerId, items: [{ price }], default_payment_method: pm.id });
      made.push(i < 2 ? await server.stripe.subscriptions.cancel(s.id) : s);
    }
    const [{ n: customers }] = await sql(
      server.databaseUrl,
      'select count(*)::int as n from app_user where stripe_customer_id is not null',
    );
    expect(customers).toBeGreaterThan(1);
    const env = { DATABASE_URL: server.databaseUrl, STRIPE_EMULATOR_PORT: String(server.emulator.port), LOG_LEVEL: 'silent' };
    const snapshot = async () => [
      await sql(server.databaseUrl, 'select * from subscription order by id'),
      await sql(server.databaseUrl, 'select * from invoice order by id'),
    ];
    const before = await snapshot();
    // No webhook reaches this server: the invoices of every known customer are missing too, and filled in.
    const missing: string[] = [];
    for (const { stripe_customer_id: customer } of await sql(
      server.databaseUrl,
      'select stripe_customer_id from app_user where stripe_customer_id is not null',
    ))
      for await (const invoice of server.stripe.invoices.list({ customer, limit: 100 })) missing.push(invoice.id);
    const kept = (await sql(server.databaseUrl, 'select stripe_invoice_id from invoice')).map((r) => r.stripe_invoice_id);
    const invoices = missing.filter((id) => !kept.includes(id));
    expect(invoices.length).toBeGreaterThanOrEqual(4); // ours and the three made in Stripe, at least
    const changes = 4 + invoices.length;

    // One customer per page here and one object per page from Stripe, so every page boundary is crossed.
    const dry = await runScript('stripeSync', ['--dry-run', '--page-size', '1'], env);
    expect(dry.stderr).toContain(`${customers}/${customers}`);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`~ Subscription ${ours.id}\n    cancelAtPeriodEnd: false -> true\n`);
    for (const s of made)
      expect(dry.stdout).toMatch(
        new RegExp(
          `^\\+ Subscription [0-9a-f-]{36}\n(    .*\n)*    stripeSubscriptionId: null -> "${s.id}"\n(    .*\n)*    status: null -> "${s.status}"`,
          'm',
        ),
      );
    for (const id of invoices)
      expect(dry.stdout).toMatch(new RegExp(`^\\+ Invoice [0-9a-f-]{36}\n(    .*\n)*    stripeInvoiceId: null -> "${id}"`, 'm'));
    expect(dry.stdout).toContain(`${customers} customers checked; would change ${changes} objects (dry run: nothing written)`);
    expect(await snapshot()).toEqual(before);

    const real = await runScript('stripeSync', ['--page-size', '1'], env);
    expect(real.code).toBe(0);
    expect(real.stdout).toContain(`${customers} customers checked; changed ${changes} objects`);
    expect((await sql(server.databaseUrl, 'select count(*)::int as n from invoice'))[0].n).toBe(kept.length + invoices.length);
    // The invoices of the subscriptions adopted in the same run are linked to them.
    const unlinked = await sql(
      server.databaseUrl,
      'select count(*)::int as n from invoice where user_id = $1 and subscription_id is null',
      [other.id],
    );
    expect(unlinked).toEqual([{ n: 0 }]);
    expect(await row(ours.id)).toMatchObject({ cancel_at_period_end: true });
    const adopted = (await server.gql(MY_SUBSCRIPTIONS, undefined, other.token)).data.mySubscriptions;
    expect(adopted.map((s: { stripeSubscriptionId: string; status: string }) => [s.stripeSubscriptionId, s.status]).sort()).toEqual(
      made.map((s) => [s.id, s.status.toUpperCase()]).sort(),
    );
    expect((await runScript('stripeSync', ['--dry-run'], env)).stdout).toMatch(/would change 0 objects/);
  });

  it('stripe:sync ends a Checkout subscription whose session expired unpaid while no webhook reached Tollgate', async () => {
    const user = await server.createUser();
    const { subscription } = (await server.gql(SUBSCRIBE, { input: { pricingId: await pricingId(server, 'premium') } }, user.token)).data
      .subscribe;
    const [{ stripe_checkout_session_id: sessionId }] = await sql(
      server.databaseUrl,
      'select stripe_checkout_session_id from subscription where id = $1',
      [subscription.id],
    );
    await server.stripe.checkout.sessions.expire(sessionId);
    const env = { DATABASE_URL: server.databaseUrl, STRIPE_EMULATOR_PORT: String(server.emulator.port), LOG_LEVEL: 'silent' };

    const dry = await runScript('stripeSync', ['--dry-run'], env);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(
      new RegExp(
        `^~ Subscription ${subscription.id}\n    status: "incomplete" -> "incomplete_expired"\n    endedAt: null -> "[^"]+"$`,
        'm',
      ),
    );
    expect(await row(subscription.id)).toMatchObject({ status: 'incomplete', ended_at: null });

    expect((await runScript('stripeSync', [], env)).code).toBe(0);
    const [mine] = await subscriptionsOf(server, user.id);
    expect(mine).toMatchObject({ id: subscription.id, status: 'INCOMPLETE_EXPIRED', endedAt: expect.any(String) });
    expect((await runScript('stripeSync', ['--dry-run'], env)).stdout).toMatch(/would change 0 objects/);
  });

  it('stripe:sync refuses a page size outside 1 to 100', async () => {
    const env = { DATABASE_URL: server.databaseUrl, STRIPE_EMULATOR_PORT: String(server.emulator.port), LOG_LEVEL: 'silent' };
    for (const size of ['0', '101', 'ten']) {
      const res = await runScript('stripeSync', ['--page-size', size], env);
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(/--page-size must be a whole number from 1 to 100/);
    }
  });
});
