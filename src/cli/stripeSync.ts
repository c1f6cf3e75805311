import type { EntityManager } from '@mikro-orm/postgresql';
import { SingleBar, Presets } from 'cli-progress';
import { Command } from 'commander';
import { DEFAULT_PAGE_SIZE, formatDiff, reconcileAll } from '../sync/reconcile';
import { runCli, UsageError, withRuntime } from './runtime';
import { explainStripeFailures, scriptBillingDeps } from './stripe';

/**
 * npm run stripe:sync [-- --dry-run] [-- --page-size N]
 * Reconciles every known customer's subscriptions and payments from Stripe, page by page (N customers,
 * and N objects of each Stripe list, at a time). --dry-run prints the differences it would write and
 * writes nothing.
 */
runCli(async () => {
  const opts = new Command('stripe:sync')
    .option('--dry-run', 'print the differences, write nothing')
    .option('--page-size <n>', `customers per page, and objects per page of Stripe's lists (1-100)`, String(DEFAULT_PAGE_SIZE))
    .parse()
    .opts<{ dryRun?: boolean; pageSize: string }>();
  const pageSize = Number(opts.pageSize);
  if (!/^\d+$/.test(opts.pageSize) || pageSize < 1 || pageSize > 100)
    throw new UsageError(`--page-size must be a whole number from 1 to 100, not "${opts.pageSize}"`);
  await withRuntime(async ({ config, logger, em }) => {
    const deps = await scriptBillingDeps(config, logger);
    const bar = new SingleBar(
      { format: 'customers [{bar}] {value}/{total}', stream: process.stderr, noTTYOutput: true, notTTYSchedule: 1000 },
      Presets.shades_classic,
    );
    let started = false;
    const report = await explainStripeFailures(deps, () =>
      reconcileAll(em as EntityManager, deps, {
        dryRun: Boolean(opts.dryRun),
        pageSize,
        onProgress: (done, total) => {
          if (!started) {
            bar.start(total, 0);
            started = true;
          }
          bar.update(done);
        },
      }),
    ).finally(() => {
      if (started) bar.stop();
    });
    for (const d of report.diffs) process.stdout.write(`${formatDiff(d)}\n`);
    const verb = opts.dryRun ? 'would change' : 'changed';
    process.stdout.write(
      `${report.customers} customers checked; ${verb} ${report.diffs.length} object${report.diffs.length === 1 ? '' : 's'}${opts.dryRun ? ' (dry run: nothing written)' : ''}\n`,
    );
  });
});
