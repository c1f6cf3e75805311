import { Command } from 'commander';
import { listApiKeys } from '../auth/apiKeys';
import { runCli, withRuntime } from './runtime';

/** npm run -s apikey:list [-- --all] — the keys (never the keys themselves): name, prefix, scopes, created, last used. */
runCli(async () => {
  const opts = new Command('apikey:list').option('--all', 'include revoked keys', false).parse().opts<{ all: boolean }>();
  await withRuntime(async ({ em }) => {
    const keys = await listApiKeys(em, { includeRevoked: opts.all });
    const day = (d: Date | null) => (d ? d.toISOString().replace(/\.\d{3}Z$/, 'Z') : '-');
    const rows = keys.map((k) => [
      k.name,
      k.prefix,
      k.scopes.join(','),
      day(k.createdAt),
      day(k.lastUsedAt),
      k.revokedAt ? `revoked ${day(k.revokedAt)}` : 'active',
    ]);
    const header = ['NAME', 'PREFIX', 'SCOPES', 'CREATED', 'LAST USED', 'STATUS'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    for (const row of [header, ...rows])
      process.stdout.write(
        `${row
          .map((c, i) => c.padEnd(widths[i]))
          .join('  ')
          .trimEnd()}\n`,
      );
  });
});
