import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  body: string;
  json: any;
  signature: string;
  at: number;
}

/**
 * An HTTP receiver of Tollgate's events: records every POST and answers with the next of `statuses`
 * (then 200).
 */
export interface Receiver {
  url: string;
  received: Received[];
  /** Statuses to answer the next requests with, in order; 200 after them. */
  answer(...statuses: number[]): void;
  /** Waits until `predicate` holds for what was received. */
  waitFor(predicate: (received: Received[]) => boolean, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  const statuses: number[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      received.push({ body, json: JSON.parse(body), signature: String(req.headers['tollgate-signature'] ?? ''), at: Date.now() });
      res.writeHead(statuses.shift() ?? 200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/events`,
    received,
    answer: (...s) => statuses.push(...s),
    async waitFor(predicate, timeoutMs = 15_000) {
      const until = Date.now() + timeoutMs;
      while (!predicate(received)) {
        if (Date.now() > until)
          throw new Error(`receiver: condition not met in ${timeoutMs} ms; got ${received.map((r) => r.json.type).join(', ')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return received;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
