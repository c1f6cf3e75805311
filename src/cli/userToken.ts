import { Command } from 'commander';
import { userByEmail } from '../auth/users';
import { issueUserToken } from '../auth/userTokens';
import { runCli, withRuntime } from './runtime';

/**
 * npm run -s user:token -- --email a@example.com [--revoke-others]
 * Issues another API token for the user and prints it, alone, on stdout (shown once). The user's other
 * tokens keep working unless --revoke-others is given.
 */
runCli(async () => {
  const opts = new Command('user:token')
    .requiredOption('--email <email>', "the user's email")
    .option('--revoke-others', "revoke the user's other tokens", false)
    .parse()
    .opts<{ email: string; revokeOthers: boolean }>();
  await withRuntime(async ({ em }) => {
    const user = await userByEmail(em, opts.email);
    process.stdout.write(`${await issueUserToken(em, user.id, { revokeOthers: opts.revokeOthers })}\n`);
  });
});
