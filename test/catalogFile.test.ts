import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { catalogDefinition } from '../src/billing/catalog';
import { catalogFilePath } from '../src/billing/catalogFile';

const projectFile = resolve(__dirname, __dirname.includes(`${join('dist', 'test')}`) ? '../..' : '..', 'seeds', 'catalog.json');

describe('seeds/catalog.json', () => {
  const original = JSON.parse(readFileSync(projectFile, 'utf8'));
  const dir = mkdtempSync(join(tmpdir(), 'catalog-'));
  const write = (change: (plans: any[]) => void) => {
    const copy = structuredClone(original);
    change(copy.plans);
    const path = join(dir, `catalog-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(path, JSON.stringify(copy));
    return path;
  };

  it('is found from src and from dist, and defines the plans the README lists', () => {
    expect(catalogFilePath()).toBe(projectFile);
    const plans = catalogDefinition();
    expect(plans.map((p) => [p.code, p.isDefault, p.pricing.map((o) => o.amountMinor)])).toEqual([
      ['free', true, [0]],
      ['day_pass', false, [500]],
      ['premium', false, [20000]],
    ]);
  });

  it("reads an option's trialDays (0 when the file leaves it out), and the trial flag over the file", () => {
    expect(catalogDefinition().map((p) => p.pricing[0].trialDays)).toEqual([0, 0, 0]);
    const path = write((plans) => (plans[2].pricingOptions[0].trialDays = 7));
    expect(catalogDefinition({}, path)[2].pricing[0].trialDays).toBe(7);
    expect(catalogDefinition({}, path, { premium: 21 })[2].pricing[0].trialDays).toBe(21);
  });

  it('takes the amount flags over the file, and leaves an omitted one as the file has it', () => {
    const plans = catalogDefinition({ premium: '150.50' });
    expect(plans.map((p) => p.pricing[0].amountMinor)).toEqual([0, 500, 15050]);
  });

  it.each<[string, (plans: any[]) => void, RegExp]>([
    ['two defaults', (plans) => (plans[1].isDefault = true), /Exactly one plan must be the default, not free, day_pass/],
    ['no default', (plans) => (plans[0].isDefault = false), /Exactly one plan must be the default, not none/],
    ['a negative limit', (plans) => (plans[0].limits[0].limit = -1), /plans\.0\.limits\.0\.limit: A limit cannot be negative/],
    ['an unknown period', (plans) => (plans[0].limits[0].period = 'fortnight'), /plans\.0\.limits\.0\.period: Unknown period/],
    ['a duplicate code', (plans) => (plans[2].code = 'free'), /A plan code is given twice/],
    ['a bad code', (plans) => (plans[2].code = 'Premium!'), /plans\.2\.code: Plan code must be/],
    ['a bad amount', (plans) => (plans[1].pricingOptions[0].amount = '5.001'), /at most 2 decimal places/],
    [
      'a trial over two years',
      (plans) => (plans[2].pricingOptions[0].trialDays = 731),
      /plans\.2\.pricingOptions\.0\.trialDays: trialDays is at most 730/,
    ],
    [
      'a trial on an option that does not renew',
      (plans) => (plans[1].pricingOptions[0].trialDays = 2),
      /Only an option that renews can have a trial/,
    ],
  ])('refuses a file with %s, naming the file and the place', (_what, change, message) => {
    const path = write(change);
    expect(() => catalogDefinition({}, path)).toThrow(message);
    expect(() => catalogDefinition({}, path)).toThrow(path);
  });

  it('refuses a file that is not JSON', () => {
    const path = join(dir, 'broken.json');
    writeFileSync(path, '{ "plans": [');
    expect(() => catalogDefinition({}, path)).toThrow(/is not readable JSON/);
  });
});
