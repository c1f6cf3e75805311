import { badInput } from '../errors';
import { shorten } from '../input';

/**
 * Money is an integer amount in the currency's minor unit plus a lowercase ISO-4217 code.
 * Decimal strings are converted by the currency's exponent as Stripe defines it, never through floats.
 */

// Stripe's zero-decimal and three-decimal currencies; every other ISO-4217 currency has two decimals.
const ZERO_DECIMAL = new Set([
  'bif',
  'clp',
  'djf',
  'gnf',
  'jpy',
  'kmf',
  'krw',
  'mga',
  'pyg',
  'rwf',
  'ugx',
  'vnd',
  'vuv',
  'xaf',
  'xof',
  'xpf',
]);
const THREE_DECIMAL = new Set(['bhd', 'jod', 'kwd', 'omr', 'tnd']);
// Codes in the ISO list that are not money one can charge (precious metals, funds, test codes).
const NOT_CHARGEABLE = new Set([
  'xag',
  'xau',
  'xba',
  'xbb',
  'xbc',
  'xbd',
  'xdr',
  'xpd',
  'xpt',
  'xsu',
  'xts',
  'xua',
  'xxx',
  'che',
  'chw',
  'bov',
  'clf',
  'cou',
  'mxv',
  'usn',
  'uyi',
  'uyw',
]);
const KNOWN = new Set(
  Intl.supportedValuesOf('currency')
    .map((c) => c.toLowerCase())
    .filter((c) => !NOT_CHARGEABLE.has(c)),
);

/** Stripe's largest amount for a single charge: eight digits in the minor unit. */
export const MAX_AMOUNT_MINOR = 99_999_999;

export function normalizeCurrency(code: string): string {
  const c = code.trim().toLowerCase();
  if (!/^[a-z]{3}$/.test(c) || !KNOWN.has(c)) {
    throw badInput(`Unknown currency "${shorten(code)}": expected an ISO-4217 code such as USD`, { field: 'currency' });
  }
  return c;
}

export function currencyExponent(currency: string): number {
  const c = normalizeCurrency(currency);
  if (ZERO_DECIMAL.has(c)) return 0;
  if (THREE_DECIMAL.has(c)) return 3;
  return 2;
}

/**
 * "10.00" USD → 1000, "500" JPY → 500, "1.234" BHD → 1234. Rejects zero (unless allowZero), negatives,
 * malformed strings, more decimals than the currency has, and amounts above Stripe's maximum.
 */
export function parseAmount(value: string, currency: string, options: { allowZero?: boolean; field?: string } = {}): number {
  const field = options.field ?? 'amount';
  const exp = currencyExponent(currency);
  const text = String(value).trim();
  const m = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) {
    throw badInput(`Invalid ${field} "${shorten(String(value))}": expected a positive decimal such as "10.00"`, { field });
  }
  const [, whole, fraction = ''] = m;
  if (fraction.length > exp) {
    throw badInput(
      `Invalid ${field} "${shorten(String(value))}": ${currency.toUpperCase()} allows ${exp === 0 ? 'no' : `at most ${exp}`} decimal place${exp === 1 ? '' : 's'}`,
      { field },
    );
  }
  const minor = BigInt(whole) * 10n ** BigInt(exp) + BigInt(fraction.padEnd(exp, '0') || '0');
  if (minor === 0n && !options.allowZero) {
    throw badInput(`Invalid ${field} "${shorten(String(value))}": must be greater than zero`, { field });
  }
  if (minor > BigInt(MAX_AMOUNT_MINOR)) {
    throw badInput(
      `Invalid ${field} "${shorten(String(value))}": above Stripe's maximum of ${formatAmount(MAX_AMOUNT_MINOR, currency)} ${currency.toUpperCase()}`,
      { field },
    );
  }
  return Number(minor);
}

/** 20000 USD → "200.00"; 500 JPY → "500"; 1234 BHD → "1.234". */
export function formatAmount(minor: number, currency: string): string {
  const exp = currencyExponent(currency);
  const negative = minor < 0;
  const digits = Math.abs(minor)
    .toString()
    .padStart(exp + 1, '0');
  const whole = exp === 0 ? digits : digits.slice(0, -exp);
  const fraction = exp === 0 ? '' : `.${digits.slice(-exp)}`;
  return `${negative ? '-' : ''}${whole}${fraction}`;
}

/**
 * An amount Stripe can charge or refund: parseAmount's rules, and for three-decimal currencies (BHD,
 * JOD, KWD, OMR, TND) a last decimal of 0. "1.234" BHD converts to 1234 fils, but Stripe's currency rules
 * require the least-significant digit of a three-decimal amount to be 0 ("round to the nearest ten"), so
 * it is refused, never rounded: the error names the minor-unit amount and the chargeable amounts beside it.
 */
export function parseChargeAmount(value: string, currency: string, options: { field?: string } = {}): number {
  const field = options.field ?? 'amount';
  const minor = parseAmount(value, currency, { field });
  if (currencyExponent(currency) === 3 && minor % 10 !== 0) {
    const code = currency.toUpperCase();
    const below = minor - (minor % 10);
    const chargeable = [below, below + 10].filter((m) => m > 0 && m <= MAX_AMOUNT_MINOR).map((m) => formatAmount(m, currency));
    throw badInput(
      `Invalid ${field} "${shorten(String(value))}": that is ${minor} in ${code}'s minor unit, and Stripe charges ${code} only in steps of 0.010 ` +
        `(the third decimal must be 0; amounts are never rounded): use ${chargeable.join(' or ')} ${code}`,
      { field, amountMinor: minor, chargeable },
    );
  }
  return minor;
}

/**
 * Money in an error's extensions, shaped like the API's Money: `remaining: "15.00"`, `remainingMinor: 1500`,
 * `currency: "usd"`, so no client has to guess the unit of a bare integer.
 */
export function moneyExtension(name: string, minor: number, currency: string): Record<string, string | number> {
  return { [name]: formatAmount(minor, currency), [`${name}Minor`]: minor, currency };
}
