import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import { z } from 'zod';
import type { BillingDeps } from '../billing/deps';
import type { Config } from '../config';
import { asDate, query } from '../db/sql';
import { StripeEventStatus } from '../entities';
import { parseInput } from '../input';
import { IDEMPOTENCY_PREFIX } from '../stripe/client';
import { handlerFor } from './handlers';

/**
 * The webhook inbox. Every verified event is stored, keyed by Stripe's event id, and acknowledged; a
 * worker in each server process (worker.ts) then takes due events one at a time with FOR UPDATE SKIP
 * LOCKED and processes each in one transaction, so an event delivered twice, or to two processes, is
 * applied once. Handlers re-fetch the object from Stripe, so order and age of deliveries do not matter.
 * A failure is recorded on the event with its next attempt, after an exponential backoff, until
 * WEBHOOK_MAX_ATTEMPTS, when it stays failed for stripe:replay.
 */

/** What PostgreSQL notifies when a pending event is stored (the trigger of Migration20261206150000). */
export const WEBHOOKS_CHANNEL = 'tollgate_webhooks';

export type RetrySettings = Pick<Config['webhooks'], 'retryBaseMs' | 'retryMaxMs' | 'maxAttempts'>;

/** How a delivery was stored: to be processed, of a type Tollgate does not handle, or already there. */
export type StoreResult = 'pending' | 'ignored' | 'duplicate';

export type ReceiveResult =
  { status: 'processed' | 'ignored' | 'duplicate'; outcome?: string } | { status: 'failed'; error: string; retryAt: Date | null };

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

/** Stores one event unless its id is stored already; returns its status when it was stored. */
export const STORE_EVENT_SQL = `
  insert into stripe_event (id, type, status, attempts, payload, livemode, stripe_created_at, received_at, own_request,
                            processed_at, outcome, next_attempt_at)
  values ($1, $2, $3, $4, $5, $6, to_timestamp($7), now(), $8,
          case when $3 = 'ignored' then now() end, $9, case when $3 = 'pending' then now() end)
  on conflict (id) do nothing
  returning status`;

/**
 * STORE_EVENT_SQL's parameters: a type without a handler is stored as ignored at once; any other is
 * pending and due now, and its insert notifies the workers.
 */
export function storeEventParams(event: Stripe.Event): unknown[] {
  const ownRequest = Boolean(event.request?.idempotency_key?.startsWith(`${IDEMPOTENCY_PREFIX}:`));
  const status = handlerFor(event.type) ? 'pending' : 'ignored';
  return [
    event.id,
    event.type,
    status,
    status === 'ignored' ? 1 : 0,
    JSON.stringify(event),
    event.livemode,
    event.created,
    ownRequest,
    status === 'ignored' ? `no handler for ${event.type}` : null,
  ];
}

/** Stores the event once (a duplicate changes nothing). */
export async function storeEvent(em: EntityManager, event: Stripe.Event): Promise<StoreResult> {
  const rows = await query<{ status: StoreResult }>(em, STORE_EVENT_SQL, storeEventParams(event));
  return rows[0]?.status ?? 'duplicate';
}

interface InboxRow {
  id: string;
  status: StripeEventStatus;
  attempts: number;
  payload: Stripe.Event;
  own_request: boolean | null;
  received_at: Date | string;
}
const ROW_COLUMNS = 'id, status, attempts, payload, own_request, received_at';

/**
 * Takes the next due event no other worker holds and processes it, in one transaction whose row lock
 * keeps it from the others until it commits (or, if this process dies, rolls back and frees it).
 * Returns null when nothing is due.
 */
export async function processNext(
  em: EntityManager,
  deps: BillingDeps,
  retry: RetrySettings,
): Promise<(ReceiveResult & { id: string; type: string; receivedAt: Date }) | null> {
  return em.transactional(async (tx) => {
    const [row] = await query<InboxRow>(
      tx,
      `select ${ROW_COLUMNS} from stripe_event
        where status in ('pending', 'failed') and next_attempt_at <= now()
        order by next_attempt_at limit 1
        for update skip locked`,
    );
    if (!row) return null;
    const result = await applyEvent(tx, deps, row, retry);
    return { ...result, id: row.id, type: row.payload.type, receivedAt: asDate(row.received_at) };
  });
}

