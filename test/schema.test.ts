import { readFileSync } from 'node:fs';
import { printSdl, SCHEMA_FILE } from '../src/graphql/sdl';

describe('committed GraphQL schema', () => {
  it('matches the schema the code builds (run `npm run schema:emit` after changing resolvers)', async () => {
    expect(readFileSync(SCHEMA_FILE, 'utf8')).toBe(await printSdl());
  });
});
