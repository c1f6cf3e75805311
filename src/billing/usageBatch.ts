import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { MAX_EXTERNAL_ID_LENGTH, type AuthUser } from '../auth/principal';
import { query } from '../db/sql';
import { badInput, DomainError, forbidden } from '../errors';
import { parseInput, shorten } from '../input';
import { consumeUses, type ConsumeResult } from './consume';
import { DEFAULT_PLAN_GRACE, DEFAULT_USAGE_THRESHOLD, parseUse, type LimitOwner, type PlanGrace, type RecordUsageInput } from './limits';
import type { ConsumeEvent } from './limitsSql';

export const MAX_BATCH = 1000;

/** Who sends a batch: a user records only their own usage; a service key names the user of each event. */
export type BatchSender = { kind: 'user'; user: AuthUser } | { kind: 'service' };

export interface UsageEventInput extends RecordUsageInput {
  /** The product's id of the user (externalId); a user may leave it out or name themselves. */
  user?: string | null;
}

/** One event's outcome: what it left, or why it was refused (nothing recorded for it). */
export type UsageEventResult = ConsumeResult;

const batchSize = z
  .array(z.unknown())
  .min(1, 'events must hold at least one event')
  .max(MAX_BATCH, `events may hold at most ${MAX_BATCH} events: send more in several calls`);

/**
 * Records many uses in one call, in order. Each event is checked and consumed exactly as recordUsage would
 * (against every limit of its metric, its idempotency key answering a retry again; a later event sees what
 * the earlier ones used), and a refused event is reported in its place without failing the others. The
 * users are looked up in one statement and all the events are consumed in one more (consumeUses).
 */
export async function recordUsageBatch(
  em: EntityManager,
  sender: BatchSender,
  events: UsageEventInput[],
  now: Date = new Date(),
  grace: PlanGrace = DEFAULT_PLAN_GRACE,
  thresholdPercent: number = DEFAULT_USAGE_THRESHOLD,
): Promise<UsageEventResult[]> {
  parseInput(z.object({ events: batchSize }), { events });
  const owners = await ownersOf(em, sender, events);
  const checked = events.map((event) => checkEvent(ownerOf(sender, owners, event.user), event));
  const uses = checked.filter((c): c is ConsumeEvent => !(c instanceof DomainError));
  const consumed = await consumeUses(em, uses, now, grace, thresholdPercent);
  let next = 0;
  return checked.map((c) => (c instanceof DomainError ? { ok: false, error: c } : consumed[next++]));
}

/** The use an event asks for, or why it cannot be made (a bad user, key, metric or amount): recordUsage's checks. */
function checkEvent(owner: LimitOwner | DomainError, event: UsageEventInput): ConsumeEvent | DomainError {
  if (owner instanceof DomainError) return owner;
  if (!event.idempotencyKey?.trim()) return badInput('idempotencyKey is required for each event of a batch', { field: 'idempotencyKey' });
  try {
    const { metric, amount, idempotencyKey } = parseUse(event);
    return { owner, metric, amount, key: idempotencyKey! };
  } catch (err) {
    if (err instanceof DomainError) return err;
    throw err;
  }
}

/** The users a service key's batch names, by externalId, in one statement. */
async function ownersOf(em: EntityManager, sender: BatchSender, events: UsageEventInput[]): Promise<Map<string, LimitOwner>> {
  if (sender.kind === 'user') return new Map();
  const named = [
    ...new Set(events.map((e) => e.user).filter((u): u is string => typeof u === 'string' && u.length <= MAX_EXTERNAL_ID_LENGTH)),
  ];
  const rows = await query<LimitOwner & { external_id: string }>(
    em,
    'select id, timezone, external_id from app_user where external_id = any($1)',
    [named],
  );
  return new Map(rows.map((r) => [r.external_id, { id: r.id, timezone: r.timezone }]));
}

function ownerOf(sender: BatchSender, owners: Map<string, LimitOwner>, named: string | null | undefined): LimitOwner | DomainError {
  if (sender.kind === 'user') {
    if (named == null || named === sender.user.externalId) return sender.user;
    return forbidden('A user records only their own usage: leave user out, or name yourself', { field: 'user' });
  }
  if (named == null || named === '') return badInput('Name the user of each event (user: their externalId)', { field: 'user' });
  if (named.length > MAX_EXTERNAL_ID_LENGTH) return badInput(`user is longer than ${MAX_EXTERNAL_ID_LENGTH} characters`, { field: 'user' });
  return (
    owners.get(named) ??
    new DomainError('NOT_FOUND', `No user has externalId "${shorten(named)}": create it with upsertUser first`, { field: 'user' })
  );
}
