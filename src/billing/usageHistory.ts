import type { EntityManager } from '@mikro-orm/postgresql';
import { DateTime } from 'luxon';
import { z } from 'zod';
import { query } from '../db/sql';
import { parseInput } from '../input';
import type { LimitOwner } from './limits';

/**
 * What a user used of a metric per local day, for charts. Read from the DAY counters: every use counts in
 * its DAY window whether or not the metric has a daily limit (see limitsSql CONSUME_SQL), so the history
 * needs no table of its own. Days are the user's current time zone's.
 */

export const MAX_HISTORY_DAYS = 400;

export interface DailyUsage {
  /** YYYY-MM-DD, the user's local date. */
  day: string;
  used: number;
}

const localDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date, YYYY-MM-DD')
  .refine((s) => DateTime.fromISO(s).isValid, 'must be a real calendar date');

const historyInput = z
  .object({
    metric: z.string().trim().min(1, 'metric must not be empty').max(100, 'metric must be at most 100 characters'),
    from: localDate,
    to: localDate,
  })
  .refine((i) => i.from <= i.to, { message: 'from must not be after to', path: ['from'] })
  .refine((i) => days(i.from, i.to) <= MAX_HISTORY_DAYS, {
    message: `The range may cover at most ${MAX_HISTORY_DAYS} days`,
    path: ['to'],
  });

function days(from: string, to: string): number {
  return DateTime.fromISO(to).diff(DateTime.fromISO(from), 'days').days + 1;
}

/** One entry per local day from `from` to `to` (both included), zero where nothing was used. */
export async function usageHistory(
  em: EntityManager,
  user: LimitOwner,
  input: { metric: string; from: string; to: string },
): Promise<DailyUsage[]> {
  const { metric, from, to } = parseInput(historyInput, input);
  const start = DateTime.fromISO(from, { zone: user.timezone }).startOf('day');
  const end = DateTime.fromISO(to, { zone: user.timezone }).startOf('day').plus({ days: 1 });
  const rows = await query<{ day: string; used: number }>(
    em,
    `select to_char(window_start at time zone $3, 'YYYY-MM-DD') as day, sum(used)::int as used from usage_counter
      where user_id = $1 and metric = $2 and period = 'day' and window_start >= $4 and window_start < $5
      group by 1`,
    [user.id, metric, user.timezone, start.toJSDate(), end.toJSDate()],
  );
  const used = new Map(rows.map((r) => [r.day, r.used]));
  const result: DailyUsage[] = [];
  for (let d = DateTime.fromISO(from); d.toISODate()! <= to; d = d.plus({ days: 1 })) {
    result.push({ day: d.toISODate()!, used: used.get(d.toISODate()!) ?? 0 });
  }
  return result;
}
