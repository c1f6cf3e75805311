import type Stripe from 'stripe';
import type { BillingDeps } from './deps';

/** Tollgate's own page for the end of 3-D Secure when the client gave no URL of its own (src/http/authenticationReturn.ts). */
export const AUTHENTICATED_PATH = '/authenticated';

/**
 * Where Stripe sends the person after 3-D Secure: the client's URL, else Tollgate's page. Confirming with
 * a return_url is what makes Stripe answer a `redirect_to_url` next action (without one it is
 * `use_stripe_sdk`, which only Stripe.js can follow).
 */
export function authenticationReturnUrl(deps: BillingDeps, clientUrl?: string | null): string {
  return clientUrl ?? `${deps.publicUrl}${AUTHENTICATED_PATH}`;
}

/** The page that authenticates the payment, while the intent waits for it. */
export function nextActionUrl(intent: Stripe.PaymentIntent | null | undefined): string | null {
  if (intent?.status !== 'requires_action') return null;
  return intent.next_action?.type === 'redirect_to_url' ? (intent.next_action.redirect_to_url?.url ?? null) : null;
}
