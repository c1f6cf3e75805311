import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DomainError, badInput } from '../errors';
import { parseInput } from '../input';
import { catalogFile } from './catalogInputs';
import type { PlanDefinition } from './catalog';

/**
 * seeds/catalog.json: the plans, limits, features and pricing options a team edits in one place. It is
 * read at run time by path (src/ may not import seeds/) and checked with the schema the GraphQL catalog
 * mutations use, so a bad file is refused before anything is written.
 */
const CATALOG_FILE = join('seeds', 'catalog.json');

/** The project's catalog file, found upwards from here: the same file from src/ (ts-node, jest) and from dist/src/. */
export function catalogFilePath(from = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, CATALOG_FILE);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new Error(`${CATALOG_FILE} not found above ${from}`);
  }
}

export function readCatalogFile(path: string): PlanDefinition[] {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw badInput(`${path} is not readable JSON: ${(err as Error).message}`);
  }
  try {
    const { plans } = parseInput(catalogFile, json);
    return plans.map((p) => ({
      code: p.code,
      name: p.name,
      description: p.description,
      isDefault: p.isDefault,
      sortOrder: p.rank,
      limits: p.limits,
      features: p.features,
      pricing: p.pricingOptions.map(({ amount: _amount, ...option }) => option),
    }));
  } catch (err) {
    // Name the file and the place in it: whoever reads this is editing that file.
    if (err instanceof DomainError && err.extensions.field) {
      throw badInput(`${path}: ${String(err.extensions.field)}: ${err.message}`, err.extensions);
    }
    throw err;
  }
}
