import { writeFile } from 'node:fs/promises';
import { printSdl, SCHEMA_FILE } from '../graphql/sdl';
import { runCli } from './runtime';

/** npm run schema:emit — writes the GraphQL SDL to src/graphql/schema.graphql (committed; a test fails when stale). */
runCli(async () => {
  await writeFile(SCHEMA_FILE, await printSdl());
  process.stdout.write(`wrote ${SCHEMA_FILE}\n`);
});
