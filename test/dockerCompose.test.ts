import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from './support/cli';

/**
 * docker-compose.yml, the Dockerfile and the proxy's configuration, checked by reading them: no Docker engine
 * runs the tests, so this is what `docker compose config` and a look at the Dockerfile would catch.
 */

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  profiles?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');
// Compose merges `<<:` keys (YAML 1.1 merge keys), which the yaml package does only when asked.
const compose = parse(read('docker-compose.yml'), { merge: true }) as Compose;
const services = compose.services;
const servers = Object.keys(services).filter((name) => services[name].build);
const replicas = servers.filter((name) => services[name].profiles?.includes('replicas'));

/** The host-side and container-side ports of a "host:container" mapping. */
const portMapping = (mapping: string) => {
  const [host, container] = mapping.split(':').map(Number);
  return { host, container };
};

describe('docker-compose.yml', () => {
  it('has PostgreSQL 17 with a named volume and a healthcheck', () => {
    const db = services.db;
    expect(db.image).toMatch(/^postgres:17(\b|$)/);
    const [volume, target] = (db.volumes ?? [])[0].split(':');
    expect(target).toBe('/var/lib/postgresql/data');
    expect(Object.keys(compose.volumes ?? {})).toContain(volume);
    expect(db.healthcheck?.test.join(' ')).toMatch(/pg_isready -U tollgate -d tollgate/);
  });

  it('starts the database and one server by default, and two servers behind a proxy in the replicas profile', () => {
    const byDefault = Object.keys(services).filter((name) => !services[name].profiles);
    expect(byDefault.sort()).toEqual(['app', 'db']);
    expect(replicas.sort()).toEqual(['app-replica-1', 'app-replica-2']);
    expect(services.proxy.profiles).toEqual(['replicas']);
    expect(services.proxy.image).toMatch(/^nginx:\d/);
  });

  it('builds every server from the Dockerfile in the repository', () => {
    expect(servers.sort()).toEqual(['app', 'app-replica-1', 'app-replica-2']);
    for (const name of servers) {
      expect(services[name].build).toEqual({ context: '.', dockerfile: 'Dockerfile' });
    }
    expect(existsSync(join(ROOT, 'Dockerfile'))).toBe(true);
  });

  it.each(['app', 'app-replica-1', 'app-replica-2'])('points %s at the db service and waits until it is healthy', (name) => {
    const service = services[name];
    const db = services.db.environment!;
    const url = new URL(service.environment!.DATABASE_URL);
    expect(url.protocol).toBe('postgres:');
    expect(url.hostname).toBe('db');
    expect(url.port).toBe('5432');
    expect([url.username, url.password, url.pathname]).toEqual([db.POSTGRES_USER, db.POSTGRES_PASSWORD, `/${db.POSTGRES_DB}`]);
    expect(service.depends_on).toEqual({ db: { condition: 'service_healthy' } });
  });

  it.each(['app', 'app-replica-1', 'app-replica-2'])('health-checks %s on /healthz at the port it listens on', (name) => {
    const service = services[name];
    const check = service.healthcheck?.test ?? [];
    expect(check[0]).toBe('CMD');
    expect(check.join(' ')).toContain(`http://127.0.0.1:${service.environment!.PORT}/healthz`);
    expect(service.environment!.HOST).toBe('0.0.0.0');
  });

  it('publishes the single server on 4000 and the replicas only through the proxy', () => {
    expect(services.app.ports?.map(portMapping)).toEqual([{ host: 4000, container: 4000 }]);
    for (const name of replicas) expect(services[name].ports).toBeUndefined();
    const [proxyPort] = services.proxy.ports!.map(portMapping);
    for (const name of replicas)
      // The address clients (and Stripe's webhooks) reach: the proxy's, unless PUBLIC_URL says otherwise.
      expect(services[name].environment!.PUBLIC_URL).toBe(`\${PUBLIC_URL:-http://localhost:${proxyPort.host}}`);
  });

  it('starts the proxy once both replicas are healthy, with its configuration from deploy/', () => {
    expect(services.proxy.depends_on).toEqual(Object.fromEntries(replicas.map((name) => [name, { condition: 'service_healthy' }])));
    const [source, target] = services.proxy.volumes![0].split(':');
    expect(existsSync(join(ROOT, source))).toBe(true);
    expect(target).toBe('/etc/nginx/conf.d/default.conf');
    expect(services.proxy.healthcheck?.test.join(' ')).toMatch(/\/healthz/);
  });

  it('only depends on services that exist, with a condition compose knows', () => {
    for (const service of Object.values(services)) {
      for (const [target, { condition }] of Object.entries(service.depends_on ?? {})) {
        expect(Object.keys(services)).toContain(target);
        expect(['service_started', 'service_healthy', 'service_completed_successfully']).toContain(condition);
      }
    }
  });
});

