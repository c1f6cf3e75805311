import type { EntityManager } from '@mikro-orm/postgresql';
import express, { Router } from 'express';
import Stripe from 'stripe';
import type { Orm } from '../db/orm';
import { DomainError } from '../errors';
import { webhookEvents } from '../metrics';
import type { Logger } from '../logger';
import { isDataException, parseStripeEvent, storeEvent, type StoreResult } from '../sync/inbox';

/** Stripe's default tolerance for the signature timestamp, in seconds. */
const TOLERANCE_SECONDS = 300;

/**
 * POST /webhooks/stripe: raw body, signature always verified, event stored in the inbox, then
 * acknowledged at once; the webhook worker (src/sync/worker.ts) processes it, so Stripe's answer time is
 * not in the acknowledgement. 400 for a bad signature or a body that is not an event (zod, nothing
 * stored); 200 once stored (or already stored, or of an ignored type); 503 when the database is unreachable.
 */
export function webhookRoutes(orm: Orm, secret: string | undefined, logger: Logger): Router {
  const router = Router();
  router.post('/webhooks/stripe', express.raw({ type: () => true, limit: '1mb' }), async (req, res) => {
    if (!secret) {
      logger.error('a Stripe webhook arrived but STRIPE_WEBHOOK_SECRET is not set');
      res.status(500).json({ error: 'webhook secret not configured' });
      return;
    }
    const signature = req.header('stripe-signature');
    if (!signature) {
      webhookEvents.inc({ type: 'unknown', outcome: 'bad_request' });
      res.status(400).json({ error: 'missing Stripe-Signature header' });
      return;
    }
    let event: Stripe.Event;
    try {
      event = Stripe.webhooks.constructEvent(Buffer.isBuffer(req.body) ? req.body : Buffer.from(''), signature, secret, TOLERANCE_SECONDS);
    } catch (err) {
      logger.warn({ reason: (err as Error).message }, 'refused a Stripe webhook with a bad signature');
      webhookEvents.inc({ type: 'unknown', outcome: 'bad_signature' });
      res.status(400).json({ error: 'invalid signature' });
      return;
    }
    try {
      event = parseStripeEvent(event);
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      logger.warn({ reason: err.message, field: err.extensions.field }, 'refused a signed Stripe webhook that is not an event');
      webhookEvents.inc({ type: 'unknown', outcome: 'bad_request' });
      res.status(400).json({ error: `the body is not a Stripe event: ${err.message}`, field: err.extensions.field });
      return;
    }

    // One plain insert: the ORM's root EntityManager is enough.
    const em = orm.em as EntityManager;
    let status: StoreResult;
    try {
      status = await storeEvent(em, event);
    } catch (err) {
      if (isDataException(err)) {
        logger.warn({ err, stripeEvent: event.id }, 'refused a Stripe event the database cannot store');
        webhookEvents.inc({ type: event.type, outcome: 'bad_request' });
        res.status(400).json({ error: 'the event holds a value the database cannot store' });
        return;
      }
      logger.error({ err, stripeEvent: event.id }, 'could not store a Stripe event');
      webhookEvents.inc({ type: event.type, outcome: 'database_unavailable' });
      res.status(503).set('retry-after', '5').json({ error: 'database unavailable' });
      return;
    }
    webhookEvents.inc({ type: event.type, outcome: status === 'pending' ? 'queued' : status });
    logger.debug({ stripeEvent: event.id, type: event.type, status }, 'Stripe event received');
    res.status(200).json({ received: true, status, stored: status !== 'duplicate' });
  });
  return router;
}
