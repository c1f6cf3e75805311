import { Command } from 'commander';
import { createApiKey } from '../auth/apiKeys';
import { runCli, withRuntime } from './runtime';

/**
 * npm run -s apikey:create -- --name backend --scopes usage,billing,users
 * Prints the new service API key, alone, on stdout: it is shown once (only its hash is stored).
 */
runCli(async () => {
  const opts = new Command('apikey:create')
    .requiredOption('--name <name>', 'a name to tell the key by (unique among keys not revoked)')
    .requiredOption('--scopes <list>', 'comma-separated: usage, billing, users, admin')
    .parse()
    .opts<{ name: string; scopes: string }>();
  const scopes = opts.scopes
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  await withRuntime(async ({ em }) => {
    const { key } = await createApiKey(em, { name: opts.name, scopes });
    process.stdout.write(`${key}\n`);
  });
});