describe('deploy/nginx.conf', () => {
  const conf = read(services.proxy.volumes![0].split(':')[0]).replace(/#.*$/gm, '');
  const upstreams = [...conf.matchAll(/upstream\s+(\S+)\s*\{([^}]*)\}/g)];

  it('balances over exactly the replica services, at the port they listen on', () => {
    expect(upstreams).toHaveLength(1);
    const servers = [...upstreams[0][2].matchAll(/^\s*server\s+([^\s:;]+):(\d+)/gm)].map((m) => ({ host: m[1], port: m[2] }));
    expect(servers).toEqual(replicas.map((name) => ({ host: name, port: services[name].environment!.PORT })));
  });

  it('passes every request to that upstream and listens on the port compose publishes', () => {
    expect(conf).toMatch(new RegExp(`proxy_pass\\s+http://${upstreams[0][1]};`));
    const listen = Number(/^\s*listen\s+(\d+);/m.exec(conf)?.[1]);
    expect(services.proxy.ports!.map(portMapping)[0].container).toBe(listen);
  });
});

/** The Dockerfile's instructions, continuation lines joined and comments dropped, grouped by stage. */
function dockerfileStages(text: string) {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const args = new Map<string, string>();
  const stages: { from: string; name: string | undefined; instructions: { op: string; rest: string }[] }[] = [];
  for (const line of lines) {
    const [, op, rest] = /^(\S+)\s+(.*)$/.exec(line)!;
    const upper = op.toUpperCase();
    if (upper === 'ARG' && stages.length === 0) {
      const [key, value] = rest.split('=');
      args.set(key, value);
    } else if (upper === 'FROM') {
      const [image, as, name] = rest.replace(/\$\{(\w+)\}/g, (_, key: string) => args.get(key) ?? '').split(/\s+/);
      stages.push({ from: image, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else {
      stages.at(-1)!.instructions.push({ op: upper, rest });
    }
  }
  return stages;
}

describe('Dockerfile', () => {
  const stages = dockerfileStages(read('Dockerfile'));
  const [build, runtime] = stages;
  const runs = (stage: (typeof stages)[number]) => stage.instructions.filter((i) => i.op === 'RUN').map((i) => i.rest);
  const last = (stage: (typeof stages)[number], op: string) => stage.instructions.filter((i) => i.op === op).at(-1)?.rest;

  it('has a build stage and a runtime stage on the same Node image, one the engines of package.json admit', () => {
    expect(stages).toHaveLength(2);
    expect(build.name).toBe('build');
    expect(runtime.from).toBe(build.from);
    expect(build.from).toMatch(/^node:20[.-][\w.-]*slim$/);
  });

  it('compiles in the build stage with the dev dependencies', () => {
    expect(runs(build)).toEqual(expect.arrayContaining([expect.stringMatching(/^npm ci\b(?!.*--omit=dev)/), 'npm run build']));
  });

  it('installs only production dependencies in the runtime stage and takes the compiled dist/ from the build', () => {
    expect(runs(runtime).some((run) => /^npm ci --omit=dev\b/.test(run))).toBe(true);
    const copies = runtime.instructions.filter((i) => i.op === 'COPY').map((i) => i.rest);
    expect(copies).toContain(`--from=${build.name} /app/dist ./dist`);
    // What the server reads at run time besides its code.
    expect(copies).toContain('seeds/catalog.json ./seeds/catalog.json');
  });

  it('keeps what /explorer serves from node_modules in the production dependencies', () => {
    const explorer = read('src/http/explorer.ts');
    const served = [...new Set([...explorer.matchAll(/packageDir\('([^']+)'\)/g)].map((m) => m[1]))];
    expect(served.sort()).toEqual(['graphiql', 'react', 'react-dom']);
    const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string> };
    expect(served.filter((name) => !pkg.dependencies[name])).toEqual([]);
  });

  it('runs as a user that is not root', () => {
    const user = last(runtime, 'USER');
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
  });

  it('health-checks /healthz with node (slim images have no curl)', () => {
    const check = last(runtime, 'HEALTHCHECK') ?? '';
    expect(check).toMatch(/CMD \["node", "-e", ".*\/healthz/);
    expect(check).not.toMatch(/curl|wget/);
  });

  it('starts the server the way npm start does', () => {
    const cmd = JSON.parse(last(runtime, 'CMD') ?? 'null') as string[];
    expect(cmd).toEqual(['node', '--max-old-space-size=160', 'dist/src/main.js']);
    const start = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts.start;
    expect(start).toBe(`exec ${cmd.join(' ')}`);
  });

  it('is given every file it copies, and no local data, secrets or installed modules (.dockerignore)', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', '.data', '.env', '.git']));
    const sources = stages
      .flatMap((stage) => stage.instructions)
      .filter((i) => i.op === 'COPY' && !i.rest.startsWith('--from='))
      .flatMap((i) => i.rest.split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      expect(existsSync(join(ROOT, source))).toBe(true);
      expect(ignored.filter((pattern) => source === pattern || source.startsWith(`${pattern}/`))).toEqual([]);
    }
  });
});
