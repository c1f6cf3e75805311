import { Command } from 'commander';
import { revokeApiKey } from '../auth/apiKeys';
import { runCli, UsageError, withRuntime } from './runtime';

/** npm run apikey:revoke -- --name backend   (or --prefix tg_sk_XXXXXXXX) — the key stops working at once. */
runCli(async () => {
  const opts = new Command('apikey:revoke')
    .option('--name <name>', 'the key to revoke, by name')
    .option('--prefix <prefix>', 'the key to revoke, by the prefix apikey:list shows')
    .parse()
    .opts<{ name?: string; prefix?: string }>();
  if (Boolean(opts.name) === Boolean(opts.prefix)) throw new UsageError('give either --name or --prefix');
  await withRuntime(async ({ em }) => {
    const key = await revokeApiKey(em, (opts.name ?? opts.prefix)!);
    process.stdout.write(`revoked ${key.name} (${key.prefix})\n`);
  });
});
