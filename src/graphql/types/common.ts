import { Field, Int, ObjectType } from 'type-graphql';
import { formatAmount } from '../../billing/money';

@ObjectType({ description: 'An amount of money: a decimal string, the integer in minor units, and the currency.' })
export class Money {
  @Field({ description: 'Decimal string in major units, e.g. "200.00" (USD), "500" (JPY), "1.234" (BHD).' })
  amount!: string;

  @Field(() => Int, { description: 'Integer amount in the currency minor unit (cents for USD).' })
  amountMinor!: number;

  @Field({ description: 'Lowercase ISO-4217 currency code.' })
  currency!: string;

  static of(amountMinor: number, currency: string): Money {
    return Object.assign(new Money(), { amount: formatAmount(amountMinor, currency), amountMinor, currency });
  }
}
