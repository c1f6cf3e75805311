import type { EntityManager } from '@mikro-orm/postgresql';

/** The parts of a pooled pg connection and of the ORM's connection that `query` uses. */
interface PgClient {
  query(config: { text: string; values: unknown[]; name?: string }): Promise<{ rows: unknown[] }>;
}
interface PooledClient {
  acquireConnection(): Promise<PgClient>;
  releaseConnection(connection: PgClient): Promise<void>;
}
interface LoggingConnection {
  /** Times the call and logs the statement as the ORM logs its own (debug log, statement counting). */
  executeQuery<T>(query: string, cb: () => Promise<T>, context?: { query: string; params: unknown[] }): Promise<T>;
}

/**
 * Runs hand-written SQL written with PostgreSQL's $1..$n placeholders. Inside a transaction it runs
 * through the EntityManager, so it joins that transaction (the ORM's driver takes `?` placeholders; $n
 * keeps statements readable when a parameter is used more than once). Outside one, which is the hot path
 * of every request (authentication, limits, usage), it goes straight to a pooled connection of the same
 * pool with server-side parameters, skipping the query builder, and is logged like any ORM statement.
 */
// A row's shape is the statement's; callers that read columns name T.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function query<T = Record<string, any>>(em: EntityManager, text: string, params: unknown[] = []): Promise<T[]> {
  if (!em.isInTransaction()) return direct<T>(em, text, params);
  const bindings: unknown[] = [];
  const sql = text.replace(/\$(\d+)/g, (_, n: string) => {
    const index = Number(n) - 1;
    if (index < 0 || index >= params.length) throw new Error(`SQL parameter $${n} has no value`);
    bindings.push(params[index]);
    return '?';
  });
  return em.execute(sql, bindings) as Promise<T[]>;
}

async function direct<T>(em: EntityManager, text: string, params: unknown[]): Promise<T[]> {
  const connection = em.getConnection();
  const pool = connection.getKnex().client as PooledClient;
  const run = async () => {
    const client = await pool.acquireConnection();
    try {
      const name = unprepared.has(connection) ? undefined : statementName(text);
      try {
        return (await client.query({ text, values: params, name })).rows as T[];
      } catch (err) {
        if (name === undefined || !isStalePlan(err)) throw err;
        // What the statement reads changed shape since this connection prepared it (another process ran a
        // migration): it is prepared afresh, under a new name, on every connection.
        return (await client.query({ text, values: params, name: renamed(text, name) })).rows as T[];
      }
    } finally {
      await pool.releaseConnection(client);
    }
  };
  // The ORM's statement log (debug logging, statement counting) when it is on; straight to the pool when not.
  if (!em.config.getLogger().isEnabled('query')) return run();
  return (connection as unknown as LoggingConnection).executeQuery(text, run, { query: text, params });
}

/**
 * A name for each statement text, so every pooled connection prepares it once and then only binds its
 * parameters: PostgreSQL parses and plans the statement once per connection instead of once per call, and the
 * request sends a few bytes instead of the whole text. Hand-written statements are constant texts; should
 * more than MAX_PREPARED distinct ones come, the rest run unnamed, as before.
 */
const MAX_PREPARED = 200;
const statementNames = new Map<string, string>();
const unprepared = new WeakSet<object>();

/**
 * Runs `connection`'s hand-written statements unnamed, each parsed on every call (DATABASE_PREPARED_STATEMENTS=off):
 * for a pooler in transaction mode that hands every transaction another server connection, where a
 * statement prepared on one is unknown on the next (PgBouncer before 1.21, or without max_prepared_statements).
 */
export function unpreparedStatements(connection: object): void {
  unprepared.add(connection);
}

let named = 0;

function statementName(text: string): string | undefined {
  let name = statementNames.get(text);
  if (name === undefined && statementNames.size < MAX_PREPARED) {
    name = `tollgate_${++named}`;
    statementNames.set(text, name);
  }
  return name;
}

/** The statement's next name, unless a call that met the same change has already given it one. */
function renamed(text: string, stale: string): string {
  if (statementNames.get(text) === stale) statementNames.set(text, `tollgate_${++named}`);
  return statementNames.get(text)!;
}

/** PostgreSQL's answer to a prepared statement whose result columns changed since it was prepared. */
function isStalePlan(err: unknown): boolean {
  const { code, message } = err as { code?: string; message?: string };
  return code === '0A000' && /cached plan must not change result type/.test(message ?? '');
}

/**
 * A timestamptz column as `query` returns it: the ORM has the pg driver hand dates over as text (it
 * converts them itself), so hand-written statements convert theirs here.
 */
export function asDate(value: Date | string): Date;
export function asDate(value: Date | string | null): Date | null;
export function asDate(value: Date | string | null): Date | null {
  if (value === null) return null;
  return value instanceof Date ? value : new Date(value);
}
