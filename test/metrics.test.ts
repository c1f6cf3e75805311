import { pay } from './support/payments';
import { startTestServer, type TestServer } from './support/server';

jest.setTimeout(120_000);

const TOKEN = 'metrics-token-for-tests-0123456789';
const RECORD = `mutation($input: RecordUsageInput!) { recordUsage(input: $input) { used } }`;

/** The value of one series in Prometheus text, or undefined when it is absent. */
function valueOf(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('GET /metrics', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ stripe: true, env: { METRICS_TOKEN: TOKEN } });
  });
  afterAll(() => server.close());

  const scrape = async () => {
    const res = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    return res.text();
  };

  it('answers 401 without the bearer token, or with another one, and never echoes it', async () => {
    expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
    const wrong = await fetch(`${server.url}/metrics`, { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).not.toContain(TOKEN);
  });

  it('counts requests, usage, Stripe calls and webhook events, with latency, inbox backlog and pool use', async () => {
    const user = await server.createUser();
    await server.gql(RECORD, { input: { metric: 'minutes', amount: 170 } }, user.token);
    await server.gql(RECORD, { input: { metric: 'minutes', amount: 20 } }, user.token);
    await pay(server, user.token, { amount: '10.00', currency: 'USD', paymentMethod: 'pm_card_visa' });

    let text = await scrape();
    const deadline = Date.now() + 10_000;
    while (
      valueOf(text, 'tollgate_webhook_events_total{type="payment_intent.succeeded",outcome="processed"}') === undefined &&
      Date.now() < deadline
    ) {
      await new Promise((r) => setTimeout(r, 200));
      text = await scrape();
    }
    expect(valueOf(text, 'tollgate_graphql_requests_total{operation="recordUsage",outcome="ok"}')).toBe(1);
    expect(valueOf(text, 'tollgate_graphql_requests_total{operation="recordUsage",outcome="LIMIT_EXCEEDED"}')).toBe(1);
    expect(valueOf(text, 'tollgate_graphql_request_duration_seconds_count{operation="recordUsage"}')).toBe(2);
    expect(valueOf(text, 'tollgate_usage_consumed_total{metric="minutes"}')).toBe(170);
    expect(valueOf(text, 'tollgate_usage_refused_total{metric="minutes"}')).toBe(1);
    expect(valueOf(text, 'tollgate_stripe_requests_total{method="POST",route="/v1/payment_intents",outcome="2xx"}')).toBeGreaterThanOrEqual(
      1,
    );
    expect(text).toMatch(/tollgate_stripe_request_duration_seconds_bucket\{le="[^"]+",method="GET",route="\/v1\/payment_intents\/:id"\}/);
    expect(valueOf(text, 'tollgate_webhook_events_total{type="payment_intent.succeeded",outcome="processed"}')).toBeGreaterThanOrEqual(1);
    expect(valueOf(text, 'tollgate_webhook_inbox_backlog')).toBe(0);
    expect(valueOf(text, 'tollgate_db_pool_connections{state="used"}')).toBeGreaterThanOrEqual(0);
    expect(valueOf(text, 'tollgate_db_pool_connections{state="free"}')).toBeGreaterThanOrEqual(0);
    expect(text).not.toContain(user.token);
  });

  it('is not served at all without METRICS_TOKEN', async () => {
    const bare = await startTestServer({ seed: false });
    try {
      expect((await fetch(`${bare.url}/metrics`)).status).toBe(404);
    } finally {
      await bare.close();
    }
  });
});
