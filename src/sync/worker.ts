import type { EntityManager } from '@mikro-orm/postgresql';
import type { BillingDeps } from '../billing/deps';
import type { Config } from '../config';
import { listenTo } from '../db/listen';
import type { Orm } from '../db/orm';
import type { Logger } from '../logger';
import { webhookDelay, webhookEvents } from '../metrics';
import { processNext, WEBHOOKS_CHANNEL } from './inbox';

export interface WebhookWorker {
  /** Events being processed by this process right now. */
  busy(): number;
  /** Resolves once the worker LISTENs for new events (for tests). */
  ready(): Promise<void>;
  /** Lets each event in hand finish (its transaction commits or rolls back), then stops. */
  stop(): Promise<void>;
}

export type WebhookSettings = Config['webhooks'];

/**
 * The inbox worker every server process runs: `concurrency` loops, each taking one due event at a time
 * (inbox.ts, processNext). A loop that found nothing sleeps until PostgreSQL notifies a new event, a retry
 * this process scheduled falls due, or `pollMs` passes (retries scheduled by other processes, notices lost
 * while the listening connection was down).
 */
export function startWebhookWorker(orm: Orm, deps: BillingDeps, settings: WebhookSettings, logger: Logger): WebhookWorker {
  const log = logger.child({ component: 'webhooks' });
  let running = true;
  let inFlight = 0;
  const sleepers: Array<() => void> = [];
  const timers = new Set<NodeJS.Timeout>();
  // A notice that came while every loop was busy: the next loop to go to sleep looks again at once instead.
  let missed = false;

  const wakeOne = () => {
    const wake = sleepers.shift();
    if (wake) wake();
    else missed = true;
  };
  const wakeAll = () => sleepers.splice(0).forEach((wake) => wake());
  const wakeAt = (at: Date) => {
    const timer = setTimeout(
      () => {
        timers.delete(timer);
        wakeOne();
      },
      Math.max(0, at.getTime() - Date.now()),
    );
    timers.add(timer);
  };
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (missed) {
        missed = false;
        return resolve();
      }
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        const i = sleepers.indexOf(done);
        if (i >= 0) sleepers.splice(i, 1);
        resolve();
      }
      sleepers.push(done);
    });

  const listener = listenTo(orm.config.getClientUrl(), [WEBHOOKS_CHANNEL], { notice: wakeOne, listening: wakeAll }, log);

  /** Processes one due event if there is one; false when nothing was due (or the database failed). */
  const step = async (): Promise<boolean> => {
    inFlight++;
    try {
      const result = await processNext(orm.em.fork() as EntityManager, deps, settings);
      if (!result) return false;
      if (result.status === 'failed') {
        webhookEvents.inc({ type: result.type, outcome: result.retryAt ? 'retrying' : 'failed' });
        if (result.retryAt) wakeAt(result.retryAt);
      } else {
        webhookEvents.inc({ type: result.type, outcome: result.status });
        webhookDelay.observe({ type: result.type }, (Date.now() - result.receivedAt.getTime()) / 1000);
      }
      return true;
    } catch (err) {
      log.error({ err }, 'could not take an event from the webhook inbox');
      return false;
    } finally {
      inFlight--;
    }
  };

  const loop = async () => {
    while (running) {
      if (!(await step()) && running) await sleep(settings.pollMs);
    }
  };
  const loops = Array.from({ length: settings.concurrency }, loop);

  return {
    busy: () => inFlight,
    ready: () => listener.ready(),
    stop: async () => {
      running = false;
      for (const timer of timers) clearTimeout(timer);
      wakeAll();
      await Promise.all(loops);
      await listener.stop();
    },
  };
}
