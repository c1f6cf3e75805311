import pg from 'pg';
import type { Logger } from '../logger';

/**
 * One dedicated connection that LISTENs to PostgreSQL channels and hands every notice on, reconnecting
 * when it drops. Notices sent while it is down are lost: `lost` says when that may have begun and
 * `listening` when LISTEN is in force again, so a user of it can forget what it may have missed.
 */

export interface NoticeHandlers {
  notice(channel: string, payload: string | undefined): void;
  /** LISTEN is in force (after the first connect and after every reconnect). */
  listening?(): void;
  /** The connection failed or ended: notices may be missed until `listening` is called again. */
  lost?(): void;
}

export interface Listener {
  /** Resolves once the connection LISTENs for the first time (for startup and tests). */
  ready(): Promise<void>;
  stop(): Promise<void>;
}

const RECONNECT_MS = 1000;

export function listenTo(clientUrl: string, channels: string[], handlers: NoticeHandlers, log: Logger): Listener {
  let running = true;
  let client: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;
  let markReady: () => void;
  const readyOnce = new Promise<void>((resolve) => (markReady = resolve));

  const connect = async () => {
    const c = new pg.Client({ connectionString: clientUrl });
    client = c;
    c.on('notification', (n) => handlers.notice(n.channel, n.payload));
    // Whichever comes first, a failed connect or the connection ending, starts the next attempt once.
    const retry = () => {
      if (client !== c) return;
      client = undefined;
      handlers.lost?.();
      if (running) timer = setTimeout(() => void connect(), RECONNECT_MS);
    };
    c.on('error', (err) => {
      log.warn({ err }, 'notice connection failed');
      handlers.lost?.();
    });
    c.on('end', retry);
    try {
      await c.connect();
      await c.query(channels.map((channel) => `listen ${channel}`).join('; '));
      if (client !== c) return;
      handlers.listening?.();
      markReady();
    } catch (err) {
      log.warn({ err }, 'cannot listen for notices; retrying');
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
      const c = client;
      client = undefined;
      handlers.lost?.();
      await c?.end().catch(() => undefined);
    },
  };
}
