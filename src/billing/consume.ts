import type { EntityManager } from '@mikro-orm/postgresql';
import { query } from '../db/sql';
import { badInput, conflict, DomainError } from '../errors';
import { shorten } from '../input';
import { LimitPeriod } from '../entities';
import { usageConsumed, usageRefused } from '../metrics';
import { usage, type MetricUsage } from './limitsRead';
import { CONSUME_SQL, consumeParams, MAX_COUNT, type ConsumedRow, type ConsumeEvent, type PlanGrace } from './limitsSql';
import { periodLabel, windowWords } from './periods';

/** One use's outcome: what it left, or why it was refused (nothing recorded for it). */
export type ConsumeResult = { ok: true; usage: MetricUsage } | { ok: false; error: DomainError };

/**
 * Checks and consumes uses in one statement (CONSUME_SQL), each as if it were alone and in order, and
 * answers each: its tightest window, the first answer again for a retried key, or its coded refusal.
 */
export async function consumeUses(
  em: EntityManager,
  events: ConsumeEvent[],
  now: Date,
  grace: PlanGrace,
  thresholdPercent: number,
): Promise<ConsumeResult[]> {
  if (events.length === 0) return [];
  const rows = await query<ConsumedRow>(em, CONSUME_SQL, consumeParams(events, now, grace, thresholdPercent));
  return rows.map((row, i) => outcome(row, events[i]));
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
