import type { EntityManager } from '@mikro-orm/postgresql';
import type { Orm } from '../db/orm';
import type { Logger } from '../logger';
import { deliverDue, type DeliverySettings } from './delivery';

export interface EventWorker {
  /** Delivers at once instead of waiting for the next poll. */
  wake(): void;
  /** Finishes the round in flight and stops. */
  stop(): Promise<void>;
}

/** The delivery loop every server process runs: a round of due deliveries, then the next at once or after pollMs. */
export function startEventWorker(orm: Orm, settings: DeliverySettings, logger: Logger): EventWorker {
  const log = logger.child({ component: 'events' });
  let running = true;
  let timer: NodeJS.Timeout | undefined;
  let wakeUp: (() => void) | undefined;
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      wakeUp = resolve;
      timer = setTimeout(resolve, ms);
    });

  const loop = async () => {
    while (running) {
      let claimed = 0;
      try {
        claimed = await deliverDue(orm.em as EntityManager, settings, log);
      } catch (err) {
        log.error({ err }, 'event delivery round failed');
      }
      if (running && claimed === 0) await pause(settings.pollMs);
    }
  };
  const done = loop();

  return {
    wake: () => wakeUp?.(),
    stop: async () => {
      running = false;
      clearTimeout(timer);
      wakeUp?.();
      await done;
    },
  };
}
