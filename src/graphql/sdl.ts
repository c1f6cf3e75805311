import { join } from 'node:path';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { getSchema } from './schema';

/** Where the committed SDL lives (source tree, not dist/). */
export const SCHEMA_FILE = join(__dirname, '..', '..', '..', 'src', 'graphql', 'schema.graphql');

export async function printSdl(): Promise<string> {
  return `${printSchema(lexicographicSortSchema(await getSchema()))}\n`;
}
