import { MAX_LENGTH } from '../src/input';
import { CANCEL, SUBSCRIBE, pricingId } from './support/billing';
import { sql } from './support/db';
import { CANCEL_PAYMENT, CAPTURE_PAYMENT, CREATE_PAYMENT, MY_PAYMENTS, PAYMENT, REFUND_PAYMENT } from './support/payments';
import { startTestServer, type GqlResponse, type TestServer } from './support/server';

jest.setTimeout(120_000);

const RECORD = `mutation($input: RecordUsageInput!) { recordUsage(input: $input) { metric used remaining } }`;
const PLAN = `query($code: String!) { plan(code: $code) { code } }`;
const USER = `query($id: ID, $externalId: String) { user(id: $id, externalId: $externalId) { id } }`;
const KB4 = 'k'.repeat(4096);

/** Every text input has a maximum length (README, "Input limits"): beyond it BAD_USER_INPUT, before anything is written. */
describe('input limits', () => {
  let server: TestServer;
  let user: { id: string; token: string };
  let admin: { id: string; token: string };
  beforeAll(async () => {
    server = await startTestServer({ stripe: true });
    user = await server.createUser();
    admin = await server.createUser({ admin: true });
  });
  afterAll(() => server.close());

  /** BAD_USER_INPUT naming the field, with a message that quotes no more than a shortened piece of the input. */
  function expectRefused(res: GqlResponse, field: string): void {
    expect(res.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    expect(res.errors![0].message.length).toBeLessThan(200);
  }
  const rowsOf = async (table: string, userId: string) =>
    Number((await sql(server.databaseUrl, `select count(*)::int as n from ${table} where user_id = $1`, [userId]))[0].n);

  it('recordUsage: a 4 KB idempotency key or metric is BAD_USER_INPUT and counts nothing; 200 characters still work', async () => {
    expectRefused(await server.gql(RECORD, { input: { metric: 'minutes', amount: 1, idempotencyKey: KB4 } }, user.token), 'idempotencyKey');
    expectRefused(await server.gql(RECORD, { input: { metric: KB4, amount: 1 } }, user.token), 'metric');
    expect(await rowsOf('usage_record', user.id)).toBe(0);
    expect(await rowsOf('usage_counter', user.id)).toBe(0);

    const longest = 'k'.repeat(MAX_LENGTH.idempotencyKey);
    const ok = await server.gql(RECORD, { input: { metric: 'minutes', amount: 1, idempotencyKey: longest } }, user.token);
    expect(ok.data?.recordUsage).toMatchObject({ metric: 'minutes', used: 1 });
  });

  it('createPayment: an oversized key, URL or amount is BAD_USER_INPUT, quoted shortened, with no payment made', async () => {
    const base = { amount: '10.00', currency: 'USD', paymentMethod: 'pm_card_visa' };
    expectRefused(await server.gql(CREATE_PAYMENT, { input: { ...base, idempotencyKey: KB4 } }, user.token), 'idempotencyKey');
    expectRefused(
      await server.gql(
        CREATE_PAYMENT,
        { input: { ...base, paymentMethod: undefined, successUrl: `https://a.example/${KB4}` } },
        user.token,
      ),
      'successUrl',
    );
    expectRefused(await server.gql(CREATE_PAYMENT, { input: { ...base, amount: `1${'0'.repeat(4000)}` } }, user.token), 'amount');
    expectRefused(await server.gql(CREATE_PAYMENT, { input: { ...base, amount: '1x'.repeat(15) } }, user.token), 'amount');
    expectRefused(await server.gql(CREATE_PAYMENT, { input: { ...base, currency: KB4 } }, user.token), 'currency');
    expectRefused(await server.gql(CREATE_PAYMENT, { input: { ...base, metadata: { [KB4]: 'x' } } }, user.token), 'metadata');
    expect(await rowsOf('payment', user.id)).toBe(0);
  });

  it('subscribe: an oversized pricing id, key, payment method or URL is BAD_USER_INPUT with no subscription made', async () => {
    const pricing = await pricingId(server, 'premium');
    expectRefused(await server.gql(SUBSCRIBE, { input: { pricingId: KB4 } }, user.token), 'pricingId');
    expectRefused(await server.gql(SUBSCRIBE, { input: { pricingId: pricing, idempotencyKey: KB4 } }, user.token), 'idempotencyKey');
    expectRefused(await server.gql(SUBSCRIBE, { input: { pricingId: pricing, paymentMethod: `pm_${KB4}` } }, user.token), 'paymentMethod');
    expectRefused(
      await server.gql(SUBSCRIBE, { input: { pricingId: pricing, cancelUrl: `https://a.example/${KB4}` } }, user.token),
      'cancelUrl',
    );
    expect(await rowsOf('subscription', user.id)).toBe(0);
  });

  it('ids, plan codes, cursors and external ids longer than any can be are BAD_USER_INPUT, not a lookup', async () => {
    expectRefused(await server.gql(PAYMENT, { id: KB4 }, user.token), 'id');
    expectRefused(await server.gql(CANCEL_PAYMENT, { id: KB4 }, user.token), 'id');
    expectRefused(await server.gql(CAPTURE_PAYMENT, { id: KB4 }, admin.token), 'id');
    expectRefused(await server.gql(REFUND_PAYMENT, { id: KB4, amount: '1.00' }, admin.token), 'id');
    expectRefused(await server.gql(CANCEL, { id: KB4 }, user.token), 'id');
    expectRefused(await server.gql(PLAN, { code: KB4 }, user.token), 'code');
    expectRefused(await server.gql(MY_PAYMENTS, { first: 5, after: KB4 }, user.token), 'after');
    expectRefused(await server.gql(USER, { externalId: KB4 }, admin.token), 'externalId');
    expectRefused(await server.gql(USER, { id: KB4 }, admin.token), 'id');

    // Within the limits, what does not exist is still NOT_FOUND (or null), as before.
    expect((await server.gql(PAYMENT, { id: 'x'.repeat(MAX_LENGTH.id) }, user.token)).errors?.[0].extensions?.code).toBe('NOT_FOUND');
    expect((await server.gql(PLAN, { code: 'nope' }, user.token)).data).toEqual({ plan: null });
  });
});
