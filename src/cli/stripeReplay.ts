import type { EntityManager } from '@mikro-orm/postgresql';
import { Command } from 'commander';
import { processEvent, replayableEvents } from '../sync/inbox';
import { runCli, UsageError, withRuntime } from './runtime';
import { scriptBillingDeps } from './stripe';

/**
 * npm run stripe:replay -- --failed        re-process every failed (or stuck pending) webhook event
 * npm run stripe:replay -- --event evt_... re-process one stored event, even if it was applied before
 */
runCli(async () => {
  const opts = new Command('stripe:replay')
    .option('--failed', 'replay every failed or stuck event')
    .option('--event <id>', 'replay one stored event')
    .parse()
    .opts<{ failed?: boolean; event?: string }>();
  if (Boolean(opts.failed) === Boolean(opts.event)) throw new UsageError('give either --failed or --event evt_...');

  await withRuntime(async ({ config, logger, em }) => {
    const deps = await scriptBillingDeps(config, logger);
    const ids = opts.event ? [opts.event] : await replayableEvents(em);
    if (opts.event) {
      const [row] = await em.execute('select id from stripe_event where id = ?', [opts.event]);
      if (!row) throw new UsageError(`event ${opts.event} is not in the inbox`);
    }
    let failed = 0;
    for (const [i, id] of ids.entries()) {
      const result = await processEvent(em.fork() as EntityManager, deps, id, { force: Boolean(opts.event), retry: config.webhooks });
      if (result.status === 'failed') failed++;
      process.stdout.write(
        `[${i + 1}/${ids.length}] ${id}: ${result.status}${'outcome' in result && result.outcome ? ` (${result.outcome})` : ''}${result.status === 'failed' ? ` - ${result.error}` : ''}\n`,
      );
    }
    process.stdout.write(`${ids.length - failed} of ${ids.length} events processed${failed ? `, ${failed} failed` : ''}\n`);
    if (failed) process.exitCode = 1;
  });
});
