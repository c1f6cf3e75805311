/**
 * Billing periods as Stripe computes them, in UTC: day and week intervals are fixed lengths; month and
 * year intervals keep the anchor's day of the month (and time of day), falling back to the month's last
 * day when it has fewer days (an anchor on the 31st bills on Feb 28/29, then on Mar 31 again).
 */
export type Interval = 'day' | 'week' | 'month' | 'year';

export interface Recurrence {
  interval: Interval;
  interval_count: number;
}

const DAY = 86_400;

/** The time `n` whole intervals after `anchor` (unix seconds). */
export function addIntervals(anchor: number, r: Recurrence, n: number): number {
  const steps = r.interval_count * n;
  switch (r.interval) {
    case 'day':
      return anchor + steps * DAY;
    case 'week':
      return anchor + steps * 7 * DAY;
    case 'month':
      return addMonths(anchor, steps);
    case 'year':
      return addMonths(anchor, steps * 12);
  }
}

function addMonths(anchor: number, months: number): number {
  const d = new Date(anchor * 1000);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth() + months;
  const targetYear = y + Math.floor(m / 12);
  const targetMonth = ((m % 12) + 12) % 12;
  const lastDay = new Date(Date.UTC(targetYear, targetMonth + 1, 0)).getUTCDate();
  const day = Math.min(d.getUTCDate(), lastDay);
  return Math.floor(Date.UTC(targetYear, targetMonth, day, d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()) / 1000);
}

/** The period `[start, end)` number `index` (0 = the first) of a subscription anchored at `anchor`. */
export function periodAt(anchor: number, r: Recurrence, index: number): { start: number; end: number } {
  return { start: addIntervals(anchor, r, index), end: addIntervals(anchor, r, index + 1) };
}

/** The index of the period that starts at `start` (found by walking from the anchor). */
export function periodIndex(anchor: number, r: Recurrence, start: number): number {
  let i = 0;
  while (addIntervals(anchor, r, i + 1) <= start) i++;
  return i;
}
