import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';

const ROOT = join(__dirname, '..', '..');
const read = (file: string) => JSON.parse(readFileSync(join(ROOT, file), 'utf8'));

/** `engines.node` in package.json is a promise: every installed package must run on every Node it admits (so `npm ci` warns of nothing). */
describe('the Node versions package.json claims', () => {
  const claim: string = read('package.json').engines.node;
  const lock = read('package-lock.json');

  it('is a valid range that admits the Node running the tests', () => {
    expect(semver.validRange(claim)).not.toBeNull();
    expect(semver.satisfies(process.version, claim)).toBe(true);
  });

  it('is what the lock file records for the project', () => {
    expect(lock.packages[''].engines.node).toBe(claim);
  });

  it('is admitted by every installed package (dependencies and dev dependencies)', () => {
    const refusing = Object.entries(lock.packages as Record<string, { version?: string; engines?: { node?: string } }>)
      .filter(([path, pkg]) => path !== '' && typeof pkg.engines?.node === 'string')
      .filter(([, pkg]) => !semver.validRange(pkg.engines!.node!) || !semver.subset(claim, pkg.engines!.node!))
      .map(([path, pkg]) => `${path.replace(/^.*node_modules\//, '')}@${pkg.version} wants node ${pkg.engines!.node}`);
    expect(refusing).toEqual([]);
  });
});
