import { availableParallelism } from 'node:os';
import type { EntityManager } from '@mikro-orm/postgresql';
import { query } from '../db/sql';
import { badInput, conflict, DomainError } from '../errors';
import { shorten } from '../input';
import { LimitPeriod } from '../entities';
import { usageConsumed, usageRefused } from '../metrics';
import { usage, type MetricUsage } from './limitsRead';
import { Coalescer } from '../db/coalesce';
import {
  CONSUME_SQL,
  consumeUse,
  consumeUseParams,
  MAX_COUNT,
  type ConsumedRow,
  type ConsumeEvent,
  type ConsumeUse,
  type PlanGrace,
} from './limitsSql';
import { periodLabel, windowWords } from './periods';

/** One use's outcome: what it left, or why it was refused (nothing recorded for it). */
export type ConsumeResult = { ok: true; usage: MetricUsage } | { ok: false; error: DomainError };

/**
 * Checks and consumes uses in one statement (CONSUME_SQL), each as if it were alone and in order, and
 * answers each: its tightest window, the first answer again for a retried key, or its coded refusal.
 * Outside a transaction, calls that arrive while others are being consumed join them (joined): under load
 * a hot counter is locked once per group of uses instead of once per use.
 */
export async function consumeUses(
  em: EntityManager,
  events: ConsumeEvent[],
  now: Date,
  grace: PlanGrace,
  thresholdPercent: number,
): Promise<ConsumeResult[]> {
  if (events.length === 0) return [];
  const uses = events.map((e) => consumeUse(e, now));
  // Inside a caller's transaction a key written meanwhile fails that transaction (TG409): it cannot be run again alone.
  const rows = em.isInTransaction()
    ? await query<ConsumedRow>(em, CONSUME_SQL, consumeUseParams(uses, now, grace, thresholdPercent))
    : await joined(em, uses, now, grace, thresholdPercent);
  return rows.map((row, i) => outcome(row, events[i]));
}

interface QueuedUse {
  use: ConsumeUse;
  now: Date;
  grace: PlanGrace;
  thresholdPercent: number;
}

/**
 * Consume statements running at once per process; more calls wait and join (src/db/coalesce.ts). One per
 * core, at least two: more would mostly wait for the same counters' locks and the same CPU (bench:ingest
 * on 2 cores: 2 in flight 12,900 events/s, 4 in flight 11,700, 8 with groups of 200 at most 10,500).
 */
const CONSUMES_IN_FLIGHT = Math.max(2, availableParallelism());
/** The most uses one joined statement holds (a batch's own limit: a full batch runs alone). */
const MAX_JOINED_USES = 1000;
/** tollgate_consume's SQLSTATE when a key of the call was written by another call meanwhile. */
const KEY_WRITTEN_MEANWHILE = 'TG409';
const MAX_CONSUME_ATTEMPTS = 5;
const coalescers = new WeakMap<object, Coalescer<QueuedUse, ConsumedRow>>();

// Joined calls share one time, the latest of theirs (the statement runs after each of them began): so only
// calls within the same second join, and calls with other settings (tests) never do.
function joined(em: EntityManager, uses: ConsumeUse[], now: Date, grace: PlanGrace, thresholdPercent: number): Promise<ConsumedRow[]> {
  const connection = em.getConnection();
  let coalescer = coalescers.get(connection);
  if (!coalescer) {
    coalescer = new Coalescer({ maxInFlight: CONSUMES_IN_FLIGHT, maxItems: MAX_JOINED_USES, run: (queued) => consumeQueued(em, queued) });
    coalescers.set(connection, coalescer);
  }
  const key = `${Math.floor(now.getTime() / 1000)}:${grace.renewalSeconds}:${grace.pastDueDays}:${thresholdPercent}`;
  return coalescer.submit(
    key,
    uses.map((use) => ({ use, now, grace, thresholdPercent })),
  );
}

async function consumeQueued(em: EntityManager, queued: QueuedUse[]): Promise<ConsumedRow[]> {
  const { grace, thresholdPercent } = queued[0];
  const now = new Date(Math.max(...queued.map((q) => q.now.getTime())));
  const params = consumeUseParams(
    queued.map((q) => q.use),
    now,
    grace,
    thresholdPercent,
  );
  for (let attempt = 1; ; attempt++) {
    try {
      return await query<ConsumedRow>(em, CONSUME_SQL, params);
    } catch (err) {
      // Another call wrote one of these keys meanwhile and nothing of this one was kept: run it again, and
      // the key answers as a retry (or a conflict). Each round waits for the call it met, so few are needed.
      if ((err as { code?: string }).code !== KEY_WRITTEN_MEANWHILE || attempt === MAX_CONSUME_ATTEMPTS) throw err;
    }
  }
}

function outcome(row: ConsumedRow, { metric, amount, key }: ConsumeEvent): ConsumeResult {
  const period = (row.period ?? LimitPeriod.DAY) as LimitPeriod;
  switch (row.status) {
    case 'ok':
      usageConsumed.inc({ metric }, amount);
      return { ok: true, usage: usage(metric, period, row.allowance, row.used!, row.resets_at) };
    case 'retry':
      return { ok: true, usage: usage(metric, period, row.allowance, row.used!, row.resets_at) };
    case 'conflict':
      return {
        ok: false,
        error: conflict(`idempotencyKey "${shorten(key ?? '')}" was already used for ${row.amount} ${row.metric}`, {
          field: 'idempotencyKey',
        }),
      };
    case 'refused':
      usageRefused.inc({ metric });
      return { ok: false, error: limitExceeded(usage(metric, period, row.allowance, row.used!, row.resets_at), amount) };
    case 'overflow':
      return {
        ok: false,
        error: badInput(`The ${metric} counter cannot go past ${MAX_COUNT}: ${row.used} used, ${amount} requested`, {
          field: 'amount',
          used: row.used,
          requested: amount,
        }),
      };
    case 'unknown':
      return {
        ok: false,
        error: badInput(`Unknown metric "${shorten(metric)}": expected one of ${(row.known ?? []).join(', ')}`, { field: 'metric' }),
      };
  }
}

/** LIMIT_EXCEEDED for the window that refused `amount`. */
function limitExceeded({ metric, period, limit, used, remaining, resetsAt }: MetricUsage, amount: number): DomainError {
  return new DomainError(
    'LIMIT_EXCEEDED',
    remaining === 0
      ? `${periodLabel(period)} ${metric} limit of ${limit} reached: nothing left ${windowWords(period)}, ${amount} requested`
      : `Not enough ${metric} left ${windowWords(period)}: ${amount} requested, ${remaining} of ${limit} left; nothing was recorded`,
    { metric, period: period.toUpperCase(), limit, used, remaining, requested: amount, resetsAt: resetsAt?.toISOString() ?? null },
  );
}
