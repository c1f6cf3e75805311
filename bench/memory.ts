/**
 * Memory under hostile queries: the real app in a process of its own (bench/limitsServer.ts), fired at
 * concurrently with every kind of query the operation and input limits exist for (deep nesting, many
 * aliases, directives, huge documents and bodies, introspection abuse, big lists and variables), mixed
 * with normal traffic, while the server's resident memory (VmRSS in /proc/<pid>/status) is sampled.
 *
 *   npm run bench:memory -- [--duration 30] [--connections 64]
 *
 * Prints the server's peak RSS against the goal (300 MB), next to the same server idle and a bare
 * node:http + pg process idle, and what each query was answered; exits non-zero over the goal, when the
 * server stops answering, or when a query is answered with a status it should not get.
 */
import { spawn } from 'node:child_process';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Command } from 'commander';
import { getIntrospectionQuery } from 'graphql';
import { createUser } from '../src/auth/users';
import { log, openBenchDatabase, rssMb, startServer, type ServerProcess } from './servers';

const GOAL_MB = 300;
const POOL = 20;

interface Shot {
  name: string;
  /** The request body (JSON unless `contentType` says otherwise). */
  body: string;
  /** The statuses this query may be answered with. */
  expect: number[];
}

const gql = (query: string, variables?: unknown) => JSON.stringify({ query, variables });
const repeat = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i)).join(' ');

/** The hostile queries (test/queryLimits.test.ts, test/inputLimits.test.ts), each pushed to or past its limit. */
function hostileShots(): Shot[] {
  const deep = (n: number) => `{ ${'me { '.repeat(n)}email${' }'.repeat(n)} }`;
  const events = (n: number) => Array.from({ length: n }, (_, i) => ({ metric: 'minutes', amount: 1, idempotencyKey: `k${i}` }));
  return [
    { name: '1,000 aliases of myLimits', body: gql(`{ ${repeat(1000, (i) => `a${i}: myLimits { day }`)} }`), expect: [400] },
    { name: '16 aliases (one over)', body: gql(`{ ${repeat(16, (i) => `a${i}: myLimits { day }`)} }`), expect: [400] },
    {
      name: '11 root fields in a fragment',
      body: gql(`{ ...F } fragment F on Query { ${repeat(11, (i) => `p${i}: plans { code }`)} }`),
      expect: [400],
    },
    { name: 'nesting 600 deep', body: gql(deep(600)), expect: [400] },
    { name: '21 directives', body: gql(`{ me { ${repeat(21, () => 'email @include(if: true)')} } }`), expect: [400] },
    { name: '2,000 tokens and more', body: gql(`{ me { ${'email '.repeat(2000)} } }`), expect: [400] },
    { name: '800 aliased __schema', body: gql(`{ ${repeat(800, (i) => `s${i}: __schema { types { name } }`)} }`), expect: [400] },
    { name: 'full introspection', body: gql(getIntrospectionQuery({ descriptions: true, inputValueDeprecation: true })), expect: [200] },
    { name: 'cyclic fragments', body: gql(`{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }`), expect: [400] },
    { name: '1 MB string argument', body: gql(`{ plan(code: "${'x'.repeat(1_000_000)}") { code } }`), expect: [200] },
    { name: '2 MB body (over the limit)', body: gql(`{ plan(code: "${'x'.repeat(2_000_000)}") { code } }`), expect: [413] },
    { name: '5,000 usage events in variables', body: gql(BATCH, { events: events(5000) }), expect: [200] },
    { name: '250 usage events', body: gql(BATCH, { events: events(250) }), expect: [200] },
    {
      name: 'variables nested 5,000 deep',
      body: `{"query":${JSON.stringify(BATCH)},"variables":{"events":${'['.repeat(5000)}${']'.repeat(5000)}}}`,
      expect: [200, 400],
    },
    { name: '2,000 operations batched', body: `[${Array.from({ length: 2000 }, () => gql('{ me { email } }')).join(',')}]`, expect: [400] },
    {
      name: 'myPayments(first: 100) twice',
      body: gql(`{ a: ${PAYMENTS_PAGE} b: ${PAYMENTS_PAGE} }`),
      expect: [400],
    },
    { name: 'a body that is not JSON', body: `{"query": "{ me { email } }"${' '.repeat(500_000)}`, expect: [400] },
  ];
}

