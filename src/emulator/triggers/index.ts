import type Stripe from 'stripe';
import { BILLING_TRIGGERS } from './billing';
import { PAYMENT_TRIGGERS } from './payments';

/**
 * Fixtures in the manner of the Stripe CLI's `stripe trigger <event>`: each creates, through the official
 * SDK, the objects needed for the event to fire on a running emulator. Trigger files export a record of
 * triggers and are merged below.
 */
export interface Trigger {
  /** what the fixture does, shown by `--list` */
  description: string;
  run(stripe: Stripe): Promise<void>;
}

export const TRIGGERS: Record<string, Trigger> = {
  ...PAYMENT_TRIGGERS,
  ...BILLING_TRIGGERS,
};

export function triggerNames(): string[] {
  return Object.keys(TRIGGERS).sort();
}

/**
 * Runs the fixture for `eventType` and returns the events it caused (oldest first).
 * Throws for an event type without a fixture.
 */
export async function runTrigger(stripe: Stripe, eventType: string): Promise<Stripe.Event[]> {
  const trigger = TRIGGERS[eventType];
  if (!trigger) throw new Error(`No trigger for "${eventType}". Supported: ${triggerNames().join(', ')}`);
  const newest = (await stripe.events.list({ limit: 1 })).data[0];
  await trigger.run(stripe);
  const events: Stripe.Event[] = [];
  // with ending_before the SDK iterates towards newer events (oldest first); otherwise newest first
  if (newest) for await (const e of stripe.events.list({ ending_before: newest.id, limit: 100 })) events.push(e);
  else for await (const e of stripe.events.list({ limit: 100 })) events.unshift(e);
  return events;
}

export type { Stripe };
