/**
 * Joins calls that arrive while earlier ones are still running into one run, as a database's group commit
 * does: at most `maxInFlight` runs at a time; a call that finds them all busy waits in a group that starts
 * as soon as one finishes, together with every call that arrived meanwhile (same key, up to `maxItems`
 * items). A call on an idle coalescer starts at once, so nothing waits that would not have waited for a
 * connection anyway; under load, N concurrent calls cost a few runs instead of N.
 */
export interface CoalescerOptions<Item, Result> {
  maxInFlight: number;
  /** A group holds at most this many items; a call with more runs in a group of its own. */
  maxItems: number;
  /** Runs one group's items (the calls' items in the order the calls came) and answers one result per item. */
  run(items: Item[], key: string): Promise<Result[]>;
}

interface Call<Item, Result> {
  items: Item[];
  resolve(results: Result[]): void;
  reject(err: unknown): void;
}

interface Group<Item, Result> {
  key: string;
  size: number;
  calls: Call<Item, Result>[];
}

export class Coalescer<Item, Result> {
  private running = 0;
  private readonly waiting: Group<Item, Result>[] = [];

  constructor(private readonly options: CoalescerOptions<Item, Result>) {}

  /** The results for `items`, in their order; calls join only calls of the same key. */
  submit(key: string, items: Item[]): Promise<Result[]> {
    return new Promise((resolve, reject) => {
      const call = { items, resolve, reject };
      if (this.running < this.options.maxInFlight && this.waiting.length === 0) {
        this.start({ key, size: items.length, calls: [call] });
        return;
      }
      const open = this.waiting.find((g) => g.key === key && g.size + items.length <= this.options.maxItems);
      if (open) {
        open.calls.push(call);
        open.size += items.length;
      } else {
        this.waiting.push({ key, size: items.length, calls: [call] });
      }
    });
  }

  private start(group: Group<Item, Result>): void {
    this.running++;
    this.options
      .run(
        group.calls.flatMap((c) => c.items),
        group.key,
      )
      .then(
        (results) => {
          let next = 0;
          for (const call of group.calls) {
            call.resolve(results.slice(next, next + call.items.length));
            next += call.items.length;
          }
        },
        (err: unknown) => {
          for (const call of group.calls) call.reject(err);
        },
      )
      .finally(() => {
        this.running--;
        const ready = this.waiting.shift();
        if (ready) this.start(ready);
      });
  }
}
