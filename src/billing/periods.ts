import { DateTime } from 'luxon';
import { LimitPeriod } from '../entities';

/**
 * The windows a limit counts over, in the user's own IANA time zone: the local day, the ISO week (from
 * Monday), the calendar month, and all time. BILLING_PERIOD is the subscription's own period, so it is
 * decided in SQL from the subscription in force (see billing/limits).
 */

/** Display and lock order of the periods. */
export const PERIOD_ORDER: readonly LimitPeriod[] = [
  LimitPeriod.DAY,
  LimitPeriod.WEEK,
  LimitPeriod.MONTH,
  LimitPeriod.BILLING_PERIOD,
  LimitPeriod.TOTAL,
];

export interface LocalWindows {
  /** The user's local date, YYYY-MM-DD. */
  day: string;
  dayStart: Date;
  dayEnd: Date;
  weekStart: Date;
  weekEnd: Date;
  monthStart: Date;
  monthEnd: Date;
}

/** The last answer per time zone: it stays right until the local midnight (the hot path of every call). */
const cache = new Map<string, LocalWindows>();

export function localWindows(timezone: string, now: Date = new Date()): LocalWindows {
  const t = now.getTime();
  const cached = cache.get(timezone);
  if (cached && cached.dayStart.getTime() <= t && t < cached.dayEnd.getTime()) return cached;
  const local = DateTime.fromJSDate(now, { zone: timezone });
  const day = local.startOf('day');
  const week = local.startOf('week');
  const month = local.startOf('month');
  const windows: LocalWindows = {
    day: day.toISODate()!,
    dayStart: day.toJSDate(),
    dayEnd: day.plus({ days: 1 }).toJSDate(),
    weekStart: week.toJSDate(),
    weekEnd: week.plus({ weeks: 1 }).toJSDate(),
    monthStart: month.toJSDate(),
    monthEnd: month.plus({ months: 1 }).toJSDate(),
  };
  if (cache.size > 1000) cache.clear();
  cache.set(timezone, windows);
  return windows;
}

/** The user's local day at `now` and the instant it ends. */
export function localDay(timezone: string, now: Date = new Date()): { day: string; resetsAt: Date } {
  const { day, dayEnd } = localWindows(timezone, now);
  return { day, resetsAt: dayEnd };
}

/** `$3`..`$8` of the limit statements: the local windows, in the order WINDOWS reads them. */
export function windowParams(w: LocalWindows): Date[] {
  return [w.dayStart, w.dayEnd, w.weekStart, w.weekEnd, w.monthStart, w.monthEnd];
}

const LABELS: Record<LimitPeriod, string> = {
  [LimitPeriod.DAY]: 'Daily',
  [LimitPeriod.WEEK]: 'Weekly',
  [LimitPeriod.MONTH]: 'Monthly',
  [LimitPeriod.BILLING_PERIOD]: 'Billing-period',
  [LimitPeriod.TOTAL]: 'Total',
};

export const periodLabel = (period: LimitPeriod): string => LABELS[period];

/** The window as a message says it: "nothing left today", "not enough left this month". */
const WINDOWS: Record<LimitPeriod, string> = {
  [LimitPeriod.DAY]: 'today',
  [LimitPeriod.WEEK]: 'this week',
  [LimitPeriod.MONTH]: 'this month',
  [LimitPeriod.BILLING_PERIOD]: 'this billing period',
  [LimitPeriod.TOTAL]: 'in total',
};

export const windowWords = (period: LimitPeriod): string => WINDOWS[period];
