import type { EntityManager } from '@mikro-orm/postgresql';
import { ownSubscription } from '../billing/subscriptions/queries';
import { query } from '../db/sql';
import type { Subscription } from '../entities';
import { listenTo } from '../db/listen';
import { EVENTS_CHANNEL, USAGE_CHANNEL } from '../db/outbox';
import type { Logger } from '../logger';

/**
 * Live updates for GraphQL subscriptions. Every change is announced by PostgreSQL, not by the process that
 * made it, so a subscriber hears about changes made through any server process: the outbox trigger
 * notifies `tollgate_events` when an event commits, and every consume notifies `tollgate_usage` with the
 * user's id (limitsSql.ts). One dedicated connection per process LISTENs (src/db/listener.ts) and hands each
 * notice to the subscribers of its user.
 */

/** One notice: an outbox event (with its seq) or a consume (type `usage.recorded`). */
export interface LiveSignal {
  type: string;
  userId: string;
  seq?: string;
}

export interface LiveUpdates {
  /**
   * The notices for one user that `accept` takes, until the consumer returns the iterator. With `coalesce`,
   * notices that arrive while one is waiting to be read are dropped: the reader fetches the latest state anyway.
   * `first` is yielded before any notice (a subscriber that starts with the current state).
   */
  listen(
    userId: string,
    accept: (s: LiveSignal) => boolean,
    options?: { coalesce?: boolean; first?: LiveSignal },
  ): AsyncIterableIterator<LiveSignal>;
  /** Resolves once the connection LISTENs (for startup and tests). */
  ready(): Promise<void>;
  stop(): Promise<void>;
}

export function startLiveUpdates(clientUrl: string, logger: Logger): LiveUpdates {
  const subscribers = new Map<string, Set<(s: LiveSignal) => void>>();

  const dispatch = (channel: string, payload: string | undefined) => {
    let signal: LiveSignal;
    try {
      signal = channel === USAGE_CHANNEL ? { type: 'usage.recorded', userId: String(payload) } : JSON.parse(payload ?? '');
    } catch {
      return;
    }
    for (const deliver of subscribers.get(signal.userId) ?? []) deliver(signal);
  };
  const listener = listenTo(clientUrl, [EVENTS_CHANNEL, USAGE_CHANNEL], { notice: dispatch }, logger.child({ component: 'live' }));

  return {
    listen(userId, accept, { coalesce = false, first } = {}) {
      const queue: LiveSignal[] = first ? [first] : [];
      let waiting: ((r: IteratorResult<LiveSignal>) => void) | undefined;
      let done = false;
      const deliver = (s: LiveSignal) => {
        if (done || !accept(s)) return;
        if (waiting) {
          const resolve = waiting;
          waiting = undefined;
          resolve({ value: s, done: false });
        } else if (!coalesce || queue.length === 0) queue.push(s);
      };
      const users = subscribers.get(userId) ?? new Set();
      users.add(deliver);
      subscribers.set(userId, users);
      const finish = async (): Promise<IteratorResult<LiveSignal>> => {
        done = true;
        users.delete(deliver);
        if (users.size === 0 && subscribers.get(userId) === users) subscribers.delete(userId);
        waiting?.({ value: undefined, done: true });
        waiting = undefined;
        return { value: undefined, done: true };
      };
      return {
        next: () => {
          if (queue.length > 0) return Promise.resolve({ value: queue.shift()!, done: false });
          if (done) return Promise.resolve({ value: undefined, done: true });
          return new Promise((resolve) => (waiting = resolve));
        },
        return: finish,
        throw: async (err) => {
          await finish();
          throw err;
        },
        [Symbol.asyncIterator]() {
          return this;
        },
      };
    },
    ready: () => listener.ready(),
    stop: () => listener.stop(),
  };
}

/** The subscription a subscription.* event of this user is about, as it is now (`em` a fresh fork: no stale identity map). */
export async function subscriptionOfEvent(em: EntityManager, userId: string, seq: string): Promise<Subscription> {
  const [row] = await query<{ id: string }>(
    em,
    `select data->'object'->>'id' as id from outbox_event where seq = $1 and user_id = $2 and type like 'subscription.%'`,
    [seq, userId],
  );
  return ownSubscription(em, userId, row?.id ?? '');
}
