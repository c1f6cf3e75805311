import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TRIGGERS, runTrigger, triggerNames } from '../../src/emulator/triggers';
import { sdk, startTestEmulator, type TestEmulator } from './support';

const run = promisify(execFile);
const CLI_DIR = join(__dirname, '..', '..', 'src', 'cli');
const EMULATOR = join(CLI_DIR, 'stripe-emulator.js');
const TRIGGER = join(CLI_DIR, 'stripe-trigger.js');

describe('triggers (in process)', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startTestEmulator();
  });
  afterAll(() => t.em.stop());

  test.each(triggerNames())('%s fires its event', async (name) => {
    const events = await runTrigger(t.stripe, name);
    expect(events.map((e) => e.type)).toContain(name);
  });

  test('every event type webhook handlers are expected to get has a trigger', () => {
    for (const type of [
      'customer.subscription.created',
      'customer.subscription.updated',
      'customer.subscription.deleted',
      'invoice.created',
      'invoice.paid',
      'invoice.payment_failed',
      'checkout.session.completed',
      'checkout.session.expired',
      'payment_intent.created',
      'payment_intent.succeeded',
      'payment_intent.payment_failed',
      'payment_intent.canceled',
      'payment_intent.requires_action',
      'payment_intent.amount_capturable_updated',
      'charge.succeeded',
      'charge.failed',
      'charge.captured',
      'charge.refunded',
      'refund.created',
      'charge.dispute.created',
      'customer.created',
      'customer.updated',
    ]) {
      expect(TRIGGERS[type]).toBeDefined();
    }
  });

  test('an event type without a fixture is refused', async () => {
    await expect(runTrigger(t.stripe, 'unicorn.appeared')).rejects.toThrow(/No trigger for "unicorn.appeared"/);
  });
});

describe('command line', () => {
  let dir: string;
  let child: ChildProcess | undefined;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'stripe-emulator-cli-'));
  });
  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  function startCli(args: string[]): Promise<{ proc: ChildProcess; port: number; out: () => string }> {
    const proc = spawn(process.execPath, [EMULATOR, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`emulator did not start: ${out}`)), 10_000);
      proc.stdout?.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
        if (m && /Press Ctrl\+C/.test(out)) {
          clearTimeout(timer);
          resolve({ proc, port: Number(m[1]), out: () => out });
        }
      });
      proc.stderr?.on('data', (c: Buffer) => (out += c.toString()));
      proc.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`emulator exited with ${code}: ${out}`));
      });
    });
  }

  test('stripe:emulator serves the API, stripe:trigger fires events on it, SIGTERM stops and saves', async () => {
    const dataFile = join(dir, 'state.json');
    const started = await startCli(['--port', '0', '--data', dataFile]);
    child = started.proc;
    expect(started.out()).toContain(`new Stripe('sk_test_123', { host: '127.0.0.1', port: ${started.port}, protocol: 'http' })`);

    const { stdout } = await run(process.execPath, [TRIGGER, 'payment_intent.succeeded', '--port', String(started.port)]);
    expect(stdout).toMatch(/evt_\w+ {2}payment_intent\.succeeded/);
    expect(stdout).toContain('Trigger succeeded!');

    const stripe = sdk({ host: '127.0.0.1', port: started.port, protocol: 'http' });
    const events = await stripe.events.list({ type: 'payment_intent.succeeded' });
    expect(events.data).toHaveLength(1);
    const piId = (events.data[0]?.data.object as { id: string }).id;

    const exited = new Promise<number | null>((resolve) => started.proc.on('exit', (code) => resolve(code)));
    started.proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(existsSync(dataFile)).toBe(true);
    expect(readFileSync(dataFile, 'utf8')).toContain(piId);
  });

  test('stripe:trigger explains unknown events and a missing emulator', async () => {
    const unknown = await run(process.execPath, [TRIGGER, 'unicorn.appeared']).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(unknown?.code).toBe(2);
    expect(unknown?.stderr).toContain('payment_intent.succeeded');

    const nobody = await run(process.execPath, [TRIGGER, 'customer.created', '--port', '9']).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(nobody?.code).toBe(1);
    expect(nobody?.stderr).toContain('No Stripe emulator answers on http://127.0.0.1:9');

    const list = await run(process.execPath, [TRIGGER, '--list']);
    expect(list.stdout).toContain('charge.dispute.created');
  });

  test('stripe:emulator refuses a port in use', async () => {
    const first = await startCli(['--port', '0']);
    child = first.proc;
    const second = await run(process.execPath, [EMULATOR, '--port', String(first.port)]).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(second?.code).toBe(1);
    expect(second?.stderr).toContain(`port ${first.port} on 127.0.0.1 is already in use`);
    const exited = new Promise((resolve) => first.proc.on('exit', resolve));
    first.proc.kill('SIGINT');
    expect(await exited).toBe(0);
  });
});
