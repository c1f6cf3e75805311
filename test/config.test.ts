import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../src/config';

const empty = mkdtempSync(join(tmpdir(), 'tollgate-config-'));

describe('configuration', () => {
  it('has working defaults with no environment at all', () => {
    const c = loadConfig({}, empty);
    expect(c.port).toBe(4000);
    expect(c.databaseUrl).toBeUndefined();
    expect(c.embeddedPg).toEqual({ dir: join(empty, '.data/postgres'), port: 54329 });
    expect(c.stripe.emulatorPort).toBe(12111);
    expect(c.logLevel).toBe('info');
  });

  it.each([
    ['PORT', 'abc', /PORT: expected a port number/],
    ['PORT', '70000', /PORT: expected a port number from 0 to 65535/],
    ['EMBEDDED_PG_PORT', '-1', /EMBEDDED_PG_PORT: expected a port number from 1 to 65535 \(got "-1"\)/],
    ['EMBEDDED_PG_PORT', '0', /EMBEDDED_PG_PORT: expected a port number from 1 to 65535/],
    ['DATABASE_URL', 'mysql://x@y/z', /DATABASE_URL: expected a PostgreSQL URL/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent \(got "loud"\)/],
    ['NODE_ENV', 'staging', /NODE_ENV: expected one of development, test, production/],
    ['GRAPHQL_MAX_DEPTH', '0', /GRAPHQL_MAX_DEPTH: expected a positive number/],
    ['STRIPE_SECRET_KEY', 'pk_test_123', /STRIPE_SECRET_KEY: expected a Stripe secret key/],
  ])('rejects %s=%s naming the variable and what is expected', (name, value, message) => {
    expect(() => loadConfig({ [name]: value }, empty)).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value }, empty)).toThrow(message);
  });

  it('never echoes the value of a secret in its message', () => {
    try {
      loadConfig({ STRIPE_SECRET_KEY: 'pk_live_supersecret' }, empty);
      throw new Error('expected a ConfigError');
    } catch (err) {
      expect((err as Error).message).not.toContain('supersecret');
    }
  });

  it('reports every bad variable at once', () => {
    expect(() => loadConfig({ PORT: 'x', LOG_LEVEL: 'loud' }, empty)).toThrow(/PORT: .*\n.*LOG_LEVEL: /);
  });

  it('takes an empty value for unset, so the default applies', () => {
    const c = loadConfig(
      { PORT: '', EMBEDDED_PG_PORT: ' ', EMBEDDED_PG_DIR: '', HOST: '', LOG_LEVEL: '', STRIPE_SECRET_KEY: '', STRIPE_TIMEOUT_MS: '' },
      empty,
    );
    expect(c).toMatchObject({
      port: 4000,
      host: '0.0.0.0',
      logLevel: 'info',
      embeddedPg: { dir: join(empty, '.data/postgres'), port: 54329 },
    });
    expect(c.stripe).toMatchObject({ secretKey: undefined, timeoutMs: 20000 });
  });

  it('reads a .env file, and real environment variables win over it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-dotenv-'));
    writeFileSync(join(dir, '.env'), 'PORT=4321\nLOG_LEVEL=debug\n');
    expect(loadConfig({}, dir)).toMatchObject({ port: 4321, logLevel: 'debug' });
    expect(loadConfig({ PORT: '5555' }, dir)).toMatchObject({ port: 5555, logLevel: 'debug' });
    // An empty variable is unset: the file's value applies.
    expect(loadConfig({ PORT: '' }, dir)).toMatchObject({ port: 4321 });
  });

  it('checks the values of a .env file like any other', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-dotenv-'));
    writeFileSync(join(dir, '.env'), '# comment\nEMBEDDED_PG_PORT=fifty\nLOG_LEVEL=\n');
    expect(() => loadConfig({}, dir)).toThrow(/EMBEDDED_PG_PORT: expected a port number \(got "fifty"\)/);
  });
});
