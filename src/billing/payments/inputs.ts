import { z } from 'zod';
import { CaptureMethod } from '../../entities';
import { DomainError } from '../../errors';
import { boundedString, MAX_LENGTH, shorten } from '../../input';
import { normalizeCurrency, parseChargeAmount } from '../money';
import { clientUrl } from '../subscriptions/inputs';

/**
 * What clients send to payments, one zod schema per input, parsed with parseInput before anything is
 * read or written. Where several problems are found the first is reported, so each schema checks its
 * fields in the order clients have always seen them reported.
 */

const METADATA_MAX_KEYS = 40;
const PAYMENT_METHOD = /^(pm|tok)_[A-Za-z0-9_]{1,200}$/;

/**
 * A rule that throws BAD_USER_INPUT (money.ts, clientUrl) as a zod issue: its message, and its
 * extensions as params (field included, so they come out in the order they always had).
 */
function asIssue<T>(ctx: z.RefinementCtx, rule: () => T, path?: string[]): T {
  try {
    return rule();
  } catch (err) {
    if (!(err instanceof DomainError)) throw err;
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: err.message, params: err.extensions, ...(path ? { path } : {}) });
    return z.NEVER;
  }
}

/** Optional text, trimmed; blank is null. */
const text = (field: string, max: number) =>
  z
    .string()
    .trim()
    .max(max, `${field} is longer than ${max} characters`)
    .nullish()
    .transform((v) => v || null);

const url = (field: string) =>
  boundedString(field, MAX_LENGTH.url)
    .nullish()
    .transform((v, ctx) => asIssue(ctx, () => clientUrl(v, field)));

/** What is wrong with the client's metadata, as Stripe would refuse it or as it would clash with our own keys. */
function metadataProblem(metadata: Record<string, unknown>): string | null {
  const entries = Object.entries(metadata);
  if (entries.length > METADATA_MAX_KEYS) return `metadata takes at most ${METADATA_MAX_KEYS} keys`;
  for (const [key, v] of entries) {
    if (key.length === 0 || key.length > 40 || /[[\]]/.test(key))
      return `metadata key "${shorten(key)}" must be 1 to 40 characters without square brackets`;
    if (key.startsWith('tollgate_')) return `metadata keys starting with "tollgate_" are reserved`;
    if (!['string', 'number', 'boolean'].includes(typeof v))
      return `metadata value of "${shorten(key)}" must be a string, number or boolean`;
    if (String(v).length > 500) return `metadata value of "${shorten(key)}" is longer than 500 characters`;
  }
  return null;
}

const metadata = z
  .record(z.unknown())
  .nullish()
  .superRefine((v, ctx) => {
    const problem = v ? metadataProblem(v) : null;
    if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
  })
  .transform((v) => (v ?? null) as Record<string, string | number | boolean> | null);

/** The money: the amount is read in the currency's minor unit, so it is checked once the currency is known. */
const charge = z
  .object({
    currency: boundedString('currency', MAX_LENGTH.amount).transform((v, ctx) => asIssue(ctx, () => normalizeCurrency(v))),
    paymentMethod: text('paymentMethod', 255).refine(
      (v) => !v || PAYMENT_METHOD.test(v),
      (v) => ({ message: `Invalid paymentMethod "${shorten(v ?? '')}": expected a Stripe payment method id such as pm_card_visa` }),
    ),
    amount: boundedString('amount', MAX_LENGTH.amount),
  })
  .transform(({ amount, ...rest }, ctx) => ({
    ...rest,
    amountMinor: asIssue(ctx, () => parseChargeAmount(amount, rest.currency), ['amount']),
  }));

const details = z.object({
  description: text('description', 1000),
  orderId: text('orderId', 200),
  metadata,
  captureMethod: z
    .nativeEnum(CaptureMethod)
    .nullish()
    .transform((v) => v ?? CaptureMethod.AUTOMATIC),
  successUrl: url('successUrl'),
  cancelUrl: url('cancelUrl'),
  idempotencyKey: text('idempotencyKey', MAX_LENGTH.idempotencyKey),
});

/** createPayment's input: the money first (currency, paymentMethod, amount), then the rest. */
export const CreatePaymentInput = charge.and(details);
export type CreatePaymentInput = z.input<typeof CreatePaymentInput>;
export type ValidPaymentInput = z.output<typeof CreatePaymentInput>;

/** capturePayment's and refundPayment's `amount`, in the payment's currency; null when not given (all of it). */
export const CaptureOrRefundAmount = (currency: string) =>
  z.object({
    amount: boundedString('amount', MAX_LENGTH.amount)
      .nullish()
      .transform((v, ctx) => (v === null || v === undefined ? null : asIssue(ctx, () => parseChargeAmount(v, currency)))),
  });