/** The README's largest page of payments; two of them are over GRAPHQL_MAX_COST. */
const PAYMENTS_PAGE = `myPayments(first: 100) {
  edges { cursor node { id status amount { amount amountMinor currency } failureCode failureMessage logs { event message createdAt } } }
  pageInfo { hasNextPage endCursor }
}`;
const BATCH = `mutation($events: [UsageEventInput!]!) { recordUsageBatch(events: $events) { ok } }`;

/** What a product sends all day: its limits, a use, the catalog. */
const NORMAL: Shot[] = [
  { name: 'myLimits', body: gql('{ myLimits { plan { code } day metrics { metric period limit used remaining } } }'), expect: [200] },
  { name: 'recordUsage', body: gql('mutation { recordUsage(input: { metric: "minutes", amount: 1 }) { used } }'), expect: [200] },
  { name: 'plans', body: gql('{ plans { code name limits { metric period limit } } }'), expect: [200] },
];

interface Tally {
  count: number;
  statuses: Map<number, number>;
  unexpected: number;
  /** The start of the first unexpected answer. */
  sample?: string;
}

async function fire(url: string, token: string, shots: Shot[], until: number, tallies: Map<string, Tally>): Promise<void> {
  for (let i = Math.floor(Math.random() * shots.length); Date.now() < until; i++) {
    const shot = shots[i % shots.length];
    let status = 0;
    let text = '';
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: shot.body,
      });
      text = await res.text();
      status = res.status;
    } catch (err) {
      text = String(err);
    }
    const t: Tally = tallies.get(shot.name) ?? { count: 0, statuses: new Map(), unexpected: 0 };
    t.count++;
    t.statuses.set(status, (t.statuses.get(status) ?? 0) + 1);
    if (!shot.expect.includes(status)) {
      t.unexpected++;
      t.sample ??= text.slice(0, 300);
    }
    tallies.set(shot.name, t);
  }
}

/** Samples a process's RSS until `done` settles, and 2 s more; the peak, in MB. */
async function peakRss(pid: number, done: Promise<unknown>): Promise<number> {
  let finished = false;
  void done.finally(() => (finished = true));
  let peak = 0;
  for (let after = 0; after < 2000; after += finished ? 50 : 0) {
    peak = Math.max(peak, await rssMb(pid));
    await new Promise((r) => setTimeout(r, 50));
  }
  return peak;
}

const settle = () => new Promise((r) => setTimeout(r, 2000));
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);

/** A node:http server that answers every request with nothing, in a process of its own: what Node alone costs. */
async function bareNodeRss(): Promise<number> {
  const child = spawn(process.execPath, ['-e', "require('node:http').createServer((q, s) => s.end()).listen(0, '127.0.0.1')"]);
  await settle();
  const rss = await rssMb(child.pid!);
  child.kill('SIGTERM');
  return rss;
}

