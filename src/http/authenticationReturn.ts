import { Router } from 'express';
import { AUTHENTICATED_PATH } from '../billing/authentication';
import { sendPage } from './pages';

/**
 * Where Stripe sends the person after 3-D Secure when the client gave no successUrl. The payment's
 * state reaches Tollgate through the webhook (or the next call that reads it); this page only closes
 * the loop for the person, from Stripe's `redirect_status`.
 */
export function authenticationReturnRoutes(): Router {
  const router = Router();
  router.get(AUTHENTICATED_PATH, (req, res) => {
    if (req.query.redirect_status === 'succeeded') sendPage(res, 200, 'Authentication complete', 'You can close this page.');
    else if (req.query.redirect_status === 'failed')
      sendPage(res, 200, 'Authentication failed', 'Nothing was charged. You can close this page and try again in the app.');
    else sendPage(res, 200, 'Authentication finished', 'You can close this page.');
  });
  return router;
}
