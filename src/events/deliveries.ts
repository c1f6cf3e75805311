import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { asDate, query } from '../db/sql';
import { DeliveryStatus } from '../entities';
import { UUID } from '../ids';
import { parseInput } from '../input';

/** What admins see of deliveries: newest first, with the outcome of the last attempt. */

export interface DeliveryView {
  id: string;
  eventId: string;
  eventType: string;
  endpointId: string;
  userId: string;
  status: DeliveryStatus;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  lastDurationMs: number | null;
  lastAttemptAt: Date | null;
  nextAttemptAt: Date | null;
  deliveredAt: Date | null;
  createdAt: Date;
}

const DeliveriesSchema = z.object({
  endpointId: z.string().trim().regex(UUID, 'endpointId must be an endpoint id (a UUID)').nullish(),
  eventId: z.string().trim().max(64).nullish(),
  status: z.nativeEnum(DeliveryStatus).nullish(),
  first: z.number().int().min(1, 'first must be 1 to 100').max(100, 'first must be 1 to 100').default(20),
});
export type DeliveriesInput = z.input<typeof DeliveriesSchema>;

export async function listDeliveries(em: EntityManager, input: DeliveriesInput): Promise<DeliveryView[]> {
  const v = parseInput(DeliveriesSchema, input);
  const rows = await query<DeliveryView>(
    em,
    `select d.id::text as id, e.id as "eventId", e.type as "eventType", d.endpoint_id as "endpointId", d.user_id as "userId",
            d.status, d.attempts, d.last_status as "lastStatus", d.last_error as "lastError",
            d.last_duration_ms as "lastDurationMs", d.last_attempt_at as "lastAttemptAt",
            case when d.status = 'pending' then d.next_attempt_at end as "nextAttemptAt",
            d.delivered_at as "deliveredAt", d.created_at as "createdAt"
       from event_delivery d join outbox_event e on e.seq = d.event_seq
      where ($1::uuid is null or d.endpoint_id = $1::uuid) and ($2::text is null or e.id = $2::text) and ($3::text is null or d.status = $3::text)
      order by d.id desc
      limit $4`,
    [v.endpointId ?? null, v.eventId ?? null, v.status ?? null, v.first],
  );
  return rows.map((r) => ({
    ...r,
    lastAttemptAt: asDate(r.lastAttemptAt),
    nextAttemptAt: asDate(r.nextAttemptAt),
    deliveredAt: asDate(r.deliveredAt),
    createdAt: asDate(r.createdAt),
  }));
}
