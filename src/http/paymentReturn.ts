import type { EntityManager } from '@mikro-orm/postgresql';
import { Router, type Request, type Response } from 'express';
import type { BillingDeps } from '../billing/deps';
import { syncPaymentCheckout } from '../billing/payments/sync';
import { UUID } from '../ids';
import type { Orm } from '../db/orm';
import { Payment, PaymentStatus } from '../entities';
import type { Logger } from '../logger';
import { sendPage } from './pages';

const PAGES: Partial<Record<PaymentStatus, [string, string]>> = {
  [PaymentStatus.CONFIRMED]: ['Payment received', 'Thank you: your payment is complete.'],
  [PaymentStatus.PREAUTH]: ['Payment authorised', 'Thank you: the amount is reserved on your card and will be charged shortly.'],
  [PaymentStatus.CANCELED]: ['Payment canceled', 'Nothing was charged.'],
  [PaymentStatus.REJECTED]: ['Payment declined', 'Your card was declined. Nothing was charged.'],
};

/**
 * Where Checkout sends the person back after a one-off payment. Both routes re-read the Checkout
 * Session and its PaymentIntent from Stripe (so the payment is up to date without waiting for a
 * webhook), then redirect to the client's URL or show a short page.
 */
export function paymentReturnRoutes(orm: Orm, deps: (req: Request) => BillingDeps, logger: Logger): Router {
  const router = Router();

  /** Our payment for the link, synced from its session; null (with the page sent) when the link is not valid. */
  async function synced(req: Request, res: Response, sessionId: string | undefined): Promise<Payment | null> {
    const em = orm.em.fork() as EntityManager;
    const own = UUID.test(req.params.id as string) ? await em.findOne(Payment, { id: req.params.id as string }) : null;
    if (!own || (sessionId && own.stripeCheckoutSessionId !== sessionId)) {
      sendPage(res, 404, 'Unknown payment', 'This link does not belong to a payment.');
      return null;
    }
    const session = sessionId ?? own.stripeCheckoutSessionId;
    if (!session) return own;
    try {
      return (await syncPaymentCheckout(em, deps(req), session, 'return from Checkout')) ?? own;
    } catch (err) {
      logger.error({ err, payment: own.id }, 'could not sync a payment on its return from Checkout');
      return own;
    }
  }

  router.get('/payments/:id/success', async (req, res) => {
    const sessionId = typeof req.query.session_id === 'string' ? req.query.session_id : undefined;
    if (!sessionId) {
      sendPage(res, 400, 'Unknown payment', 'This link is not valid.');
      return;
    }
    const payment = await synced(req, res, sessionId);
    if (!payment) return;
    if (payment.successUrl) {
      res.redirect(303, payment.successUrl);
      return;
    }
    const [title, message] = PAGES[payment.status as PaymentStatus] ?? [
      'Almost there',
      'Your payment is being confirmed; it will appear in a moment.',
    ];
    sendPage(res, 200, title, message);
  });

  router.get('/payments/:id/cancel', async (req, res) => {
    const payment = await synced(req, res, undefined);
    if (!payment) return;
    if (payment.cancelUrl) {
      res.redirect(303, payment.cancelUrl);
      return;
    }
    sendPage(res, 200, 'Checkout canceled', 'Nothing was charged.');
  });

  return router;
}
