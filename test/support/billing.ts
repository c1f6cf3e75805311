import { sql } from './db';
import type { TestServer } from './server';

export const SUBSCRIPTION_FIELDS = `id stripeSubscriptionId status plan { code } pricing { id interval autoRenew } currentPeriodStart currentPeriodEnd cancelAtPeriodEnd canceledAt endedAt`;

export const SUBSCRIBE = `mutation($input: SubscribeInput!) { subscribe(input: $input) { subscription { ${SUBSCRIPTION_FIELDS} } checkoutUrl clientSecret } }`;
export const CANCEL = `mutation($id: ID!) { cancelSubscription(id: $id) { ${SUBSCRIPTION_FIELDS} } }`;
export const RESUME = `mutation($id: ID!) { resumeSubscription(id: $id) { ${SUBSCRIPTION_FIELDS} } }`;
export const MY_SUBSCRIPTIONS = `query { mySubscriptions { ${SUBSCRIPTION_FIELDS} } }`;
/** Admins: a user's subscriptions, unpaid attempts included. */
export const USER_SUBSCRIPTIONS = `query($userId: ID!) { subscriptions(userId: $userId) { ${SUBSCRIPTION_FIELDS} } }`;
export const PENDING_CHECKOUT = `query { me { pendingCheckout { subscriptionId url expiresAt } } }`;

/** A user's subscriptions as an admin sees them (attempts included). */
export async function subscriptionsOf(server: TestServer, userId: string): Promise<any[]> {
  const admin = await server.createUser({ admin: true });
  const res = await server.gql(USER_SUBSCRIPTIONS, { userId }, admin.token);
  if (res.errors) throw new Error(`subscriptions failed: ${JSON.stringify(res.errors)}`);
  return res.data.subscriptions;
}
export const MY_LIMITS = `query { myLimits { plan { code } source day resetsAt metrics { metric limit used remaining } } }`;

/** The pricing option id of a plan, by plan code. */
export async function pricingId(server: TestServer, code: string): Promise<string> {
  const [row] = await sql(server.databaseUrl, `select pp.id from plan_pricing pp join plan p on p.id = pp.plan_id where p.code = $1`, [
    code,
  ]);
  return row.id;
}

/**
 * A user whose Stripe customer lives on a test clock (frozen at the current time), so tests can move
 * that customer's time forward. The customer is made here, as an operator would for a test account.
 */
export async function userOnTestClock(server: TestServer, opts: { timezone?: string } = {}) {
  const user = await server.createUser(opts);
  const clock = await server.stripe.testHelpers.testClocks.create({ frozen_time: Math.floor(Date.now() / 1000) });
  const customer = await server.stripe.customers.create({
    email: user.email,
    test_clock: clock.id,
    metadata: { tollgate_user_id: user.id },
  });
  await sql(server.databaseUrl, 'update app_user set stripe_customer_id = $1 where id = $2', [customer.id, user.id]);
  return { ...user, clock, customerId: customer.id };
}

/** Moves a test clock forward and waits until the emulator has delivered every resulting webhook. */
export async function advanceClock(server: TestServer, clockId: string, toUnix: number): Promise<void> {
  await server.stripe.testHelpers.testClocks.advance(clockId, { frozen_time: toUnix });
  for (let i = 0; i < 100; i++) {
    const clock = await server.stripe.testHelpers.testClocks.retrieve(clockId);
    if (clock.status === 'ready') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await server.emulator.idle(20_000);
}

export const unix = (d: string | Date) => Math.floor(new Date(d).getTime() / 1000);
