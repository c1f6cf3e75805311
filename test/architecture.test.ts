import { join } from 'node:path';
import { ALLOWED, importGraph, layerOf, violations } from './support/layers';

const ROOT = join(__dirname, '..', '..');

describe('one-way layering of src/', () => {
  it('has no import from a lower folder to a higher one', () => {
    const graph = importGraph(ROOT);
    expect(graph.size).toBeGreaterThan(100);
    expect(violations(graph)).toEqual([]);
  });

  it('has a rule for every top-level folder of src/ (a new folder gets its place in the layering first)', () => {
    const unknown = [...importGraph(ROOT).keys()].filter((file) => !(layerOf(file) in ALLOWED));
    expect(unknown).toEqual([]);
  });

  it.each([
    ['src/stripe/errors.ts', 'src/billing/limits.ts', 'stripe may not import billing'],
    ['src/stripe/api.ts', 'src/sync/connect.ts', 'stripe may not import sync'],
    ['src/billing/payments.ts', 'src/sync/handlers.ts', 'billing may not import sync'],
    ['src/billing/limits.ts', 'src/graphql/context.ts', 'billing may not import graphql'],
    ['src/sync/inbox.ts', 'src/http/webhookRoute.ts', 'sync may not import http'],
    ['src/auth/users.ts', 'src/billing/customers.ts', 'auth may not import billing'],
    ['src/errors.ts', 'src/billing/money.ts', 'bottom may not import billing'],
    ['src/emulator/index.ts', 'src/config.ts', 'emulator may not import bottom'],
    ['src/graphql/schema.ts', 'src/cli/seed.ts', 'graphql may not import cli'],
  ])('refuses %s importing %s', (from, to, rule) => {
    expect(violations(new Map([[from, [to]]]))).toEqual([{ from, to, rule }]);
  });
});
