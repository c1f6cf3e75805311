import { Command } from 'commander';
import type { EntityManager } from '@mikro-orm/core';
import { CatalogSeeder, type CatalogSeedContext } from '../../seeds/CatalogSeeder';
import { catalogDefinition, currentAmounts, currentTrials } from '../billing/catalog';
import { DomainError, badInput } from '../errors';
import { syncStripeCatalog } from '../sync/catalog';
import { runCli, withRuntime } from './runtime';
import { explainStripeFailures, scriptBillingDeps } from './stripe';

/**
 * npm run seed -- [--free-amount 0] [--day-pass-amount 5] [--premium-amount 200] [--premium-trial-days 14]
 * Creates or updates the plans of seeds/catalog.json by code; a second run with the same flags changes nothing.
 */
runCli(async () => {
  const opts = new Command('seed')
    .description('Create or update the Free, Day Pass and Premium plans')
    .option('--free-amount <usd>', 'Free plan price per month in USD (default: the current price, or seeds/catalog.json for a new plan)')
    .option('--day-pass-amount <usd>', 'Day Pass price per day in USD (default: the current price, or seeds/catalog.json for a new plan)')
    .option('--premium-amount <usd>', 'Premium price per month in USD (default: the current price, or seeds/catalog.json for a new plan)')
    .option(
      '--premium-trial-days <days>',
      'Days of free trial for new Premium subscribers, 0 for none (default: the current trial, or seeds/catalog.json for a new plan)',
    )
    .parse()
    .opts<{ freeAmount?: string; dayPassAmount?: string; premiumAmount?: string; premiumTrialDays?: string }>();
  const given = { free: opts.freeAmount, dayPass: opts.dayPassAmount, premium: opts.premiumAmount };
  const givenTrials = { premium: wholeDays(opts.premiumTrialDays) };
  catalogDefinition(given, undefined, givenTrials); // validates every flag before anything is opened or written

  await withRuntime(async ({ em, config, logger }) => {
    // A flag left out keeps the price the option has now; the file's amount is only for a new option.
    const current = await currentAmounts(em.fork());
    const amounts = {
      free: given.free ?? current.free,
      dayPass: given.dayPass ?? current.dayPass,
      premium: given.premium ?? current.premium,
    };
    const currentTrial = await currentTrials(em.fork());
    const trials = { premium: givenTrials.premium ?? currentTrial.premium };
    const context: CatalogSeedContext = { amounts, trials };
    await new CatalogSeeder().run(em as unknown as EntityManager, context);
    const report = context.report!;
    process.stdout.write(
      `catalog: ${report.created.length} created (${report.created.join(', ') || '-'}), ` +
        `${report.updated.length} updated (${report.updated.join(', ') || '-'}), ` +
        `${report.unchanged.length} unchanged (${report.unchanged.join(', ') || '-'})\n`,
    );

    // Then make Stripe match: the real account with STRIPE_SECRET_KEY, else the running local emulator.
    const deps = await scriptBillingDeps(config, logger);
    try {
      const stripeReport = await explainStripeFailures(deps, () => syncStripeCatalog(em.fork(), deps.stripe, logger));
      process.stdout.write(
        `stripe: ${stripeReport.productsCreated.length} products created, ${stripeReport.pricesCreated.length} prices created, ` +
          `${stripeReport.pricesReplaced.length} replaced, ${stripeReport.unchanged.length} unchanged\n`,
      );
    } catch (err) {
      if (!config.stripe.secretKey && !config.proxy.stripeProxy && err instanceof DomainError && err.extensions.reason === 'connection') {
        process.stdout.write('stripe: the local Stripe emulator is not running; the server syncs the catalog to it when it starts\n');
        return;
      }
      throw err;
    }
  });
});

/** A flag's whole number of days; anything else is refused before anything is opened. */
function wholeDays(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,4}$/.test(value.trim()))
    throw badInput(`--premium-trial-days must be a whole number of days, 0 for none (got "${value.slice(0, 20)}")`);
  return Number(value);
}
