import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * `npm ci` builds once (the prepare script); starting the server and running a script use that build,
 * so they take a second, not a compile. `npm test` and `npm run build` still compile, and `npm run dev`
 * is the one that compiles before starting.
 */
const pkg = JSON.parse(readFileSync(join(__dirname, '../../package.json'), 'utf8')) as { scripts: Record<string, string> };
const COMPILING = new Set(['build', 'test', 'prepare', 'dev']);

describe('package scripts', () => {
  it('build once at npm ci', () => {
    expect(pkg.scripts.prepare).toMatch(/tsc -p tsconfig\.json/);
  });

  it('start the server and run every command from the build, without compiling first', () => {
    const runners = Object.entries(pkg.scripts).filter(([name]) => !COMPILING.has(name));
    expect(runners.map(([name]) => name)).toEqual(expect.arrayContaining(['start', 'seed', 'user:create', 'doctor']));
    for (const [name, command] of runners) expect({ name, compiles: /\btsc\b/.test(command) }).toEqual({ name, compiles: false });
    // The heap cap keeps the server under 300 MB under hostile queries (docs/benchmarks.md, bench:memory).
    expect(pkg.scripts.start).toBe('exec node --max-old-space-size=160 dist/src/main.js');
  });
});
