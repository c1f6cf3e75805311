import { existsSync, readFileSync, renameSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/** Anything the store keeps: a Stripe-shaped object with its id and `object` type ('customer', 'checkout.session', ...). */
export interface StoredObject {
  id: string;
  object: string;
}

export interface DeletedStub {
  id: string;
  object: string;
  deleted: true;
}

interface Entry {
  obj: StoredObject;
  seq: number;
}

export interface StoreSnapshot {
  format: 'stripe-emulator-state';
  version: 1;
  savedAt: string;
  seq: number;
  objects: Array<{ seq: number; obj: StoredObject }>;
  tombstones: DeletedStub[];
  meta: Record<string, Record<string, unknown>>;
  buckets: Record<string, Array<[string, unknown]>>;
}

/**
 * The central in-memory state. Objects are stored exactly as the API renders them (unexpanded, ids for
 * references) and may be mutated in place by the resource code; every mutating request marks the store
 * dirty, which persists it when a data file is configured.
 *
 * - `meta(id)` holds hidden per-object state that Stripe does not show (card behaviour of a payment
 *   method, links between objects, ...). It is persisted with the object.
 * - `bucket(name)` is a persisted key/value namespace for a module's own bookkeeping.
 * - Insertion order is the list order: lists answer newest first by insertion sequence.
 */
export class Store {
  private readonly byId = new Map<string, Entry>();
  private readonly byType = new Map<string, Map<string, StoredObject>>();
  private readonly tombstones = new Map<string, DeletedStub>();
  private readonly metas = new Map<string, Record<string, unknown>>();
  private readonly buckets = new Map<string, Map<string, unknown>>();
  private seq = 0;
  private listeners: Array<() => void> = [];

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Marks the state as changed (persisted soon when a data file is configured). */
  changed(): void {
    for (const l of this.listeners) l();
  }

  insert<T extends StoredObject>(obj: T): T {
    if (this.byId.has(obj.id)) throw new Error(`duplicate id ${obj.id}`);
    const seq = ++this.seq;
    this.byId.set(obj.id, { obj, seq });
    let bucket = this.byType.get(obj.object);
    if (!bucket) {
      bucket = new Map();
      this.byType.set(obj.object, bucket);
    }
    bucket.set(obj.id, obj);
    this.tombstones.delete(obj.id);
    this.changed();
    return obj;
  }

  /** Replaces the stored object with the same id (keeps its list position). */
  replace<T extends StoredObject>(obj: T): T {
    const entry = this.byId.get(obj.id);
    if (!entry) return this.insert(obj);
    entry.obj = obj;
    this.byType.get(obj.object)?.set(obj.id, obj);
    this.changed();
    return obj;
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** Any live object by id, whatever its type. */
  get<T extends StoredObject = StoredObject>(id: string): T | undefined {
    return this.byId.get(id)?.obj as T | undefined;
  }

  /** A live object of the given type. */
  find<T extends StoredObject>(type: string, id: string): T | undefined {
    const obj = this.byId.get(id)?.obj;
    return obj && obj.object === type ? (obj as T) : undefined;
  }

  /** The stub Stripe returns for a deleted object (`{ id, object, deleted: true }`). */
  deleted(id: string): DeletedStub | undefined {
    return this.tombstones.get(id);
  }

  /** Every live object of a type, oldest first. */
  all<T extends StoredObject>(type: string): T[] {
    return [...(this.byType.get(type)?.values() ?? [])] as T[];
  }

  /** Every live object of a type, newest first (Stripe's list order). */
  newest<T extends StoredObject>(type: string): T[] {
    return this.all<T>(type).reverse();
  }

  seqOf(id: string): number | undefined {
    return this.byId.get(id)?.seq;
  }

  /** Deletes an object, leaving the `deleted: true` stub that retrieve and expand answer afterwards. */
  remove(id: string): DeletedStub | undefined {
    const entry = this.byId.get(id);
    if (!entry) return undefined;
    this.byId.delete(id);
    this.byType.get(entry.obj.object)?.delete(id);
    const stub: DeletedStub = { id, object: entry.obj.object, deleted: true };
    this.tombstones.set(id, stub);
    this.changed();
    return stub;
  }

  /** Hidden, persisted state attached to an object id (created on first use). */
  meta<M extends object = Record<string, unknown>>(id: string): Partial<M> {
    let m = this.metas.get(id);
    if (!m) {
      m = {};
      this.metas.set(id, m);
    }
    return m as Partial<M>;
  }

  /** A persisted key/value namespace. Values must be JSON-serialisable. */
  bucket<V>(name: string): Map<string, V> {
    let b = this.buckets.get(name);
    if (!b) {
      b = new Map();
      this.buckets.set(name, b);
    }
    return b as Map<string, V>;
  }

  snapshot(): StoreSnapshot {
    const objects = [...this.byId.values()].sort((a, b) => a.seq - b.seq).map((e) => ({ seq: e.seq, obj: e.obj }));
    const meta: Record<string, Record<string, unknown>> = {};
    for (const [id, m] of this.metas) if (Object.keys(m).length) meta[id] = m;
    const buckets: Record<string, Array<[string, unknown]>> = {};
    for (const [name, b] of this.buckets) buckets[name] = [...b.entries()];
    return {
      format: 'stripe-emulator-state',
      version: 1,
      savedAt: new Date().toISOString(),
      seq: this.seq,
      objects,
      tombstones: [...this.tombstones.values()],
      meta,
      buckets,
    };
  }

  restore(snap: StoreSnapshot): void {
    if (snap.format !== 'stripe-emulator-state' || snap.version !== 1)
      throw new Error('not a Stripe emulator state file (format/version mismatch)');
    this.byId.clear();
    this.byType.clear();
    this.tombstones.clear();
    this.metas.clear();
    this.buckets.clear();
    for (const { seq, obj } of snap.objects) {
      this.byId.set(obj.id, { obj, seq });
      let bucket = this.byType.get(obj.object);
      if (!bucket) {
        bucket = new Map();
        this.byType.set(obj.object, bucket);
      }
      bucket.set(obj.id, obj);
    }
    for (const t of snap.tombstones) this.tombstones.set(t.id, t);
    for (const [id, m] of Object.entries(snap.meta)) this.metas.set(id, m);
    for (const [name, entries] of Object.entries(snap.buckets)) this.buckets.set(name, new Map(entries));
    this.seq = snap.seq;
  }
}

/** Writes the store to a JSON file (atomically: temp file + rename), debounced after changes and on stop. */
export class FilePersistence {
  private timer: NodeJS.Timeout | undefined;
  private dirty = false;

  constructor(
    private readonly file: string,
    private readonly store: Store,
    private readonly log: (msg: string, fields?: object) => void,
    private readonly debounceMs = 50,
  ) {}

  /** Loads the file if it exists. A file that is not a valid state file is an error (it is never overwritten). */
  load(): boolean {
    if (!existsSync(this.file)) return false;
    const text = readFileSync(this.file, 'utf8');
    let parsed: StoreSnapshot;
    try {
      parsed = JSON.parse(text) as StoreSnapshot;
    } catch (err) {
      throw new Error(`Stripe emulator data file ${this.file} is not valid JSON: ${(err as Error).message}`);
    }
    this.store.restore(parsed);
    return true;
  }

  markDirty(): void {
    this.dirty = true;
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.debounceMs);
    this.timer.unref();
  }

  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (!this.dirty) return;
    this.dirty = false;
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      const tmp = `${this.file}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(this.store.snapshot()));
      renameSync(tmp, this.file);
    } catch (err) {
      this.log('could not save the emulator state', { file: this.file, error: (err as Error).message });
    }
  }
}