async function main() {
  const opts = new Command('bench:memory')
    .option('--duration <s>', 'seconds of load', '30')
    .option('--connections <n>', 'concurrent clients (a quarter send normal traffic)', '64')
    .option('--only <regexp>', 'send only the hostile queries whose name matches (to find which one costs memory)')
    .option('--node-flags <flags>', "flags for the server's node, e.g. --trace-gc", '')
    .parse()
    .opts<{ duration: string; connections: string; only?: string; nodeFlags: string }>();
  const duration = Number(opts.duration);
  const connections = Number(opts.connections);

  const bare = await bareNodeRss();
  const db = await openBenchDatabase(POOL);
  let app: ServerProcess | undefined;
  try {
    const user = await createUser(db.orm.em.fork() as EntityManager, { email: 'bench-memory@example.com' });
    // Uses are accepted for the whole run (a refusal costs a second statement): the batches are big lists, not refusals.
    await db.orm.em.getConnection().execute(`update plan_limit set allowance = 100000000 where metric = 'minutes'`);
    log('starting the server in a process of its own...');
    const peakV8: Record<string, number> = {};
    app = await startServer('app', db.url, POOL, '/graphql', {
      env: { BENCH_REPORT_MEMORY: '1' },
      nodeFlags: opts.nodeFlags.split(' ').filter(Boolean),
      onLine: (line) => {
        if (!line.startsWith('memory ')) return;
        for (const [k, v] of Object.entries(JSON.parse(line.slice(7)) as Record<string, number>)) peakV8[k] = Math.max(peakV8[k] ?? 0, v);
      },
    });
    await settle();
    const idle = await rssMb(app.pid);

    log(`firing ${connections} clients at it for ${duration}s...`);
    const tallies = new Map<string, Tally>();
    const until = Date.now() + duration * 1000;
    const normalClients = Math.max(1, Math.floor(connections / 4));
    const hostile = hostileShots().filter((shot) => !opts.only || new RegExp(opts.only).test(shot.name));
    const url = app.url;
    const clients = Promise.all(
      Array.from({ length: connections }, (_, i) => fire(url, user.token, i < normalClients ? NORMAL : hostile, until, tallies)),
    );
    const peak = await peakRss(app.pid, clients);
    const after = await rssMb(app.pid);
    const alive = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: gql('{ plans { code } }') })
      .then((r) => r.status === 200)
      .catch(() => false);

    const rows = [...tallies].map(
      ([name, t]) =>
        `| ${name.padEnd(32)} | ${String(t.count).padStart(6)} | ${[...t.statuses]
          .map(([s, n]) => `${s}×${n}`)
          .join(' ')
          .padEnd(18)} | ${String(t.unexpected).padStart(10)} |`,
    );
    const unexpected = [...tallies.values()].reduce((n, t) => n + t.unexpected, 0);
    for (const [name, t] of tallies) if (t.sample) log(`unexpected answer to ${name}: ${t.sample}`);
    process.stdout.write(
      [
        '',
        `${duration}s, ${connections} clients (${normalClients} with normal traffic), pool ${POOL}`,
        '| query                            | sent   | statuses           | unexpected |',
        '|----------------------------------|--------|--------------------|------------|',
        ...rows,
        '',
        '| process                                   | RSS MB |',
        '|-------------------------------------------|--------|',
        `| bare node:http, idle                      | ${bare.toFixed(0).padStart(6)} |`,
        `| tollgate, idle                            | ${idle.toFixed(0).padStart(6)} |`,
        `| tollgate, peak under load                 | ${peak.toFixed(0).padStart(6)} |`,
        `| tollgate, 2 s after the last answer       | ${after.toFixed(0).padStart(6)} |`,
        '',
        `V8's own peaks (MB): heapUsed ${mb(peakV8.heapUsed)}, heapTotal ${mb(peakV8.heapTotal)}, external ${mb(peakV8.external)}, arrayBuffers ${mb(peakV8.arrayBuffers)}`,
        `peak RSS: ${peak.toFixed(0)} MB (goal < ${GOAL_MB} MB), ${(peak / idle).toFixed(1)}x idle, ${(peak / bare).toFixed(1)}x a bare node:http process`,
        `server answering after the load: ${alive ? 'yes' : 'NO'}; unexpected statuses: ${unexpected}`,
        '',
      ].join('\n'),
    );
    if (peak >= GOAL_MB || !alive || unexpected > 0) process.exitCode = 1;
  } finally {
    await app?.stop();
    await db.close();
  }
}

main().catch((err) => {
  process.stderr.write(`${err?.stack ?? err}\n`);
  process.exit(1);
});
