import { DomainError } from '../src/billing/errors';
import { formatAmount, parseAmount } from '../src/billing/money';

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
});
