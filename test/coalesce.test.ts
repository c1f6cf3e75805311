import { Coalescer } from '../src/db/coalesce';

/** A run that is held until released, recording the items of every run it was given. */
function heldRuns() {
  const runs: Array<{ key: string; items: number[]; release(): void; fail(err: Error): void }> = [];
  const run = (items: number[], key: string) =>
    new Promise<string[]>((resolve, reject) => {
      runs.push({ key, items, release: () => resolve(items.map((i) => `${key}:${i}`)), fail: reject });
    });
  return { runs, run };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('Coalescer', () => {
  it('starts a call on an idle coalescer at once, alone', async () => {
    const { runs, run } = heldRuns();
    const coalescer = new Coalescer({ maxInFlight: 2, maxItems: 10, run });
    const answer = coalescer.submit('a', [1, 2]);
    expect(runs.map((r) => r.items)).toEqual([[1, 2]]);
    runs[0].release();
    await expect(answer).resolves.toEqual(['a:1', 'a:2']);
  });

  it('joins the calls that arrive while every run is busy into one run, in the order they came', async () => {
    const { runs, run } = heldRuns();
    const coalescer = new Coalescer({ maxInFlight: 1, maxItems: 10, run });
    const first = coalescer.submit('a', [1]);
    const second = coalescer.submit('a', [2, 3]);
    const third = coalescer.submit('a', [4]);
    expect(runs).toHaveLength(1);
    runs[0].release();
    await first;
    await settle();
    expect(runs.map((r) => r.items)).toEqual([[1], [2, 3, 4]]);
    runs[1].release();
    await expect(second).resolves.toEqual(['a:2', 'a:3']);
    await expect(third).resolves.toEqual(['a:4']);
  });

  it('joins only calls of the same key, and no more than maxItems items', async () => {
    const { runs, run } = heldRuns();
    const coalescer = new Coalescer({ maxInFlight: 1, maxItems: 3, run });
    const answers = [
      coalescer.submit('a', [1]),
      coalescer.submit('a', [2, 3]),
      coalescer.submit('b', [4]),
      coalescer.submit('a', [5]),
      coalescer.submit('a', [6, 7]),
      coalescer.submit('a', [8, 9, 10, 11]),
    ];
    for (let i = 0; i < 5; i++) {
      runs[i].release();
      await settle();
    }
    expect(runs.map((r) => [r.key, r.items])).toEqual([
      ['a', [1]],
      ['a', [2, 3, 5]],
      ['b', [4]],
      ['a', [6, 7]],
      ['a', [8, 9, 10, 11]],
    ]);
    await expect(Promise.all(answers)).resolves.toEqual([
      ['a:1'],
      ['a:2', 'a:3'],
      ['b:4'],
      ['a:5'],
      ['a:6', 'a:7'],
      ['a:8', 'a:9', 'a:10', 'a:11'],
    ]);
  });

  it('fails every call of a failed run, and only those; the next group still runs', async () => {
    const { runs, run } = heldRuns();
    const coalescer = new Coalescer({ maxInFlight: 1, maxItems: 10, run });
    const first = coalescer.submit('a', [1]);
    const second = coalescer.submit('a', [2]);
    const third = coalescer.submit('a', [3]);
    runs[0].release();
    await first;
    await settle();
    runs[1].fail(new Error('connection lost'));
    await expect(second).rejects.toThrow('connection lost');
    await expect(third).rejects.toThrow('connection lost');
    const fourth = coalescer.submit('a', [4]);
    expect(runs).toHaveLength(3);
    runs[2].release();
    await expect(fourth).resolves.toEqual(['a:4']);
  });

  it('keeps at most maxInFlight runs going', async () => {
    const { runs, run } = heldRuns();
    const coalescer = new Coalescer({ maxInFlight: 2, maxItems: 10, run });
    const answers = [1, 2, 3, 4].map((i) => coalescer.submit('a', [i]));
    expect(runs.map((r) => r.items)).toEqual([[1], [2]]);
    runs[1].release();
    await settle();
    expect(runs.map((r) => r.items)).toEqual([[1], [2], [3, 4]]);
    runs[0].release();
    runs[2].release();
    await expect(Promise.all(answers)).resolves.toEqual([['a:1'], ['a:2'], ['a:3'], ['a:4']]);
  });
});
