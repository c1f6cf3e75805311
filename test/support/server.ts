import type { AddressInfo } from 'node:net';
import type { EntityManager } from '@mikro-orm/postgresql';
import { createApp } from '../../src/app';
import { catalogDefinition, seedCatalog } from '../../src/billing/catalog';
import { createUser } from '../../src/billing/users';
import { loadConfig, type Config } from '../../src/config';
import { createOrm, migrate, type Orm } from '../../src/db/orm';
import { createLogger } from '../../src/logger';
import { createTestDatabase } from './db';

export interface GqlResponse<T = any> {
  status: number;
  data?: T;
  errors?: Array<{ message: string; path?: string[]; extensions?: Record<string, any> }>;
}

export interface TestServer {
  url: string;
  databaseUrl: string;
  orm: Orm;
  config: Config;
  em(): EntityManager;
  gql<T = any>(query: string, variables?: Record<string, unknown>, token?: string, headers?: Record<string, string>): Promise<GqlResponse<T>>;
  createUser(opts?: { email?: string; admin?: boolean; timezone?: string }): Promise<{ id: string; token: string; email: string }>;
  close(): Promise<void>;
}

let userSeq = 0;

/** The real app on a real HTTP port over a fresh database of its own, migrated and (by default) seeded. */
export async function startTestServer(options: { seed?: boolean; onQuery?: (sql: string) => void; env?: Record<string, string> } = {}): Promise<TestServer> {
  const databaseUrl = await createTestDatabase('srv');
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent', DATABASE_URL: databaseUrl, PORT: '0', ...options.env });
  const logger = createLogger(config.logLevel);
  const orm = await createOrm(databaseUrl, { logger, onQuery: options.onQuery });
  await migrate(orm, logger);
  if (options.seed !== false) await seedCatalog(orm.em.fork() as EntityManager, catalogDefinition());
  const app = await createApp({ orm, config, logger });
  await new Promise<void>((resolve) => app.httpServer.listen(0, '127.0.0.1', () => resolve()));
  const url = `http://127.0.0.1:${(app.httpServer.address() as AddressInfo).port}`;

  return {
    url,
    databaseUrl,
    orm,
    config,
    em: () => orm.em.fork() as EntityManager,
    async gql(query, variables, token, headers = {}) {
      const res = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await res.json()) as GqlResponse;
      return { ...body, status: res.status };
    },
    async createUser(opts = {}) {
      const email = opts.email ?? `user${++userSeq}-${Date.now()}@example.com`;
      const { user, token } = await createUser(orm.em.fork() as EntityManager, { email, admin: opts.admin, timezone: opts.timezone });
      return { id: user.id, token, email };
    },
    async close() {
      await app.stop();
      await orm.close();
    },
  };
}
