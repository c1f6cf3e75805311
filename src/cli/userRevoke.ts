import { Command } from 'commander';
import { userByEmail } from '../auth/users';
import { revokeUserTokens } from '../auth/userTokens';
import { runCli, withRuntime } from './runtime';

/** npm run user:revoke -- --email a@example.com — every token of the user stops working at once. */
runCli(async () => {
  const opts = new Command('user:revoke').requiredOption('--email <email>', "the user's email").parse().opts<{ email: string }>();
  await withRuntime(async ({ em }) => {
    const user = await userByEmail(em, opts.email);
    const count = await revokeUserTokens(em, user.id);
    process.stdout.write(`revoked ${count} token${count === 1 ? '' : 's'} of ${user.email}\n`);
  });
});
