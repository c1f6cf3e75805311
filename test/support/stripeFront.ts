import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP front for the emulator that passes every request on, except those `fault` picks: those get
 * the status and Stripe error body it returns, without reaching the emulator. For tests of a Stripe that
 * fails in the middle of an operation (one endpoint down while the others answer), or, with `hold`, of a
 * Stripe that is slow to answer.
 */
export interface StripeFront {
  port: number;
  /** Decides per request: a status to answer instead of the emulator, or undefined to pass it on. */
  fault: ((method: string, path: string) => number | undefined) | undefined;
  /** Requests answered with a fault, as "METHOD /path". */
  faulted: string[];
  /** Decides per request: a promise the request waits for before it is passed on (a slow Stripe), or undefined. */
  hold: ((method: string, path: string) => Promise<void> | undefined) | undefined;
  /** Requests waiting for their `hold`, as "METHOD /path". */
  held: string[];
  close(): Promise<void>;
}

export async function startStripeFront(emulatorPort: number): Promise<StripeFront> {
  const front: StripeFront = { port: 0, fault: undefined, faulted: [], hold: undefined, held: [], close: async () => undefined };
  const server = http.createServer((req, res) => {
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?')[0];
    const status = front.fault?.(method, path);
    if (status !== undefined) {
      front.faulted.push(`${method} ${path}`);
      req.resume();
      res
        .writeHead(status, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: { type: 'api_error', message: 'Injected failure.' } }));
      return;
    }
    const pass = () => {
      const upstream = http.request({ host: '127.0.0.1', port: emulatorPort, method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    };
    const wait = front.hold?.(method, path);
    if (!wait) return pass();
    const name = `${method} ${path}`;
    front.held.push(name);
    // The body stays unread (paused) until the request is passed on.
    void wait.then(() => {
      front.held.splice(front.held.indexOf(name), 1);
      pass();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  front.port = (server.address() as AddressInfo).port;
  front.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return front;
}
