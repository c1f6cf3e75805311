import type { IncomingMessage } from 'node:http';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Router } from 'express';
import type { BillingDeps } from '../billing/deps';
import { syncCheckoutSession } from '../billing/subscriptions/checkout';
import { Subscription, SubscriptionStatus } from '../entities';
import type { Orm } from '../db/orm';
import type { Logger } from '../logger';
import { UUID } from '../ids';
import { sendPage } from './pages';

/**
 * Where Checkout sends the person back: the success route syncs the session from Stripe (so the
 * subscription appears without waiting for a webhook), then redirects to the client's URL or shows a page.
 */
export function subscriptionReturnRoutes(orm: Orm, deps: (req: IncomingMessage) => BillingDeps, logger: Logger): Router {
  const router = Router();

  router.get('/subscriptions/:id/success', async (req, res) => {
    const sessionId = typeof req.query.session_id === 'string' ? req.query.session_id : undefined;
    if (!UUID.test(req.params.id) || !sessionId) {
      sendPage(res, 400, 'Unknown checkout', 'This link is not valid.');
      return;
    }
    const em = orm.em.fork() as EntityManager;
    const own = await em.findOne(Subscription, { id: req.params.id });
    if (!own || (own.stripeCheckoutSessionId && own.stripeCheckoutSessionId !== sessionId)) {
      sendPage(res, 404, 'Unknown checkout', 'This link does not belong to a subscription.');
      return;
    }
    try {
      const sub = await syncCheckoutSession(em, deps(req), sessionId);
      if (sub?.successUrl) {
        res.redirect(303, sub.successUrl);
        return;
      }
      const active = sub && [SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING].includes(sub.status);
      sendPage(
        res,
        200,
        active ? 'Subscription active' : 'Payment received',
        active ? 'Thank you: your subscription is active.' : 'Thank you: your subscription will be active in a moment.',
      );
    } catch (err) {
      logger.error({ err, subscription: req.params.id }, 'could not sync a completed Checkout Session');
      sendPage(res, 502, 'Almost there', 'Your payment is being confirmed; your subscription will appear shortly.');
    }
  });

  router.get('/subscriptions/:id/cancel', async (req, res) => {
    const em = orm.em.fork() as EntityManager;
    const sub = UUID.test(req.params.id) ? await em.findOne(Subscription, { id: req.params.id }) : null;
    if (sub?.cancelUrl) {
      res.redirect(303, sub.cancelUrl);
      return;
    }
    sendPage(res, sub ? 200 : 404, 'Checkout canceled', 'Nothing was charged.');
  });

  return router;
}
