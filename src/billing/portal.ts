import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { parseInput } from '../input';
import { idempotencyKey } from '../stripe/client';
import { callStripe } from '../stripe/errors';
import { ensureCustomer } from './customers';
import type { BillingDeps } from './deps';
import { findPortalConfiguration } from './portalConfiguration';
import { clientUrlField } from './subscriptions/inputs';

const portalInput = z.object({
  returnUrl: clientUrlField('returnUrl').refine((url): url is string => url !== null, 'returnUrl must be an absolute http(s) URL'),
});

export type BillingPortalInput = z.input<typeof portalInput>;

export interface BillingPortalSession {
  url: string;
}

/**
 * A link to Stripe's customer portal for the user, with Tollgate's configuration (see
 * portalConfiguration.ts), returning the person to `returnUrl`. A user without a Stripe customer gets one,
 * as subscribe would make it, so the link always works (a card can be saved before subscribing). Stripe
 * makes a new short-lived session each time; what the person does there comes back through webhooks.
 */
export async function createBillingPortalSession(
  em: EntityManager,
  deps: BillingDeps,
  userId: string,
  raw: BillingPortalInput,
): Promise<BillingPortalSession> {
  const { returnUrl } = parseInput(portalInput, raw);
  const configuration = await callStripe(() => findPortalConfiguration(deps.stripe), deps);
  if (!configuration) throw new Error('Stripe has no customer portal configuration of Tollgate: the Stripe catalog is not synced');
  const customer = await ensureCustomer(em.fork(), deps.stripe, userId, deps);
  const session = await callStripe(
    () =>
      deps.stripe.billingPortal.sessions.create(
        { customer, return_url: returnUrl, configuration: configuration.id },
        // Each call is a new session; the key covers the SDK's own retries of this one.
        { idempotencyKey: idempotencyKey('portal-session', userId, randomUUID()) },
      ),
    deps,
  );
  return { url: session.url };
}
