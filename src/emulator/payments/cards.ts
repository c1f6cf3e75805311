/**
 * Stripe's test cards: what each card number does when it is saved, authenticated and charged
 * (https://docs.stripe.com/testing). The hosted Checkout page and the API share this table.
 */

export interface Decline {
  /** the error `code` (card_declined, expired_card, incorrect_cvc, processing_error, authentication_required ...) */
  code: string;
  decline_code: string;
  message: string;
}

export type ThreeDSecure =
  /** never asks */
  | 'none'
  /** asks on-session; off-session only until the card has been authenticated once (set up) */
  | 'unless_set_up'
  /** asks on every payment; off-session payments fail with authentication_required */
  | 'always';

export interface CardBehaviour {
  number: string;
  /** false when the number fails Luhn's check or is not 13-19 digits */
  valid: boolean;
  brand: 'visa' | 'mastercard' | 'amex' | 'discover' | 'diners' | 'jcb' | 'unionpay' | 'unknown';
  funding: 'credit' | 'debit' | 'prepaid' | 'unknown';
  country: string;
  last4: string;
  threeDSecure: ThreeDSecure;
  /** the charge outcome, after any authentication; null = succeeds */
  decline: Decline | null;
  /** saving the card on a customer (a verification) fails with this; null = attach succeeds */
  attachDecline: Decline | null;
  /** a dispute opened right after a successful charge, with this reason; null = none */
  dispute: string | null;
  /** "blocked" (Radar) rather than declined by the issuer */
  blocked: boolean;
}

