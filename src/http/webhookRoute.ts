import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EntityManager } from '@mikro-orm/postgresql';
import getRawBody from 'raw-body';
import Stripe from 'stripe';
import type { Orm } from '../db/orm';
import { DomainError } from '../errors';
import { webhookEvents } from '../metrics';
import type { Logger } from '../logger';
import { isDataException, parseStripeEvent, storeEvent, type StoreResult } from '../sync/inbox';

/** Stripe's default tolerance for the signature timestamp, in seconds. */
const TOLERANCE_SECONDS = 300;
const BODY_LIMIT = '1mb';

/** POST /webhooks/stripe (with or without a query string): the requests `webhookHandler` serves. */
export function isWebhookRequest(req: IncomingMessage): boolean {
  if (req.method !== 'POST' || !req.url?.startsWith('/webhooks/stripe')) return false;
  const rest = req.url.slice('/webhooks/stripe'.length);
  return rest === '' || rest.startsWith('?');
}

const answer = (res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers }).end(JSON.stringify(body));
};

/**
 * POST /webhooks/stripe: raw body, signature always verified, event stored in the inbox, then
 * acknowledged at once; the webhook worker (src/sync/worker.ts) processes it, so Stripe's answer time is
 * not in the acknowledgement. 400 for a bad signature or a body that is not an event (zod, nothing
 * stored); 200 once stored (or already stored, or of an ignored type); 503 when the database is unreachable.
 * Served on node:http without Express, as /graphql is: the acknowledgement is all this route's work.
 */
export function webhookHandler(orm: Orm, secret: string | undefined, logger: Logger) {
  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!secret) {
      req.resume();
      logger.error('a Stripe webhook arrived but STRIPE_WEBHOOK_SECRET is not set');
      return answer(res, 500, { error: 'webhook secret not configured' });
    }
    let body: Buffer;
    try {
      body = await getRawBody(req, { length: req.headers['content-length'], limit: BODY_LIMIT });
    } catch (err) {
      const e = err as { status?: number; type?: string; message: string };
      webhookEvents.inc({ type: 'unknown', outcome: 'bad_request' });
      if (e.type === 'entity.too.large') return answer(res, 413, { error: `the body is larger than ${BODY_LIMIT}` });
      return answer(res, e.status ?? 400, { error: `the body could not be read: ${e.message}` });
    }
    const signature = req.headers['stripe-signature'];
    if (typeof signature !== 'string' || !signature) {
      webhookEvents.inc({ type: 'unknown', outcome: 'bad_request' });
      return answer(res, 400, { error: 'missing Stripe-Signature header' });
    }
    let event: Stripe.Event;
    try {
      event = Stripe.webhooks.constructEvent(body, signature, secret, TOLERANCE_SECONDS);
    } catch (err) {
      logger.warn({ reason: (err as Error).message }, 'refused a Stripe webhook with a bad signature');
      webhookEvents.inc({ type: 'unknown', outcome: 'bad_signature' });
      return answer(res, 400, { error: 'invalid signature' });
    }
    try {
      event = parseStripeEvent(event);
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      logger.warn({ reason: err.message, field: err.extensions.field }, 'refused a signed Stripe webhook that is not an event');
      webhookEvents.inc({ type: 'unknown', outcome: 'bad_request' });
      return answer(res, 400, { error: `the body is not a Stripe event: ${err.message}`, field: err.extensions.field });
    }

    let status: StoreResult;
    try {
      // One plain insert: the ORM's root EntityManager is enough.
      status = await storeEvent(orm.em as EntityManager, event);
    } catch (err) {
      if (isDataException(err)) {
        logger.warn({ err, stripeEvent: event.id }, 'refused a Stripe event the database cannot store');
        webhookEvents.inc({ type: event.type, outcome: 'bad_request' });
        return answer(res, 400, { error: 'the event holds a value the database cannot store' });
      }
      logger.error({ err, stripeEvent: event.id }, 'could not store a Stripe event');
      webhookEvents.inc({ type: event.type, outcome: 'database_unavailable' });
      return answer(res, 503, { error: 'database unavailable' }, { 'retry-after': '5' });
    }
    webhookEvents.inc({ type: event.type, outcome: status === 'pending' ? 'queued' : status });
    logger.debug({ stripeEvent: event.id, type: event.type, status }, 'Stripe event received');
    answer(res, 200, { received: true, status, stored: status !== 'duplicate' });
  };
  return (req: IncomingMessage, res: ServerResponse): Promise<void> =>
    serve(req, res).catch((err) => {
      logger.error({ err }, 'a Stripe webhook failed');
      if (!res.headersSent) answer(res, 500, { error: 'internal error' });
    });
}
