import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startEmulator } from '../../src/emulator';
import { TRIGGERS, runTrigger, triggerNames } from '../../src/emulator/triggers';
import { sdk, startTestEmulator, type TestEmulator } from './support';

const run = promisify(execFile);
const CLI_DIR = join(__dirname, '..', '..', 'src', 'cli');
const EMULATOR = join(CLI_DIR, 'stripeEmulator.js');
const TRIGGER = join(CLI_DIR, 'stripeTrigger.js');

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
      'customer.subscription.trial_will_end',
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

/** What a TCP connection to host:port gets: 'connected', or the error code (ECONNREFUSED ...). */
function connectOutcome(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.setTimeout(3000, () => {
      socket.destroy();
      resolve('timeout');
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/** Addresses of this machine other than 127.0.0.1: another loopback address and every external IPv4 one. */
function otherAddresses(): string[] {
  const external = Object.values(networkInterfaces())
    .flat()
    .filter((a) => a && !a.internal && a.family === 'IPv4')
    .map((a) => a?.address as string);
  return ['127.0.0.2', ...external];
}

describe('command line', () => {
  let dir: string;
  const children: ChildProcess[] = [];
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'stripe-emulator-cli-'));
  });
  afterAll(() => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  /** The exit code, or the signal that ended the process when it did not exit by itself. */
  function stop(proc: ChildProcess, signal: NodeJS.Signals): Promise<number | string | null> {
    const exited = new Promise<number | string | null>((resolve) => proc.on('exit', (code, by) => resolve(code ?? by)));
    proc.kill(signal);
    return exited;
  }

  function startCli(args: string[]): Promise<{ proc: ChildProcess; port: number; out: () => string }> {
    const proc = spawn(process.execPath, [EMULATOR, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(proc);
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

  test('stripe:emulator serves the API, stripe:trigger fires events on it, SIGTERM stops and saves; --data brings the state back', async () => {
    const dataFile = join(dir, 'state.json');
    const started = await startCli(['--port', '0', '--data', dataFile]);
    expect(started.out()).toContain(`new Stripe('sk_test_123', { host: '127.0.0.1', port: ${started.port}, protocol: 'http' })`);

    const { stdout } = await run(process.execPath, [TRIGGER, 'payment_intent.succeeded', '--port', String(started.port)]);
    expect(stdout).toMatch(/evt_\w+ {2}payment_intent\.succeeded/);
    expect(stdout).toContain('Trigger succeeded!');

    const stripe = sdk({ host: '127.0.0.1', port: started.port, protocol: 'http' });
    const events = await stripe.events.list({ type: 'payment_intent.succeeded' });
    expect(events.data).toHaveLength(1);
    const piId = (events.data[0]?.data.object as { id: string }).id;
    const customer = await stripe.customers.create({ email: 'kept@example.com', metadata: { via: 'cli' } }, { idempotencyKey: 'cli-kept' });

    expect(await stop(started.proc, 'SIGTERM')).toBe(0);
    expect(existsSync(dataFile)).toBe(true);
    expect(readFileSync(dataFile, 'utf8')).toContain(piId);

    // a second run with the same --data file (on another port) serves the same state
    const again = await startCli(['--port', '0', '--data', dataFile]);
    try {
      expect(again.out()).toContain(`State:     kept in ${dataFile}`);
      const s2 = sdk({ host: '127.0.0.1', port: again.port, protocol: 'http' });
      expect(await s2.paymentIntents.retrieve(piId)).toMatchObject({ id: piId, status: 'succeeded', amount: 2000 });
      expect(await s2.customers.retrieve(customer.id)).toEqual(customer);
      expect((await s2.events.list({ type: 'payment_intent.succeeded' })).data.map((e) => e.id)).toEqual(events.data.map((e) => e.id));
      // its idempotency keys too: the same request replays instead of creating a second customer
      expect((await s2.customers.create({ email: 'kept@example.com', metadata: { via: 'cli' } }, { idempotencyKey: 'cli-kept' })).id).toBe(
        customer.id,
      );
      expect((await s2.customers.list({ email: 'kept@example.com' })).data).toHaveLength(1);
    } finally {
      expect(await stop(again.proc, 'SIGINT')).toBe(0);
    }
  });

  test('stripe:emulator listens on 127.0.0.1 only, and so does startEmulator by default', async () => {
    const started = await startCli(['--port', '0']);
    const inProcess = await startEmulator();
    try {
      for (const port of [started.port, inProcess.port]) {
        expect(await connectOutcome('127.0.0.1', port)).toBe('connected');
        for (const address of otherAddresses()) expect([address, await connectOutcome(address, port)]).toEqual([address, 'ECONNREFUSED']);
      }
      expect(inProcess.url).toBe(`http://127.0.0.1:${inProcess.port}`);
      expect((await sdk(inProcess).customers.list()).object).toBe('list');
    } finally {
      await inProcess.stop();
      expect(await stop(started.proc, 'SIGTERM')).toBe(0);
    }
  });

  test('stripe:emulator and stripe:trigger default to port 12111', async () => {
    // another emulator may hold 12111 on this machine: then the refusal names the default port
    const proc = spawn(process.execPath, [EMULATOR], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(proc);
    let out = '';
    proc.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    proc.stderr?.on('data', (c: Buffer) => (out += c.toString()));
    const outcome = await new Promise<'listening' | number | null>((resolve) => {
      const timer = setInterval(() => {
        if (/Press Ctrl\+C/.test(out)) {
          clearInterval(timer);
          resolve('listening');
        }
      }, 10);
      proc.on('exit', (code) => {
        clearInterval(timer);
        resolve(code);
      });
    });
    if (outcome !== 'listening') {
      expect({ outcome, out }).toEqual({ outcome: 1, out: expect.stringContaining('port 12111 on 127.0.0.1 is already in use') });
      return;
    }
    try {
      expect(out).toContain('listening on http://127.0.0.1:12111');
      const { stdout } = await run(process.execPath, [TRIGGER, 'customer.created']);
      const fired = /(evt_\w+) {2}customer\.created/.exec(stdout)?.[1];
      // the trigger reached this emulator (started empty, without --data): its one event is that one
      const stripe = sdk({ host: '127.0.0.1', port: 12111, protocol: 'http' });
      expect((await stripe.events.list()).data.map((e) => [e.id, e.type])).toEqual([[fired, 'customer.created']]);
    } finally {
      expect(await stop(proc, 'SIGTERM')).toBe(0);
    }
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
    const second = await run(process.execPath, [EMULATOR, '--port', String(first.port)]).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(second?.code).toBe(1);
    // One message, said once: not "stripe-emulator: Stripe emulator: ...".
    expect(second?.stderr.trim()).toBe(`The Stripe emulator cannot start: port ${first.port} on 127.0.0.1 is already in use`);
    const exited = new Promise((resolve) => first.proc.on('exit', resolve));
    first.proc.kill('SIGINT');
    expect(await exited).toBe(0);
  });
});
