import http from 'node:http';
import net from 'node:net';

/**
 * A small HTTP CONNECT forward proxy on loopback, for tests that need a real tunnel. It maps the
 * "host:port" a client asks for to a local port (so a client can tunnel to api.stripe.test:443 and reach
 * the emulator), and can be switched to refuse every CONNECT with a status, to never answer, to close
 * the connection without answering, or to require credentials. It records every CONNECT it receives.
 */
export type ProxyMode = 'forward' | 'refuse' | 'hang' | 'drop';

export interface ProxyConnect {
  target: string;
  /** The Proxy-Authorization header as received, decoded from Basic ("user:password"), if any. */
  credentials?: string;
  status: number;
}

export interface TestProxy {
  port: number;
  /** http://127.0.0.1:port, optionally with credentials. */
  url(credentials?: string): string;
  mode: ProxyMode;
  /** The status sent in 'refuse' mode (default 403). */
  refuseStatus: number;
  /** "host:port" asked for -> local port it is connected to; may be changed while the proxy runs. */
  routes: Record<string, number>;
  connects: ProxyConnect[];
  /** Client connections currently open. */
  openConnections(): number;
  close(): Promise<void>;
}

export async function startTestProxy(options: {
  routes: Record<string, number>;
  credentials?: string;
  mode?: ProxyMode;
}): Promise<TestProxy> {
  const sockets = new Set<net.Socket>();
  const clients = new Set<net.Socket>();
  const server = http.createServer((_req, res) => {
    res.writeHead(405, { 'content-type': 'text/plain' }).end('only CONNECT is supported');
  });
  const proxy: TestProxy = {
    port: 0,
    url: (credentials) => `http://${credentials ? `${credentials}@` : ''}127.0.0.1:${proxy.port}`,
    mode: options.mode ?? 'forward',
    refuseStatus: 403,
    routes: options.routes,
    connects: [],
    openConnections: () => clients.size,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const answer = (socket: net.Socket, status: number, text: string, headers: string[] = []) => {
    socket.end(`HTTP/1.1 ${status} ${text}\r\n${[...headers, 'Content-Length: 0', 'Connection: close'].join('\r\n')}\r\n\r\n`);
  };
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    clients.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      clients.delete(socket);
    });
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    client.on('error', () => undefined);
    client.on('end', () => client.end()); // the client went away: close our side too (the server allows half-open sockets)
    const target = req.url ?? '';
    const auth = req.headers['proxy-authorization'];
    const credentials = typeof auth === 'string' && auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString() : undefined;
    const record = (status: number) => proxy.connects.push({ target, credentials, status });
    if (proxy.mode === 'hang') return record(0);
    if (proxy.mode === 'drop') {
      record(0);
      return client.end();
    }
    if (options.credentials && credentials !== options.credentials) {
      record(407);
      return answer(client, 407, 'Proxy Authentication Required', ['Proxy-Authenticate: Basic realm="test"']);
    }
    if (proxy.mode === 'refuse') {
      record(proxy.refuseStatus);
      return answer(client, proxy.refuseStatus, proxy.refuseStatus === 403 ? 'Forbidden' : 'Refused');
    }
    const port = proxy.routes[target];
    if (port === undefined) {
      record(502);
      return answer(client, 502, 'Bad Gateway');
    }
    const upstream = net.connect({ host: '127.0.0.1', port });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.once('connect', () => {
      record(200);
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => {
      if (!client.writableEnded && upstream.connecting) {
        record(502);
        answer(client, 502, 'Bad Gateway');
      } else client.destroy();
    });
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  proxy.port = (server.address() as net.AddressInfo).port;
  return proxy;
}