/**
 * Processes one stored event now, waiting for a worker that holds it (replay). `force` re-runs an event
 * that was already processed.
 */
export async function processEvent(
  em: EntityManager,
  deps: BillingDeps,
  eventId: string,
  options: { force?: boolean; retry: RetrySettings },
): Promise<ReceiveResult> {
  return em.transactional(async (tx) => {
    const [row] = await query<InboxRow>(tx, `select ${ROW_COLUMNS} from stripe_event where id = $1 for update`, [eventId]);
    if (!row) throw new Error(`event ${eventId} is not in the inbox`);
    if (!options.force && (row.status === StripeEventStatus.PROCESSED || row.status === StripeEventStatus.IGNORED)) {
      return { status: 'duplicate' as const };
    }
    return applyEvent(tx, deps, row, options.retry);
  });
}

/** The next attempt after `attempts` failed ones: exponential, half of it random, capped; null once given up. */
export function nextAttemptAt(attempts: number, retry: RetrySettings, now = Date.now()): Date | null {
  if (attempts >= retry.maxAttempts) return null;
  const delay = Math.min(retry.retryMaxMs, retry.retryBaseMs * 2 ** Math.min(attempts - 1, 30));
  return new Date(now + Math.round(delay / 2 + (Math.random() * delay) / 2));
}

/**
 * Runs the event's handler on the locked row. The handler's writes and the marking as processed share a
 * savepoint: when either fails both are undone, and the failure and next attempt are recorded on the row
 * in the outer transaction, which still holds it. Two events about the same Stripe object wait for each
 * other (an advisory lock on its id), so the later re-fetch is also the later write.
 */
async function applyEvent(tx: EntityManager, deps: BillingDeps, row: InboxRow, retry: RetrySettings): Promise<ReceiveResult> {
  const event = row.payload;
  const log = deps.logger.child({ stripeEvent: row.id });
  const handler = handlerFor(event.type);
  if (!handler) {
    await query(
      tx,
      `update stripe_event set status = 'ignored', attempts = attempts + 1, processed_at = now(), outcome = $2, last_error = null,
              next_attempt_at = null
        where id = $1`,
      [row.id, `no handler for ${event.type}`],
    );
    log.debug({ type: event.type }, 'ignored a Stripe event type Tollgate does not handle');
    return { status: 'ignored' };
  }
  try {
    const outcome = await tx.transactional(async (inner) => {
      const objectId = (event.data.object as { id?: unknown }).id;
      if (typeof objectId === 'string') {
        await query(inner, `select pg_advisory_xact_lock(hashtextextended($1, 0))`, [`tollgate:stripe-object:${objectId}`]);
      }
      const done = await handler(inner, deps, event);
      await inner.flush();
      await query(
        inner,
        `update stripe_event set status = 'processed', attempts = attempts + 1, processed_at = now(), outcome = $2, last_error = null,
                next_attempt_at = null
          where id = $1`,
        [row.id, done],
      );
      return done;
    });
    log.info(
      { type: event.type, origin: row.own_request ? 'tollgate' : 'external', outcome, attempt: row.attempts + 1 },
      'Stripe event applied',
    );
    return { status: 'processed', outcome };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const attempt = row.attempts + 1;
    const retryAt = nextAttemptAt(attempt, retry);
    await query(tx, `update stripe_event set status = 'failed', attempts = $2, last_error = $3, next_attempt_at = $4 where id = $1`, [
      row.id,
      attempt,
      message.slice(0, 2000),
      retryAt,
    ]);
    if (retryAt) log.warn({ err, type: event.type, attempt, retryAt }, 'Stripe event failed; it will be retried');
    else log.error({ err, type: event.type, attempt }, 'Stripe event failed for good; stripe:replay runs it again');
    return { status: 'failed', error: message, retryAt };
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
