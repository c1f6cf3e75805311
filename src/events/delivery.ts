import type { EntityManager } from '@mikro-orm/postgresql';
import type { Config } from '../config';
import { query } from '../db/sql';
import type { Logger } from '../logger';
import { renderEvent, type EventRow } from './payloads';
import { SIGNATURE_HEADER, signatureHeader } from './signature';

/**
 * Sends due deliveries: at least once, in order per (endpoint, user), each by one server process.
 * A claim leases the head of each (endpoint, user) queue with FOR UPDATE SKIP LOCKED and moves its next
 * attempt past the request's timeout, so another process skips it while it is in flight and retries it
 * only if this one dies before recording the outcome.
 */

export type DeliverySettings = Config['events'];

interface Claimed extends EventRow {
  deliveryId: string;
  attempts: number;
  url: string;
  secret: string;
}

const CLAIM = `
  with due as (
    select d.id from event_delivery d
      join event_endpoint p on p.id = d.endpoint_id and p.disabled_at is null
     where d.status = 'pending' and d.next_attempt_at <= now()
       and not exists (select 1 from event_delivery e
                        where e.endpoint_id = d.endpoint_id and e.user_id = d.user_id
                          and e.status = 'pending' and e.event_seq < d.event_seq)
     order by d.event_seq
     limit $1
     for update of d skip locked
  )
  update event_delivery d
     set attempts = d.attempts + 1, last_attempt_at = now(), next_attempt_at = now() + make_interval(secs => $2)
    from due, outbox_event ev, event_endpoint p
   where d.id = due.id and ev.seq = d.event_seq and p.id = d.endpoint_id
  returning d.id as "deliveryId", d.attempts, p.url, p.secret, ev.seq, ev.id, ev.type, ev.user_id as "userId", ev.data,
            ev.created_at as "createdAt", (select external_id from app_user where id = ev.user_id) as "externalId"`;

/** Exponential backoff with jitter: half the doubled delay fixed, half random, capped. */
export function backoffMs(attempts: number, settings: Pick<DeliverySettings, 'retryBaseMs' | 'retryMaxMs'>): number {
  const delay = Math.min(settings.retryMaxMs, settings.retryBaseMs * 2 ** Math.min(attempts - 1, 30));
  return Math.round(delay / 2 + (Math.random() * delay) / 2);
}

/** Claims up to `limit` due deliveries, sends them and records each outcome; returns how many were claimed. */
export async function deliverDue(em: EntityManager, settings: DeliverySettings, logger: Logger, limit = 20): Promise<number> {
  const leaseSeconds = Math.ceil((settings.timeoutMs * 2) / 1000) + 5;
  const claimed = await query<Claimed>(em, CLAIM, [limit, leaseSeconds]);
  await Promise.all(claimed.map((c) => deliverOne(em, c, settings, logger)));
  return claimed.length;
}

interface Outcome {
  status: number | null;
  error: string | null;
  durationMs: number;
}

async function post(c: Claimed, timeoutMs: number): Promise<Outcome> {
  const body = JSON.stringify(renderEvent(c));
  const started = performance.now();
  try {
    const res = await fetch(c.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'Tollgate', [SIGNATURE_HEADER]: signatureHeader(c.secret, body) },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.body?.cancel();
    const ok = res.status >= 200 && res.status < 300;
    return { status: res.status, error: ok ? null : `HTTP ${res.status}`, durationMs: Math.round(performance.now() - started) };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    const error = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.message);
    return { status: null, error, durationMs: Math.round(performance.now() - started) };
  }
}

async function deliverOne(em: EntityManager, c: Claimed, settings: DeliverySettings, logger: Logger): Promise<void> {
  const outcome = await post(c, settings.timeoutMs);
  const fields = { event: c.id, type: c.type, delivery: c.deliveryId, url: c.url, attempt: c.attempts, ...outcome };
  if (outcome.error === null) {
    await query(
      em,
      `update event_delivery set status = 'delivered', delivered_at = now(), last_status = $2, last_error = null, last_duration_ms = $3
        where id = $1`,
      [c.deliveryId, outcome.status, outcome.durationMs],
    );
    logger.info(fields, 'event delivered');
    return;
  }
  const retryAt = Date.now() + backoffMs(c.attempts, settings);
  const giveUp = retryAt - new Date(c.createdAt).getTime() > settings.retryForMs;
  await query(
    em,
    `update event_delivery set status = $2, next_attempt_at = $3, last_status = $4, last_error = $5, last_duration_ms = $6 where id = $1`,
    [c.deliveryId, giveUp ? 'failed' : 'pending', new Date(retryAt), outcome.status, outcome.error.slice(0, 500), outcome.durationMs],
  );
  logger.warn(
    { ...fields, retryAt: giveUp ? null : new Date(retryAt) },
    giveUp ? 'event delivery failed for good' : 'event delivery failed; will retry',
  );
}
