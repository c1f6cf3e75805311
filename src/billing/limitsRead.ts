import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { asDate, query } from '../db/sql';
import type { LimitPeriod } from '../entities';
import { parseInput } from '../input';
import { DEFAULT_PLAN_GRACE, FEATURE_SQL, graceParams, LIMITS_SQL, type PlanGrace } from './limitsSql';
import { localWindows, windowParams } from './periods';

/**
 * The read side of limits: what the plan in force allows and what is left in each window (myLimits), and
 * its features. The consume side, recordUsage and checkUsage, is in limits.ts.
 */

export interface LimitOwner {
  id: string;
  timezone: string;
}

export interface MetricUsage {
  metric: string;
  period: LimitPeriod;
  /** null = unlimited */
  limit: number | null;
  used: number;
  /** null = unlimited */
  remaining: number | null;
  /** When the window ends and the counter starts again from zero; null for TOTAL. */
  resetsAt: Date | null;
}

export interface LimitsPlan {
  id: string;
  code: string;
  name: string;
  description: string;
  isDefault: boolean;
  /** the plan's rank (see Plan.rank) */
  sortOrder: number;
  features: string[];
}

export interface Limits {
  plan: LimitsPlan;
  source: 'SUBSCRIPTION' | 'DEFAULT_PLAN';
  /** The user's local date, YYYY-MM-DD. */
  day: string;
  /** The next local midnight. */
  resetsAt: Date;
  features: string[];
  /** One entry per limited (metric, period), by metric then period. */
  metrics: MetricUsage[];
}

interface LimitsRow {
  plan_id: string;
  code: string;
  name: string;
  description: string;
  is_default: boolean;
  sort_order: number;
  features: string[];
  from_subscription: boolean;
  metric: string | null;
  period: LimitPeriod;
  allowance: number | null;
  resets_at: Date | string | null;
  used: number;
}

/** `grace` is the configuration's (RENEWAL_GRACE_SECONDS, PAST_DUE_GRACE_DAYS); the same for every read and consume below. */
export async function getLimits(
  em: EntityManager,
  user: LimitOwner,
  now: Date = new Date(),
  grace: PlanGrace = DEFAULT_PLAN_GRACE,
): Promise<Limits> {
  const windows = localWindows(user.timezone, now);
  const rows = await query<LimitsRow>(em, LIMITS_SQL, [user.id, now, ...graceParams(grace), ...windowParams(windows)]);
  if (rows.length === 0) throw new Error('No plan applies: the catalog has no default plan (run npm run seed)');
  const first = rows[0];
  return {
    plan: {
      id: first.plan_id,
      code: first.code,
      name: first.name,
      description: first.description,
      isDefault: first.is_default,
      sortOrder: first.sort_order,
      features: first.features,
    },
    source: first.from_subscription ? 'SUBSCRIPTION' : 'DEFAULT_PLAN',
    day: windows.day,
    resetsAt: windows.dayEnd,
    features: first.features,
    metrics: rows.filter((r) => r.metric !== null).map((r) => usage(r.metric!, r.period, r.allowance, r.used, r.resets_at)),
  };
}

export function usage(
  metric: string,
  period: LimitPeriod,
  limit: number | null,
  used: number,
  resetsAt: Date | string | null,
): MetricUsage {
  return { metric, period, limit, used, remaining: limit === null ? null : Math.max(0, limit - used), resetsAt: asDate(resetsAt) };
}

const featureInput = z.string().trim().min(1, 'key must not be empty').max(100, 'key must be at most 100 characters');

/** Whether the plan in force grants the feature. */
export async function hasFeature(
  em: EntityManager,
  user: LimitOwner,
  key: string,
  now: Date = new Date(),
  grace: PlanGrace = DEFAULT_PLAN_GRACE,
): Promise<boolean> {
  const feature = parseInput(featureInput, key);
  const [row] = await query<{ granted: boolean }>(em, FEATURE_SQL, [user.id, now, ...graceParams(grace), feature]);
  return row?.granted ?? false;
}
