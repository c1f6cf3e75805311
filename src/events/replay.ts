import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { query } from '../db/sql';
import { UUID } from '../ids';
import { parseInput } from '../input';

/**
 * Sends events again: one event by id, or every event since a time, to every enabled endpoint that wants
 * its type (or to one endpoint). Each is a new delivery, queued behind what is pending for its user.
 */

const ReplaySchema = z
  .object({
    since: z
      .string()
      .trim()
      .max(40)
      .refine((v) => !Number.isNaN(Date.parse(v)), { message: 'since must be a date and time such as 2026-12-01T00:00:00Z' })
      .transform((v) => new Date(v))
      .nullish(),
    eventId: z
      .string()
      .trim()
      .regex(/^evt_[0-9a-f]{24}$/, 'event must be an event id (evt_ and 24 hex characters)')
      .nullish(),
    endpointId: z.string().trim().regex(UUID, 'endpoint must be an endpoint id (a UUID)').nullish(),
  })
  .refine((v) => (v.since ? 1 : 0) + (v.eventId ? 1 : 0) === 1, { message: 'give either since or event, not both' });
export type ReplayInput = z.input<typeof ReplaySchema>;

/** Queues the deliveries; returns how many. */
export async function replayEvents(em: EntityManager, input: ReplayInput): Promise<number> {
  const v = parseInput(ReplaySchema, input);
  const rows = await query<{ n: string }>(
    em,
    `with queued as (
       insert into event_delivery (endpoint_id, event_seq, user_id, next_attempt_at, created_at)
       select p.id, ev.seq, ev.user_id, now(), now()
         from outbox_event ev
         join event_endpoint p on p.disabled_at is null
          and (ev.type = any(p.events) or split_part(ev.type, '.', 1) || '.*' = any(p.events) or '*' = any(p.events))
        where (ev.created_at >= $1 or ev.id = $2) and ($3::uuid is null or p.id = $3::uuid)
        order by ev.seq
       returning 1)
     select count(*) as n from queued`,
    [v.since ?? null, v.eventId ?? null, v.endpointId ?? null],
  );
  return Number(rows[0].n);
}
