import { type ApiError, invalidRequest, missingParam } from './errors';

/**
 * Stripe's wire format for parameters: `application/x-www-form-urlencoded` bodies (and query strings)
 * with bracketed nesting, as Rack parses them:
 *   a=1                   -> { a: '1' }
 *   metadata[plan]=pro    -> { metadata: { plan: 'pro' } }
 *   expand[]=x&expand[]=y -> { expand: ['x', 'y'] }
 *   items[0][price]=p     -> { items: { '0': { price: 'p' } } }   (index keys; Params.list() reads them in order)
 *   items[][price]=p&items[][quantity]=2 -> { items: [{ price: 'p', quantity: '2' }] }
 * Values stay strings; the typed readers of Params convert and validate them with Stripe's messages.
 */
export type FormValue = string | FormObject | FormValue[];
export interface FormObject {
  [key: string]: FormValue;
}

/**
 * How deep parameters may nest. Stripe's deepest parameters have five or six levels; anything past this
 * limit is refused with a 400 rather than walked (deep structures would exhaust the stack further on).
 */
export const MAX_PARAM_DEPTH = 32;

/** A key that would reach `Object.prototype` if assigned: such parameters are dropped (they are no Stripe parameter). */
export function isUnsafeKey(key: string): boolean {
  return key === '__proto__';
}

export function tooDeep(): ApiError {
  return invalidRequest(`Invalid request: parameters can be nested at most ${MAX_PARAM_DEPTH} levels deep.`, { code: 'parameter_invalid' });
}

export function parseForm(input: string): FormObject {
  const root: FormObject = {};
  if (!input) return root;
  for (const [rawKey, value] of new URLSearchParams(input)) {
    const path = splitKey(rawKey);
    if (path.length === 0 || path.some(isUnsafeKey)) continue;
    if (path.length > MAX_PARAM_DEPTH) throw tooDeep();
    assign(root, path, value);
  }
  return root;
}

function splitKey(key: string): string[] {
  const first = key.indexOf('[');
  if (first <= 0) return key ? [key] : [];
  const parts = [key.slice(0, first)];
  const re = /\[([^\]]*)\]/g;
  re.lastIndex = first;
  let m: RegExpExecArray | null;
  let end = first;
  while ((m = re.exec(key)) !== null) {
    if (m.index !== end) break;
    parts.push(m[1] ?? '');
    end = re.lastIndex;
  }
  if (end < key.length) parts[parts.length - 1] += key.slice(end);
  return parts;
}

function assign(root: FormObject, path: string[], value: string): void {
  let cur: FormObject | FormValue[] = root;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i] as string;
    const last = i === path.length - 1;
    const next = path[i + 1];
    if (Array.isArray(cur)) {
      // a `[]` segment: append, or (Rack's rule) extend the last hash when it does not have the next key yet
      if (last) {
        cur.push(value);
        return;
      }
      if (next === '') {
        const arr: FormValue[] = [];
        cur.push(arr);
        cur = arr;
        continue;
      }
      const tail: FormValue | undefined = cur[cur.length - 1];
      if (tail && typeof tail === 'object' && !Array.isArray(tail) && !Object.hasOwn(tail, String(next))) {
        cur = tail;
      } else {
        const fresh: FormObject = {};
        cur.push(fresh);
        cur = fresh;
      }
      continue;
    }
    if (last) {
      cur[seg] = value;
      return;
    }
    const existing: FormValue | undefined = Object.hasOwn(cur, seg) ? cur[seg] : undefined;
    if (next === '') {
      if (!Array.isArray(existing)) cur[seg] = [];
    } else if (typeof existing !== 'object' || existing === null || Array.isArray(existing)) {
      cur[seg] = {};
    }
    cur = cur[seg] as FormObject | FormValue[];
  }
}

/** Serialises an object the way Stripe's SDKs do (indexed arrays, bracketed keys). Used by the hosted pages and tests. */
export function encodeForm(data: Record<string, unknown>): string {
  const pairs: string[] = [];
  const enc = (key: string, value: unknown): void => {
    if (value === undefined) return;
    if (value === null || typeof value !== 'object') {
      pairs.push(`${encodeURIComponent(key)}=${encodeURIComponent(value === null ? '' : String(value))}`);
      return;
    }
    if (Array.isArray(value)) {
      value.forEach((v, i) => enc(`${key}[${i}]`, v));
      return;
    }
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) enc(`${key}[${k}]`, v);
  };
  for (const [k, v] of Object.entries(data)) enc(k, v);
  return pairs.join('&');
}

