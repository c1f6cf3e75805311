import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import { z } from 'zod';
import type { BillingDeps } from '../billing/deps';
import { query } from '../db/sql';
import { StripeEventStatus } from '../entities';
import { parseInput } from '../input';
import { IDEMPOTENCY_PREFIX } from '../stripe/client';
import { handlerFor } from './handlers';

/**
 * The webhook inbox. Every verified event is stored, keyed by Stripe's event id, before it is
 * acknowledged; processing it and marking it done happen in one transaction, under a row lock, so an
 * event delivered twice (or to two server processes at once) is applied once. Handlers re-fetch the
 * object from Stripe, so order and age of deliveries do not matter.
 */

export type ReceiveResult = { status: 'processed' | 'ignored' | 'duplicate'; outcome?: string } | { status: 'failed'; error: string };

/** The latest instant PostgreSQL's to_timestamp and our column take without an error (9999-12-31). */
const LAST_TIMESTAMP = 253_402_300_799;
const text = (max: number) => z.string().min(1).max(max);

/**
 * What the inbox needs of an event, checked before it is stored: a validly signed body that is not an
 * event of this shape is a bad request (400), never a database failure.
 */
const StripeEventEnvelope = z
  .object({
    id: text(255),
    object: z.literal('event'),
    type: text(255),
    created: z.number().int().min(0).max(LAST_TIMESTAMP),
    livemode: z.boolean(),
    data: z.object({ object: z.object({}).passthrough() }).passthrough(),
    request: z
      .object({ idempotency_key: z.string().max(255).nullish() })
      .passthrough()
      .nullish(),
  })
  .passthrough();

/** The verified body as a Stripe event, or BAD_USER_INPUT naming the first field that is wrong. */
export function parseStripeEvent(body: unknown): Stripe.Event {
  return parseInput(StripeEventEnvelope, body) as unknown as Stripe.Event;
}

/** PostgreSQL refused a value (SQLSTATE class 22, e.g. a NUL character in JSON): the payload is at fault, not the database. */
export function isDataException(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('22');
}

/** Stores the event (idempotently). Returns false when it was already stored. */
export async function storeEvent(em: EntityManager, event: Stripe.Event): Promise<boolean> {
  const ownRequest = Boolean(event.request?.idempotency_key?.startsWith(`${IDEMPOTENCY_PREFIX}:`));
  const rows = await query(
    em,
    `insert into stripe_event (id, type, status, attempts, payload, livemode, stripe_created_at, received_at, own_request)
     values ($1, $2, 'pending', 0, $3, $4, to_timestamp($5), now(), $6)
     on conflict (id) do nothing
     returning id`,
    [event.id, event.type, JSON.stringify(event), event.livemode, event.created, ownRequest],
  );
  return rows.length === 1;
}

/**
 * Processes a stored event once. `force` re-runs an event that was already processed (replay).
 * A handler failure rolls its writes back, records the error and attempt, and is rethrown.
 */
export async function processEvent(
  em: EntityManager,
  deps: BillingDeps,
  eventId: string,
  options: { force?: boolean } = {},
): Promise<ReceiveResult> {
  const log = deps.logger.child({ stripeEvent: eventId });
  try {
    return await em.transactional(async (tx) => {
      const [row] = await query<{ status: StripeEventStatus; payload: Stripe.Event; own_request: boolean | null }>(
        tx,
        `select status, payload, own_request from stripe_event where id = $1 for update`,
        [eventId],
      );
      if (!row) throw new Error(`event ${eventId} is not in the inbox`);
      if (!options.force && (row.status === StripeEventStatus.PROCESSED || row.status === StripeEventStatus.IGNORED)) {
        return { status: 'duplicate' as const };
      }
      const event = row.payload;
      const handler = handlerFor(event.type);
      if (!handler) {
        await query(
          tx,
          `update stripe_event set status = 'ignored', attempts = attempts + 1, processed_at = now(), outcome = $2, last_error = null where id = $1`,
          [eventId, `no handler for ${event.type}`],
        );
        log.debug({ type: event.type }, 'ignored a Stripe event type Tollgate does not handle');
        return { status: 'ignored' as const };
      }
      const outcome = await handler(tx, deps, event);
      await tx.flush();
      await query(
        tx,
        `update stripe_event set status = 'processed', attempts = attempts + 1, processed_at = now(), outcome = $2, last_error = null where id = $1`,
        [eventId, outcome],
      );
      log.info({ type: event.type, origin: row.own_request ? 'tollgate' : 'external', outcome }, 'Stripe event applied');
      return { status: 'processed' as const, outcome };
    });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    await query(em, `update stripe_event set status = 'failed', attempts = attempts + 1, last_error = $2 where id = $1`, [
      eventId,
      message.slice(0, 2000),
    ]).catch((e) => log.error({ err: e }, 'could not record the failure of a Stripe event'));
    log.error({ err }, 'Stripe event failed; Stripe will deliver it again');
    return { status: 'failed', error: message };
  }
}

/** Ids of stored events to replay: the failed ones (and pending ones older than a minute), oldest first. */
export async function replayableEvents(em: EntityManager): Promise<string[]> {
  const rows = await query<{ id: string }>(
    em,
    `select id from stripe_event
      where status = 'failed' or (status = 'pending' and received_at < now() - interval '1 minute')
      order by stripe_created_at, received_at`,
  );
  return rows.map((r) => r.id);
}
