import { DomainError } from '../src/errors';
import { formatAmount, MAX_AMOUNT_MINOR, parseAmount, parseChargeAmount } from '../src/billing/money';

describe('money', () => {
  it.each([
    ['10.00', 'usd', 1000],
    ['10', 'USD', 1000],
    ['0.5', 'eur', 50],
    ['500', 'jpy', 500],
    ['1.234', 'bhd', 1234],
    ['999999.99', 'usd', 99_999_999],
  ])('parses %s %s as %d minor units', (text, currency, minor) => {
    expect(parseAmount(text, currency)).toBe(minor);
  });

  it.each([
    ['0', 'usd', /greater than zero/],
    ['-1', 'usd', /positive decimal/],
    ['1e3', 'usd', /positive decimal/],
    ['', 'usd', /positive decimal/],
    ['10.001', 'usd', /at most 2 decimal places/],
    ['5.5', 'jpy', /no decimal places/],
    ['1.2345', 'bhd', /at most 3/],
    ['10', 'xyz', /Unknown currency/],
    ['1000000.00', 'usd', /maximum/],
  ])('rejects %s %s as BAD_USER_INPUT', (text, currency, message) => {
    let error: unknown;
    try {
      parseAmount(text, currency);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).code).toBe('BAD_USER_INPUT');
    expect((error as DomainError).message).toMatch(message);
  });

  it('formats by the currency exponent', () => {
    expect(formatAmount(20000, 'usd')).toBe('200.00');
    expect(formatAmount(5, 'usd')).toBe('0.05');
    expect(formatAmount(500, 'jpy')).toBe('500');
    expect(formatAmount(1234, 'bhd')).toBe('1.234');
  });

  it('charges three-decimal currencies only in steps of 0.010, as Stripe does', () => {
    expect(parseChargeAmount('1.230', 'bhd')).toBe(1230);
    expect(parseChargeAmount('2', 'KWD')).toBe(2000);
    expect(parseChargeAmount('500', 'jpy')).toBe(500);
    expect(parseChargeAmount('10.01', 'usd')).toBe(1001);
    // "1.234" BHD is 1234 fils, which Stripe cannot charge: refused (never rounded), naming both sides of it.
    expect(parseAmount('1.234', 'bhd')).toBe(1234);
    expect(() => parseChargeAmount('1.234', 'bhd')).toThrow(
      expect.objectContaining({
        code: 'BAD_USER_INPUT',
        message:
          'Invalid amount "1.234": that is 1234 in BHD\'s minor unit, and Stripe charges BHD only in steps of 0.010 (the third decimal must be 0; amounts are never rounded): use 1.230 or 1.240 BHD',
        extensions: { field: 'amount', amountMinor: 1234, chargeable: ['1.230', '1.240'] },
      }),
    );
    expect(() => parseChargeAmount('0.005', 'kwd')).toThrow(
      expect.objectContaining({ extensions: expect.objectContaining({ chargeable: ['0.010'] }) }),
    );
    expect(() => parseChargeAmount('99999.999', 'omr')).toThrow(
      expect.objectContaining({ extensions: expect.objectContaining({ chargeable: ['99999.990'] }) }),
    );
    expect(() => parseChargeAmount('0', 'usd')).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT' }));
  });

  it("takes Stripe's maximum (eight digits in the minor unit) in every exponent and refuses one more", () => {
    expect(MAX_AMOUNT_MINOR).toBe(99_999_999);
    expect(parseAmount('99999999', 'jpy')).toBe(MAX_AMOUNT_MINOR);
    expect(parseAmount('99999.990', 'bhd')).toBe(99_999_990);
    expect(() => parseAmount('100000000', 'jpy')).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT' }));
    expect(() => parseAmount('100000.000', 'bhd')).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT' }));
  });
});
