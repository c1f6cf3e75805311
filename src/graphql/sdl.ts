import { join } from 'node:path';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { getSchema } from './schema';

/** Where the committed SDL lives (source tree, not dist/). */
export const SCHEMA_FILE = join(__dirname, '..', '..', '..', 'src', 'graphql', 'schema.graphql');

/**
 * The SDL of the schema, sorted. It always starts with an explicit `schema { ... }` block: the API has an
 * object type named `Subscription` (a Stripe subscription), and without the block every SDL reader
 * (codegen, linters, gateways) would take that type for the root of GraphQL subscriptions.
 */
export async function printSdl(): Promise<string> {
  const schema = lexicographicSortSchema(await getSchema());
  const roots = [
    ['query', schema.getQueryType()],
    ['mutation', schema.getMutationType()],
    ['subscription', schema.getSubscriptionType()],
  ].flatMap(([op, type]) => (type ? [`  ${op as string}: ${(type as { name: string }).name}`] : []));
  const body = printSchema(schema).replace(/^schema \{[^}]*\}\n\n/, '');
  return `schema {\n${roots.join('\n')}\n}\n\n${body}\n`;
}
