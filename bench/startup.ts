/**
 * How long a person waits: `npm start` until the server is ready (a first start on an empty data folder,
 * then a restart), and a command-line script while the server runs, each as a person types it, from the
 * project folder, with the build that `npm ci` made.
 *
 *   npm run build && node dist/bench/startup.js [--runs 3]
 *
 * Uses a throw-away data folder and free ports, so a server already running here is not disturbed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { freePort } from '../test/support/net';

const ROOT = resolve(__dirname, '../..');
const READY = /Tollgate is ready/;

interface Started {
  proc: ChildProcess;
  ms: number;
}

/** Runs `npm <args>` and resolves when `until` shows in its output (or when it exits, without `until`). */
function run(args: string[], env: NodeJS.ProcessEnv, until?: RegExp): Promise<Started> {
  const started = performance.now();
  const proc = spawn('npm', args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((done, fail) => {
    const seen = (chunk: Buffer) => {
      output += chunk.toString();
      if (until?.test(output)) done({ proc, ms: performance.now() - started });
    };
    proc.stdout!.on('data', seen);
    proc.stderr!.on('data', seen);
    proc.once('exit', (code) => {
      if (!until && code === 0) done({ proc, ms: performance.now() - started });
      else fail(new Error(`npm ${args.join(' ')} exited with ${code}:\n${output.slice(-2000)}`));
    });
  });
}

function stop(proc: ChildProcess): Promise<void> {
  return new Promise((done) => {
    if (proc.exitCode !== null) return done();
    proc.once('exit', () => done());
    proc.kill('SIGTERM');
  });
}

async function main(): Promise<void> {
  const { runs } = new Command().option('--runs <n>', 'restarts and script runs to time', '3').parse().opts<{ runs: string }>();
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-startup-'));
  await chmod(dir, 0o755); // the embedded PostgreSQL runs as another user when this runs as root
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    EMBEDDED_PG_DIR: join(dir, 'postgres'),
    STRIPE_EMULATOR_DATA: join(dir, 'stripe-emulator.json'),
    PORT: String(await freePort()),
    EMBEDDED_PG_PORT: String(await freePort()),
    STRIPE_EMULATOR_PORT: String(await freePort()),
    LOG_FORMAT: 'json',
  };
  try {
    const first = await run(['start'], env, READY);
    await stop(first.proc);
    console.log(`first npm start (new data folder): ready in ${(first.ms / 1000).toFixed(2)} s`);
    let server: ChildProcess | undefined;
    for (let i = 0; i < Number(runs); i++) {
      if (server) await stop(server);
      const again = await run(['start'], env, READY);
      console.log(`npm start again: ready in ${(again.ms / 1000).toFixed(2)} s`);
      server = again.proc;
    }
    for (let i = 0; i < Number(runs); i++) {
      const script = await run(['run', '-s', 'apikey:list'], env);
      console.log(`npm run apikey:list (server running): done in ${(script.ms / 1000).toFixed(2)} s`);
    }
    if (server) await stop(server);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
