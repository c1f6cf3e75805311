import { Command } from 'commander';
import { createUser } from '../auth/users';
import { runCli, withRuntime } from './runtime';

/**
 * npm run user:create -- --email a@example.com [--admin] [--timezone Europe/Berlin]
 * Prints the new user's API token, alone, on stdout (shown once: only its hash is stored).
 */
runCli(async () => {
  const opts = new Command('user:create')
    .requiredOption('--email <email>', 'email address (unique)')
    .option('--admin', 'give the user the admin role', false)
    .option('--timezone <iana>', 'IANA time zone for daily limits', 'UTC')
    .parse()
    .opts<{ email: string; admin: boolean; timezone: string }>();
  await withRuntime(async ({ em }) => {
    const { token } = await createUser(em, { email: opts.email, admin: opts.admin, timezone: opts.timezone });
    process.stdout.write(`${token}\n`);
  });
});
