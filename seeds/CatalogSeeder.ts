import type { EntityManager } from '@mikro-orm/core';
import { Seeder } from '@mikro-orm/seeder';
import type { EntityManager as PgEntityManager } from '@mikro-orm/postgresql';
import { catalogDefinition, seedCatalog, type CatalogAmounts, type CatalogTrials, type SeedReport } from '../src/billing/catalog';

export interface CatalogSeedContext {
  amounts?: Partial<CatalogAmounts>;
  trials?: Partial<CatalogTrials>;
  /** Filled in by the seeder: what it created, updated or left as it was. */
  report?: SeedReport;
}

/** The plans of seeds/catalog.json (Free, the default, Day Pass and Premium), created or updated by plan code. */
export class CatalogSeeder extends Seeder {
  async run(em: EntityManager, context: CatalogSeedContext = {}): Promise<void> {
    context.report = await seedCatalog(em as PgEntityManager, catalogDefinition(context.amounts, undefined, context.trials));
  }
}
