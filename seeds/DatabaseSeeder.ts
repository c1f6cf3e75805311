import type { EntityManager } from '@mikro-orm/core';
import { Seeder } from '@mikro-orm/seeder';
import { CatalogSeeder, type CatalogSeedContext } from './CatalogSeeder';

export class DatabaseSeeder extends Seeder {
  run(em: EntityManager, context: CatalogSeedContext = {}): Promise<void> {
    return this.call(em, [CatalogSeeder], context);
  }
}
