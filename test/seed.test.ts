import Stripe from 'stripe';
import { createTestDatabase, sql } from './support/db';
import { startEmulator } from '../src/emulator';
import { runScript } from './support/cli';

async function catalog(url: string) {
  return sql(
    url,
    `select p.code, p.is_default, p.updated_at, pp.amount_minor, pp.interval, pp.auto_renew,
            (select json_object_agg(metric || '/' || period, allowance) from plan_limit l where l.plan_id = p.id) as limits
       from plan p join plan_pricing pp on pp.plan_id = p.id order by p.sort_order`,
  );
}

describe('npm run seed', () => {
  let url: string;
  beforeAll(async () => {
    url = await createTestDatabase('seed');
  });

  it('creates the three plans, then changes nothing when run again', async () => {
    const first = await runScript('seed', [], { DATABASE_URL: url });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/3 created \(free, day_pass, premium\)/);
    const before = await catalog(url);
    expect(before.map((r) => [r.code, r.amount_minor, r.interval, r.auto_renew, r.is_default])).toEqual([
      ['free', 0, 'month', true, true],
      ['day_pass', 500, 'day', false, false],
      ['premium', 20000, 'month', true, false],
    ]);
    expect(before[0].limits).toEqual({ 'minutes/day': 180, 'minutes/month': 3000, 'megabytes/day': 300 });

    const second = await runScript('seed', [], { DATABASE_URL: url });
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/0 created .*0 updated .*3 unchanged/);
    expect(await catalog(url)).toEqual(before);
  });

  it('applies the amount flags, by plan code, without duplicating anything', async () => {
    const res = await runScript('seed', ['--day-pass-amount', '7.50', '--premium-amount', '150', '--free-amount', '0'], {
      DATABASE_URL: url,
    });
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/2 updated \((day_pass, premium|premium, day_pass)\)/);
    const rows = await catalog(url);
    expect(rows.map((r) => [r.code, r.amount_minor])).toEqual([
      ['free', 0],
      ['day_pass', 750],
      ['premium', 15000],
    ]);
    const again = await runScript('seed', ['--day-pass-amount', '7.5', '--premium-amount', '150.00'], { DATABASE_URL: url });
    expect(again.stdout).toMatch(/3 unchanged/);
  });

  it('keeps the current price of every option whose flag is left out (a price change is never implicit)', async () => {
    await runScript('seed', ['--day-pass-amount', '7.50', '--premium-amount', '150'], { DATABASE_URL: url });
    const res = await runScript('seed', ['--free-amount', '3'], { DATABASE_URL: url });
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/1 updated \(free\)/);
    expect((await catalog(url)).map((r) => [r.code, r.amount_minor])).toEqual([
      ['free', 300],
      ['day_pass', 750],
      ['premium', 15000],
    ]);
    expect((await runScript('seed', [], { DATABASE_URL: url })).stdout).toMatch(/3 unchanged/);
  });

  it.each([
    [['--day-pass-amount', '-5'], /day pass amount "-5"/],
    [['--premium-amount', 'abc'], /premium amount "abc"/],
    [['--premium-amount', '1.234'], /at most 2 decimal places/],
    [['--day-pass-amount', '0'], /greater than zero/],
    [['--free-amount', '-0.01'], /free amount "-0.01"/],
    [['--premium-amount', '1e3'], /premium amount "1e3": expected a positive decimal/],
    [['--premium-amount', '1000000'], /above Stripe's maximum/],
    [['--premum-amount', '5'], /unknown option '--premum-amount'/],
    [['--premium-amount'], /option '--premium-amount <usd>' argument missing/],
  ])('rejects %j with a clear error and writes nothing', async (args, message) => {
    const before = await catalog(url);
    const res = await runScript('seed', args as string[], { DATABASE_URL: url });
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(message as RegExp);
    expect(await catalog(url)).toEqual(before);
  });
});

