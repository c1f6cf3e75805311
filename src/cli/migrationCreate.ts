import { Command } from 'commander';
import { runCli, withRuntime } from './runtime';

/** npm run migration:create [-- --blank] — writes the next migration (the diff between entities and schema) to src/db/migrations. */
runCli(async () => {
  const opts = new Command('migration:create')
    .option('--blank', 'create an empty migration to fill in by hand')
    .option('--initial', 'create the initial migration from the entities')
    .parse()
    .opts<{ blank?: boolean; initial?: boolean }>();
  await withRuntime(
    async ({ orm }) => {
      const result = await orm.getMigrator().createMigration(undefined, Boolean(opts.blank), Boolean(opts.initial));
      process.stdout.write(result.fileName ? `created ${result.fileName}\n` : 'no changes: the schema matches the entities\n');
    },
    { migrate: !opts.initial },
  );
});
