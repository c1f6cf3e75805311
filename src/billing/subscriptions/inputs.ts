import { z } from 'zod';
import { UUID } from '../../ids';
import { boundedString, MAX_LENGTH, parseInput, shorten } from '../../input';

/** The longest idempotency key a client may send (it is stored and put in Stripe metadata). */
const MAX_KEY_LENGTH = MAX_LENGTH.idempotencyKey;
const PAYMENT_METHOD_MAX = 255;

/** A URL to send a person back to: absolute http(s), normalised; none (or an empty string) is null. */
export function clientUrlField(field: string) {
  return boundedString(field, MAX_LENGTH.url)
    .nullish()
    .transform((value, ctx) => {
      if (!value) return null;
      try {
        const url = new URL(value);
        if (url.protocol === 'http:' || url.protocol === 'https:') return url.toString();
      } catch {
        // not a URL at all: the same refusal as another scheme
      }
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${field} must be an absolute http(s) URL` });
      return z.NEVER;
    });
}

/** clientUrlField for an input still checked field by field: the URL, or BAD_USER_INPUT naming the field. */
export function clientUrl(value: string | null | undefined, field: string): string | null {
  return parseInput(z.object({ [field]: clientUrlField(field) }), { [field]: value })[field];
}

/** A client's idempotency key: trimmed, 1 to MAX_KEY_LENGTH characters; none is null. */
const idempotencyKeyField = z
  .string()
  .trim()
  .min(1, 'idempotencyKey must not be empty')
  .max(MAX_KEY_LENGTH, `idempotencyKey is longer than ${MAX_KEY_LENGTH} characters`)
  .nullish()
  .transform((key) => key ?? null);

/** SubscribeInput's checks that need nothing but the input, in the order their problems are reported. */
export const subscribeInput = z.object({
  pricingId: boundedString('pricingId', MAX_LENGTH.id).refine(
    (id) => UUID.test(id),
    (id) => ({ message: `Invalid pricingId "${shorten(id)}"` }),
  ),
  successUrl: clientUrlField('successUrl'),
  cancelUrl: clientUrlField('cancelUrl'),
  paymentMethod: boundedString('paymentMethod', PAYMENT_METHOD_MAX)
    .nullish()
    .transform((id) => id?.trim() || null),
  idempotencyKey: idempotencyKeyField,
});

/** What the client sends. */
export type SubscribeInput = z.input<typeof subscribeInput>;
/** The same, checked: URLs normalised, the payment method and key trimmed, absent ones null. */
export type CheckedSubscribeInput = z.output<typeof subscribeInput>;

const uuidField = (field: string) =>
  boundedString(field, MAX_LENGTH.id).refine(
    (id) => UUID.test(id),
    (id) => ({ message: `Invalid ${field} "${shorten(id)}"` }),
  );

/** changeSubscription's input: the subscription, the pricing option to move to, and an optional idempotency key. */
export const changeInput = z.object({
  id: uuidField('id'),
  pricingId: uuidField('pricingId'),
  idempotencyKey: idempotencyKeyField,
});

export type ChangeInput = z.input<typeof changeInput>;
export type CheckedChangeInput = z.output<typeof changeInput>;

/** previewSubscriptionChange's input: changeSubscription's without the key. */
export const previewInput = changeInput.pick({ id: true, pricingId: true });