describe('npm run user:create', () => {
  let url: string;
  beforeAll(async () => {
    url = await createTestDatabase('users');
  });

  it('prints the token alone on stdout, and the token works', async () => {
    const res = await runScript('userCreate', ['--email', 'Ann@Example.com', '--admin', '--timezone', 'Europe/Berlin'], {
      DATABASE_URL: url,
    });
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^tg_[A-Za-z0-9_-]{43}\n$/);
    const rows = await sql(url, `select email, role, timezone, token_hash from app_user join user_token on user_id = app_user.id`);
    expect(rows).toEqual([expect.objectContaining({ email: 'ann@example.com', role: 'admin', timezone: 'Europe/Berlin' })]);
    expect(rows[0].token_hash).not.toContain(res.stdout.trim());
  });

  it('fails with a non-zero exit code on a duplicate email or an unknown time zone', async () => {
    const dup = await runScript('userCreate', ['--email', 'ann@example.com'], { DATABASE_URL: url });
    expect(dup.code).not.toBe(0);
    expect(dup.stderr).toMatch(/already exists/);
    expect(dup.stdout).toBe('');
    const tz = await runScript('userCreate', ['--email', 'bob@example.com', '--timezone', 'Mars/Olympus'], { DATABASE_URL: url });
    expect(tz.code).not.toBe(0);
    expect(tz.stderr).toMatch(/Unknown time zone "Mars\/Olympus"/);
    expect(await sql(url, `select email from app_user where email = 'bob@example.com'`)).toEqual([]);
    const offset = await runScript('userCreate', ['--email', 'bob@example.com', '--timezone', '+02:00'], { DATABASE_URL: url });
    expect({ code: offset.code === 0, stderr: offset.stderr }).toEqual({
      code: false,
      stderr: expect.stringMatching(/Unknown time zone "\+02:00"/),
    });
  });

  it('stores the time zone under its canonical name', async () => {
    const res = await runScript('userCreate', ['--email', 'carla@example.com', '--timezone', 'europe/berlin'], { DATABASE_URL: url });
    expect(res.code).toBe(0);
    expect(await sql(url, `select timezone from app_user where email = 'carla@example.com'`)).toEqual([{ timezone: 'Europe/Berlin' }]);
  });

  it('fails with a non-zero exit code and writes nothing on a malformed or missing email', async () => {
    const malformed = await runScript('userCreate', ['--email', 'not-an-email'], { DATABASE_URL: url });
    expect(malformed).toMatchObject({ stdout: '', stderr: expect.stringMatching(/Invalid email "not-an-email"/) });
    expect(malformed.code).not.toBe(0);
    const missing = await runScript('userCreate', [], { DATABASE_URL: url });
    expect(missing).toMatchObject({ stdout: '', stderr: expect.stringMatching(/required option '--email <email>'/) });
    expect(missing.code).not.toBe(0);
    expect(await sql(url, `select email from app_user where email not in ('ann@example.com', 'carla@example.com')`)).toEqual([]);
  });
});

describe('npm run seed with Stripe', () => {
  it('makes the running local Stripe emulator match the catalog, and creates nothing the second time', async () => {
    const emulator = await startEmulator({ port: 0 });
    try {
      const url = await createTestDatabase('seedstripe');
      const env = { DATABASE_URL: url, STRIPE_EMULATOR_PORT: String(emulator.port) };
      const stripe = new Stripe('sk_test_seed', { host: '127.0.0.1', port: emulator.port, protocol: 'http', maxNetworkRetries: 0 });
      const stored = () =>
        sql(
          url,
          `select p.code, p.stripe_product_id, pp.lookup_key, pp.stripe_price_id from plan p join plan_pricing pp on pp.plan_id = p.id order by p.sort_order`,
        );
      const byLookupKey = async (key: string) => (await stripe.prices.list({ lookup_keys: [key] })).data;

      const first = await runScript('seed', [], env);
      expect(first.code).toBe(0);
      expect(first.stdout).toMatch(/stripe: 3 products created, 2 prices created, 0 replaced, 0 unchanged/);
      const rows = await stored();
      const products = (await stripe.products.list({ limit: 100 })).data;
      expect(rows.map((r) => r.stripe_product_id)).toEqual(
        rows.map((r) => products.find((p) => p.metadata.tollgate_plan_code === r.code)!.id),
      );
      const premium = rows.find((r) => r.code === 'premium')!;
      expect(rows.find((r) => r.code === 'free')!.stripe_price_id).toBeNull();
      expect((await byLookupKey('premium_monthly')).map((p) => [p.id, p.unit_amount])).toEqual([[premium.stripe_price_id, 20000]]);

      const second = await runScript('seed', [], env);
      expect(second.stdout).toMatch(/stripe: 0 products created, 0 prices created, 0 replaced, 2 unchanged/);
      expect(await stored()).toEqual(rows);
      expect((await stripe.prices.list({ limit: 100 })).data).toHaveLength(2);

      const changed = await runScript('seed', ['--premium-amount', '210'], env);
      expect(changed.stdout).toMatch(/stripe: 0 products created, 0 prices created, 1 replaced, 1 unchanged/);
      const [row] = (await stored()).filter((r) => r.code === 'premium');
      const [current] = await byLookupKey('premium_monthly');
      expect(current).toMatchObject({ id: row.stripe_price_id, unit_amount: 21000, active: true, product: premium.stripe_product_id });
      expect(current.id).not.toBe(premium.stripe_price_id);
      expect(await stripe.prices.retrieve(premium.stripe_price_id)).toMatchObject({ active: false, lookup_key: null });
    } finally {
      await emulator.stop();
    }
  });

  it('says so when the local emulator is not running, and still seeds the database', async () => {
    const url = await createTestDatabase('seednostripe');
    const res = await runScript('seed', [], { DATABASE_URL: url, STRIPE_EMULATOR_PORT: '1' });
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/local Stripe emulator is not running/);
    expect(await sql(url, 'select count(*)::int as n from plan')).toEqual([{ n: 3 }]);
  });
});
