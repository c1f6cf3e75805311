import { readFileSync } from 'node:fs';
import { buildSchema, isEnumType, isObjectType, type GraphQLSchema } from 'graphql';
import { getSchema } from '../src/graphql/schema';
import { printSdl, SCHEMA_FILE } from '../src/graphql/sdl';

describe('committed GraphQL schema', () => {
  it('matches the schema the code builds (run `npm run schema:emit` after changing resolvers)', async () => {
    expect(readFileSync(SCHEMA_FILE, 'utf8')).toBe(await printSdl());
  });

  it('reads back with the same root types: the Subscription object type is not taken for GraphQL subscriptions', async () => {
    const fromFile = buildSchema(readFileSync(SCHEMA_FILE, 'utf8'));
    const live = await getSchema();
    // The root of GraphQL subscriptions is SubscriptionRoot; Subscription stays the billing object type.
    expect(fromFile.getSubscriptionType()?.name).toBe('SubscriptionRoot');
    expect(Object.keys(fromFile.getSubscriptionType()!.getFields()).sort()).toEqual(
      Object.keys(live.getSubscriptionType()!.getFields()).sort(),
    );
    const billing = fromFile.getType('Subscription');
    expect(isObjectType(billing) && Object.keys(billing.getFields())).toContain('status');
    expect(Object.keys(fromFile.getQueryType()!.getFields()).sort()).toEqual(Object.keys(live.getQueryType()!.getFields()).sort());
    expect(Object.keys(fromFile.getMutationType()!.getFields()).sort()).toEqual(Object.keys(live.getMutationType()!.getFields()).sort());
  });

  it('has the catalog and user shape clients rely on', async () => {
    const schema = await getSchema();
    const fields = (type: string) => {
      const t = schema.getType(type);
      if (!isObjectType(t)) throw new Error(`${type} is not an object type`);
      return Object.fromEntries(
        Object.values(t.getFields()).map((f) => [f.name, `${f.args.map((a) => `(${a.name}: ${a.type})`).join('')}${f.type}`]),
      );
    };
    expect(fields('Query')).toMatchObject({ plans: '[Plan!]!', plan: '(code: String!)Plan', me: 'User!' });
    expect(fields('Plan')).toEqual({
      id: 'ID!',
      code: 'String!',
      name: 'String!',
      description: 'String!',
      isDefault: 'Boolean!',
      features: '[String!]!',
      rank: 'Int!',
      limits: '[PlanLimit!]!',
      pricingOptions: '[PricingOption!]!',
    });
    expect(fields('PlanLimit')).toEqual({ metric: 'String!', period: 'LimitPeriod!', limit: 'Int', perDay: 'Int' });
    expect(fields('PricingOption')).toEqual({
      id: 'ID!',
      lookupKey: 'String!',
      active: 'Boolean!',
      amount: 'Money!',
      interval: 'PricingInterval!',
      intervalCount: 'Int!',
      autoRenew: 'Boolean!',
    });
    expect(fields('Money')).toEqual({ amount: 'String!', amountMinor: 'Int!', currency: 'String!' });
    expect(fields('User')).toEqual({
      id: 'ID!',
      externalId: 'String',
      email: 'String!',
      name: 'String',
      timezone: 'String!',
      role: 'Role!',
      pendingCheckout: 'PendingCheckout',
    });
    expect(enumValues(schema, 'PricingInterval')).toEqual(['DAY', 'MONTH', 'ONE_TIME', 'YEAR']);
    expect(enumValues(schema, 'Role')).toEqual(['ADMIN', 'USER']);
  });
});

function enumValues(schema: GraphQLSchema, name: string): string[] {
  const t = schema.getType(name);
  if (!isEnumType(t)) throw new Error(`${name} is not an enum`);
  return t
    .getValues()
    .map((v) => v.name)
    .sort();
}
