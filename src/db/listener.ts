import pg from 'pg';
import type { Logger } from '../logger';

/**
 * A dedicated PostgreSQL connection that LISTENs on some channels and hands every notice over, for the
 * parts of a server that react to changes committed by any process (live updates, the webhook worker).
 * Notices sent while it is down are lost: it reconnects after a second and calls `onListening` each time it
 * listens again, so its user can catch up on what it may have missed.
 */
export interface Listener {
  /** Resolves once the connection first LISTENs (for startup and tests). */
  ready(): Promise<void>;
  stop(): Promise<void>;
}

const RECONNECT_MS = 1000;

export function listenTo(
  clientUrl: string,
  channels: string[],
  handlers: { onNotice: (channel: string, payload: string | undefined) => void; onListening?: () => void },
  log: Logger,
): Listener {
  let running = true;
  let client: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;
  let markReady: () => void;
  const readyOnce = new Promise<void>((resolve) => (markReady = resolve));

  const connect = async () => {
    const c = new pg.Client({ connectionString: clientUrl });
    client = c;
    c.on('notification', (n) => handlers.onNotice(n.channel, n.payload));
    // Whichever comes first, a failed connect or the connection ending, starts the next attempt once.
    const retry = () => {
      if (client !== c) return;
      client = undefined;
      if (running) timer = setTimeout(() => void connect(), RECONNECT_MS);
    };
    c.on('error', (err) => log.warn({ err, channels }, 'notice connection failed'));
    c.on('end', retry);
    try {
      await c.connect();
      await c.query(channels.map((channel) => `listen ${channel}`).join('; '));
      markReady();
      handlers.onListening?.();
    } catch (err) {
      log.warn({ err, channels }, 'cannot listen for notices; retrying');
      retry();
      await c.end().catch(() => undefined);
    }
  };
  void connect();

  return {
    ready: () => readyOnce,
    async stop() {
      running = false;
      clearTimeout(timer);
      await client?.end().catch(() => undefined);
    },
  };
}
