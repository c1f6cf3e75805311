import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

/**
 * The layers of src/ (DESIGN.md, Layout) and what each may import. Data flows one way, downward:
 * a layer names every layer it may use; anything else is a violation.
 */
const BOTTOM = ['errors', 'ids', 'input', 'pagination', 'config', 'logger', 'metrics', 'entities', 'db'];
export const ALLOWED: Record<string, string[]> = {
  bottom: ['bottom'],
  emulator: ['emulator'],
  stripe: ['stripe', 'bottom'],
  auth: ['auth', 'bottom'],
  billing: ['billing', 'stripe', 'auth', 'bottom'],
  sync: ['sync', 'billing', 'stripe', 'auth', 'bottom', 'emulator'],
  events: ['events', 'billing', 'stripe', 'auth', 'bottom'],
  graphql: ['graphql', 'events', 'sync', 'billing', 'stripe', 'auth', 'bottom'],
  http: ['http', 'events', 'sync', 'billing', 'stripe', 'auth', 'bottom'],
  cli: ['cli', 'graphql', 'events', 'sync', 'billing', 'stripe', 'auth', 'bottom', 'emulator', 'outside'],
  entry: ['entry', 'graphql', 'http', 'events', 'sync', 'billing', 'stripe', 'auth', 'bottom'],
  outside: ['outside', 'bottom'],
};

/** The layer of a path relative to the project root ("src/billing/limits.ts" -> "billing"). */
export function layerOf(path: string): string {
  const parts = path.replace(/\\/g, '/').split('/');
  // The ORM options the server, the scripts and the tests share sit at the top of the project.
  if (path === 'mikro-orm.config.ts') return 'bottom';
  if (parts[0] !== 'src') return 'outside';
  const top = parts[1].replace(/\.ts$/, '');
  if (top === 'main' || top === 'app') return 'entry';
  if (BOTTOM.includes(top)) return 'bottom';
  return top;
}

export interface Violation {
  from: string;
  to: string;
  rule: string;
}

/** Checks an import graph (project-relative paths, each file's imported files); returns what breaks the layering. */
export function violations(graph: Map<string, string[]>): Violation[] {
  const found: Violation[] = [];
  for (const [from, imports] of graph) {
    const fromLayer = layerOf(from);
    const allowed = ALLOWED[fromLayer];
    for (const to of imports) {
      const toLayer = layerOf(to);
      if (!allowed || !allowed.includes(toLayer)) found.push({ from, to, rule: `${fromLayer} may not import ${toLayer}` });
    }
  }
  return found;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') && !path.endsWith('.d.ts') ? [path] : [];
  });
}

/** A relative import resolved to a project file (a module file, or a folder's index.ts). */
function resolveImport(fromFile: string, spec: string): string {
  const base = resolve(dirname(fromFile), spec);
  for (const candidate of [`${base}.ts`, join(base, 'index.ts')]) {
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // try the next form
    }
  }
  return base;
}

/** Every relative import (static, dynamic, re-export) of every .ts file under src/. */
export function importGraph(root: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(join(root, 'src'))) {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const imports = info.importedFiles
      .map((f) => f.fileName)
      .filter((spec) => spec.startsWith('.'))
      .map((spec) => relative(root, resolveImport(file, spec)));
    graph.set(relative(root, file), imports);
  }
  return graph;
}