export const DECLINES = {
  generic_decline: { code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.' },
  insufficient_funds: { code: 'card_declined', decline_code: 'insufficient_funds', message: 'Your card has insufficient funds.' },
  lost_card: { code: 'card_declined', decline_code: 'lost_card', message: 'Your card was declined.' },
  stolen_card: { code: 'card_declined', decline_code: 'stolen_card', message: 'Your card was declined.' },
  expired_card: { code: 'expired_card', decline_code: 'expired_card', message: 'Your card has expired.' },
  incorrect_cvc: { code: 'incorrect_cvc', decline_code: 'incorrect_cvc', message: "Your card's security code is incorrect." },
  processing_error: {
    code: 'processing_error',
    decline_code: 'processing_error',
    message: 'An error occurred while processing your card. Try again in a little bit.',
  },
  card_velocity_exceeded: {
    code: 'card_declined',
    decline_code: 'card_velocity_exceeded',
    message: 'Your card was declined for making repeated attempts too frequently or exceeding its amount limit.',
  },
  fraudulent: { code: 'card_declined', decline_code: 'fraudulent', message: 'Your card was declined.' },
  authentication_required: {
    code: 'authentication_required',
    decline_code: 'authentication_required',
    message: 'Your card was declined. This transaction requires authentication.',
  },
} satisfies Record<string, Decline>;

interface Special {
  decline?: Decline;
  /** the charge declines but saving the card works */
  declineOnlyOnCharge?: boolean;
  threeDSecure?: ThreeDSecure;
  dispute?: string;
  funding?: CardBehaviour['funding'];
  blocked?: boolean;
}

/** Card numbers with a behaviour other than "succeeds". */
const SPECIAL: Record<string, Special> = {
  '4000056655665556': { funding: 'debit' },
  '5200828282828210': { funding: 'debit' },
  '4000000000000002': { decline: DECLINES.generic_decline },
  '4000000000009995': { decline: DECLINES.insufficient_funds },
  '4000000000009987': { decline: DECLINES.lost_card },
  '4000000000009979': { decline: DECLINES.stolen_card },
  '4000000000000069': { decline: DECLINES.expired_card },
  '4000000000000127': { decline: DECLINES.incorrect_cvc },
  '4000000000000119': { decline: DECLINES.processing_error },
  '4000000000006975': { decline: DECLINES.card_velocity_exceeded },
  '4100000000000019': { decline: DECLINES.fraudulent, blocked: true },
  '4000000000000341': { decline: DECLINES.generic_decline, declineOnlyOnCharge: true },
  '4000002500003155': { threeDSecure: 'unless_set_up' },
  '4000002760003184': { threeDSecure: 'always' },
  '4000000000003220': { threeDSecure: 'always' },
  '4000008260003178': { threeDSecure: 'always', decline: DECLINES.insufficient_funds, declineOnlyOnCharge: true },
  '4000008400001629': { threeDSecure: 'always', decline: DECLINES.generic_decline, declineOnlyOnCharge: true },
  '4000000000000259': { dispute: 'fraudulent' },
  '4000000000002685': { dispute: 'product_not_received' },
};

/** Test card names: `pm_card_<name>` payment methods and `tok_<name>` tokens stand for these numbers. */
export const TEST_CARDS: Readonly<Record<string, string>> = {
  visa: '4242424242424242',
  visa_debit: '4000056655665556',
  mastercard: '5555555555554444',
  mastercard_debit: '5200828282828210',
  amex: '378282246310005',
  discover: '6011111111111117',
  diners: '3056930009020004',
  jcb: '3566002020360505',
  unionpay: '6200000000000005',
  chargeDeclined: '4000000000000002',
  chargeDeclinedInsufficientFunds: '4000000000009995',
  chargeDeclinedLostCard: '4000000000009987',
  chargeDeclinedStolenCard: '4000000000009979',
  chargeDeclinedExpiredCard: '4000000000000069',
  chargeDeclinedIncorrectCvc: '4000000000000127',
  chargeDeclinedProcessingError: '4000000000000119',
  visa_chargeDeclinedVelocityLimitExceeded: '4000000000006975',
  radarBlock: '4100000000000019',
  chargeCustomerFail: '4000000000000341',
  authenticationRequired: '4000002760003184',
  authenticationRequiredOnSetup: '4000002500003155',
  authenticationRequiredChargeDeclinedInsufficientFunds: '4000008260003178',
  threeDSecure2Required: '4000000000003220',
  threeDSecureRequiredChargeDeclined: '4000008400001629',
  createDispute: '4000000000000259',
  createDisputeProductNotReceived: '4000000000002685',
};

/** The card number behind `pm_card_visa`, `tok_visa`, ... or undefined. */
export function magicCardNumber(ref: string): string | undefined {
  const m = /^(?:pm_card_|tok_)(.+)$/.exec(ref);
  return m ? TEST_CARDS[m[1] as string] : undefined;
}

export function luhnValid(number: string): boolean {
  if (!/^\d{13,19}$/.test(number)) return false;
  let sum = 0;
  for (let i = 0; i < number.length; i++) {
    let d = Number(number[number.length - 1 - i]);
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

export function cardBrand(number: string): CardBehaviour['brand'] {
  if (/^4/.test(number)) return 'visa';
  if (/^(5[1-5]|2(2[2-9][1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720))/.test(number)) return 'mastercard';
  if (/^3[47]/.test(number)) return 'amex';
  if (/^(6011|65|64[4-9])/.test(number)) return 'discover';
  if (/^3(0[0-5]|[68])/.test(number)) return 'diners';
  if (/^35(2[89]|[3-8])/.test(number)) return 'jcb';
  if (/^62/.test(number)) return 'unionpay';
  return 'unknown';
}

/**
 * What a card number does. Spaces and dashes are ignored, so "4242 4242 4242 4242" works.
 * Any other Luhn-valid number behaves like 4242 4242 4242 4242 (succeeds, no 3-D Secure).
 */
export function cardBehaviour(input: string): CardBehaviour {
  const number = input.replace(/[\s-]/g, '');
  const special = SPECIAL[number] ?? {};
  const decline = special.decline ?? null;
  return {
    number,
    valid: luhnValid(number),
    brand: cardBrand(number),
    funding: special.funding ?? 'credit',
    country: 'US',
    last4: number.slice(-4),
    threeDSecure: special.threeDSecure ?? 'none',
    decline,
    attachDecline: decline && !special.declineOnlyOnCharge ? decline : null,
    dispute: special.dispute ?? null,
    blocked: special.blocked ?? false,
  };
}