const INDEX = /^\d+$/;

/**
 * Typed, Stripe-worded access to request parameters. `name` is the parameter name as the client wrote it
 * (nested readers carry the full path, e.g. `recurring[interval]`), so error messages name the right param.
 * Parameters nobody reads are ignored, as the brief for unknown-but-valid parameters asks.
 */
export class Params {
  constructor(
    readonly raw: FormObject,
    private readonly prefix = '',
  ) {}

  static of(raw: unknown, prefix = ''): Params {
    return new Params(raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as FormObject) : {}, prefix);
  }

  name(key: string): string {
    return this.prefix ? `${this.prefix}[${key}]` : key;
  }

  has(key: string): boolean {
    return this.raw[key] !== undefined;
  }

  /** true when the parameter was sent as an empty string: Stripe's way of unsetting a value */
  isUnset(key: string): boolean {
    return this.raw[key] === '';
  }

  keys(): string[] {
    return Object.keys(this.raw);
  }

  private scalar(key: string): string | undefined {
    const v = this.raw[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string')
      throw invalidRequest(`Invalid ${this.name(key)}: must be a string`, { param: this.name(key), code: 'parameter_invalid' });
    return v;
  }

  /** a string; '' counts as absent unless `allowEmpty` */
  str(key: string, opts: { required?: boolean; allowEmpty?: boolean; max?: number } = {}): string | undefined {
    const v = this.scalar(key);
    if (v === undefined || (v === '' && !opts.allowEmpty)) {
      if (opts.required) {
        if (v === '') throw emptyString(this.name(key));
        throw missingParam(this.name(key));
      }
      return undefined;
    }
    if (opts.max !== undefined && v.length > opts.max) {
      throw invalidRequest(`Invalid ${this.name(key)}: must be at most ${opts.max} characters`, {
        param: this.name(key),
        code: 'parameter_invalid',
      });
    }
    return v;
  }

  reqStr(key: string, opts: { max?: number } = {}): string {
    return this.str(key, { ...opts, required: true }) as string;
  }

  /** string, or null when sent empty (unset), or undefined when absent */
  nullableStr(key: string, opts: { max?: number } = {}): string | null | undefined {
    if (this.isUnset(key)) return null;
    return this.str(key, opts);
  }

  int(key: string, opts: { required?: boolean; min?: number; max?: number } = {}): number | undefined {
    const v = this.scalar(key);
    if (v === undefined || v === '') {
      if (opts.required) {
        if (v === '') throw emptyString(this.name(key));
        throw missingParam(this.name(key));
      }
      return undefined;
    }
    if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(Number(v))) {
      throw invalidRequest(`Invalid integer: ${v}`, { param: this.name(key), code: 'parameter_invalid_integer' });
    }
    const n = Number(v);
    if (opts.min !== undefined && n < opts.min) {
      throw invalidRequest(`Invalid ${this.name(key)}: must be greater than or equal to ${opts.min}`, {
        param: this.name(key),
        code: 'parameter_invalid_integer',
      });
    }
    if (opts.max !== undefined && n > opts.max) {
      throw invalidRequest(`Invalid ${this.name(key)}: must be less than or equal to ${opts.max}`, {
        param: this.name(key),
        code: 'parameter_invalid_integer',
      });
    }
    return n;
  }

  reqInt(key: string, opts: { min?: number; max?: number } = {}): number {
    return this.int(key, { ...opts, required: true }) as number;
  }

  bool(key: string): boolean | undefined {
    const v = this.scalar(key);
    if (v === undefined || v === '') return undefined;
    if (v === 'true') return true;
    if (v === 'false') return false;
    throw invalidRequest(`Invalid boolean: ${v}`, { param: this.name(key), code: 'parameter_invalid' });
  }

  enum<T extends string>(key: string, values: readonly T[], opts: { required?: boolean } = {}): T | undefined {
    const v = this.str(key, { required: opts.required });
    if (v === undefined) return undefined;
    if (!(values as readonly string[]).includes(v)) {
      throw invalidRequest(`Invalid ${this.name(key)}: must be one of ${oneOf(values)}`, {
        param: this.name(key),
        code: 'parameter_invalid',
      });
    }
    return v as T;
  }

  /** a nested hash; undefined when absent, null when sent as '' */
  obj(key: string): Params | null | undefined {
    const v = this.raw[key];
    if (v === undefined) return undefined;
    if (v === '') return null;
    if (typeof v !== 'object' || Array.isArray(v)) {
      throw invalidRequest(`Invalid object`, { param: this.name(key), code: 'parameter_invalid' });
    }
    return new Params(v, this.name(key));
  }

  /** an array parameter sent as `k[]=..`, `k[0]=..` or (leniently) a single `k=..` */
  list(key: string): FormValue[] | undefined {
    const v = this.raw[key];
    if (v === undefined) return undefined;
    if (v === '') return [];
    if (Array.isArray(v)) return v;
    if (typeof v === 'object') {
      const keys = Object.keys(v);
      if (keys.length && keys.every((k) => INDEX.test(k))) {
        return keys.sort((a, b) => Number(a) - Number(b)).map((k) => v[k] as FormValue);
      }
      throw invalidRequest(`Invalid array`, { param: this.name(key), code: 'parameter_invalid' });
    }
    return [v];
  }

  strList(key: string): string[] | undefined {
    const l = this.list(key);
    if (l === undefined) return undefined;
    return l.map((v, i) => {
      if (typeof v !== 'string')
        throw invalidRequest(`Invalid ${this.name(key)}[${i}]: must be a string`, {
          param: `${this.name(key)}[${i}]`,
          code: 'parameter_invalid',
        });
      return v;
    });
  }

  objList(key: string): Params[] | undefined {
    const l = this.list(key);
    if (l === undefined) return undefined;
    return l.map((v, i) => {
      if (typeof v !== 'object' || Array.isArray(v))
        throw invalidRequest(`Invalid ${this.name(key)}[${i}]: must be an object`, {
          param: `${this.name(key)}[${i}]`,
          code: 'parameter_invalid',
        });
      return new Params(v, `${this.name(key)}[${i}]`);
    });
  }

  /** `expand[]`: the list of paths to expand */
  expand(): string[] {
    return this.strList('expand') ?? [];
  }

  /**
   * Metadata on create: the hash as sent (empty values dropped). With `current`, Stripe's update rules:
   * keys merge, `metadata[k]=` removes k, `metadata=` clears everything.
   */
  metadata(current?: Record<string, string>): Record<string, string> | undefined {
    const v = this.raw['metadata'];
    if (v === undefined) return current === undefined ? undefined : current;
    if (v === '') return {};
    if (typeof v !== 'object' || Array.isArray(v)) {
      throw invalidRequest('Invalid metadata: metadata must be a set of key-value pairs', {
        param: this.name('metadata'),
        code: 'parameter_invalid',
      });
    }
    const out: Record<string, string> = { ...(current ?? {}) };
    for (const [k, val] of Object.entries(v)) {
      if (typeof val !== 'string') {
        throw invalidRequest(`Invalid value for metadata[${k}]: must be a string`, {
          param: `${this.name('metadata')}[${k}]`,
          code: 'parameter_invalid',
        });
      }
      if (k.length > 40)
        throw invalidRequest(`Metadata keys can have up to 40 characters; the key '${k}' has ${k.length}.`, {
          param: `${this.name('metadata')}[${k}]`,
        });
      if (val.length > 500)
        throw invalidRequest(
          `Metadata values can have up to 500 characters, but you passed in a value that is ${val.length} characters. Invalid value: ${val.slice(0, 20)}...`,
          { param: `${this.name('metadata')}[${k}]` },
        );
      if (val === '') delete out[k];
      else out[k] = val;
    }
    if (Object.keys(out).length > 50) throw invalidRequest('You can have up to 50 metadata keys.', { param: this.name('metadata') });
    return out;
  }
}

function emptyString(name: string) {
  return invalidRequest(
    `You passed an empty string for '${name}'. We assume empty values are an attempt to unset a parameter; however '${name}' cannot be unset. You should remove '${name}' from your request or supply a non-empty value.`,
    { param: name, code: 'parameter_invalid_empty' },
  );
}

export function oneOf(values: readonly string[]): string {
  if (values.length <= 1) return values.join('');
  return `${values.slice(0, -1).join(', ')}, or ${values[values.length - 1]}`;
}
