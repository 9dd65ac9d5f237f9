// Field-by-field reading of parsed YAML with every problem reported against its dotted path. Readers
// never throw: a bad field is reported and read as undefined, so one pass finds all problems.
import { checkLabelKey, checkLabelValue } from './formats';
import type { IssueSink } from './issues';
import { unsupportedMessage } from './unsupported';

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `spec` + `ports` → `spec.ports`; keys that are not identifiers are quoted: `labels["app.io/x"]`. */
export function joinKey(path: string, key: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return `${path}[${JSON.stringify(key)}]`;
  return path === '' ? key : `${path}.${key}`;
}

export function joinIndex(path: string, i: number): string {
  return `${path}[${i}]`;
}

export function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

export interface IntRange {
  readonly min: number;
  readonly max: number;
}

export const PORT_RANGE: IntRange = { min: 1, max: 65535 };

/** An item of a list field with its path, ready to be opened or read. */
export interface Item {
  readonly value: unknown;
  readonly path: string;
}

/**
 * Whether a field must be there: true, or what to write when it is missing (said after "required field
 * is missing: ").
 */
export type Required = boolean | string;

/** A mapping whose keys were checked against the known field names. */
export class Fields {
  private constructor(
    readonly sink: IssueSink,
    readonly path: string,
    private readonly obj: Readonly<Record<string, unknown>>,
    /** Known field → the unknown key written for it (`nmber` for number), reported as such already. */
    private readonly typos: ReadonlyMap<string, string>,
  ) {}

  /**
   * Opens VALUE as a mapping of KNOWN fields. Other keys are reported (with a close known name when there
   * is one); keys in UNSUPPORTED are Istio fields this version does not implement yet.
   */
  static open(
    sink: IssueSink,
    path: string,
    value: unknown,
    known: readonly string[],
    unsupported: readonly string[] = [],
  ): Fields | undefined {
    if (!isRecord(value)) {
      sink.report(path, `must be a mapping, got ${describe(value)}`);
      return undefined;
    }
    const typos = new Map<string, string>();
    for (const key of Object.keys(value)) {
      if (known.includes(key)) continue;
      if (unsupported.includes(key)) {
        sink.report(joinKey(path, key), unsupportedMessage(key));
        continue;
      }
      const near = closest(key, known);
      if (near !== undefined && !Object.hasOwn(value, near)) typos.set(near, key);
      sink.report(joinKey(path, key), near !== undefined ? `unknown field (did you mean "${near}"?)` : 'unknown field');
    }
    return new Fields(sink, path, value, typos);
  }

  at(key: string): string {
    return joinKey(this.path, key);
  }

  /** Present and not null (YAML `key:` with no value counts as absent, as in Kubernetes). */
  has(key: string): boolean {
    return this.obj[key] !== undefined && this.obj[key] !== null;
  }

  raw(key: string): unknown {
    return this.has(key) ? this.obj[key] : undefined;
  }

  report(key: string, message: string): void {
    this.sink.report(this.at(key), message);
  }

  /** The unknown key that was reported as a misspelling of KEY (`nmber` for number), if any. */
  misspelled(key: string): string | undefined {
    return this.typos.get(key);
  }

  /**
   * A "must set one of" / "at least one of" rule: whether one of KEYS is set (IS_SET, by default has).
   * When none is, MESSAGE is reported against this mapping, unless one of KEYS was misspelled: that was
   * reported already ("did you mean"), one problem, one message (as for a misspelled required field).
   */
  oneOf(keys: readonly string[], message: string, isSet: (key: string) => boolean = (k) => this.has(k)): boolean {
    if (keys.some(isSet)) return true;
    if (!keys.some((k) => this.typos.has(k))) this.sink.report(this.path, message);
    return false;
  }

  private missing(key: string, required: Required): boolean {
    if (this.has(key)) return false;
    // A misspelling of it was reported already ("did you mean"): one problem, one message.
    if (required === false || this.typos.has(key)) return true;
    this.report(key, required === true ? 'required field is missing' : `required field is missing: ${required}`);
    return true;
  }

  string(key: string, opts: { required?: Required; check?: (s: string) => string | undefined } = {}): string | undefined {
    if (this.missing(key, opts.required ?? false)) return undefined;
    const v = this.obj[key];
    if (typeof v !== 'string') return this.fail(key, `must be a string, got ${describe(v)}`);
    if (v === '' && opts.required) return this.fail(key, 'must not be empty');
    const problem = opts.check?.(v);
    return problem !== undefined ? this.fail(key, problem) : v;
  }

  int(key: string, range: IntRange, required: Required = false): number | undefined {
    if (this.missing(key, required)) return undefined;
    return readInt(this.sink, this.at(key), this.obj[key], range);
  }

  /**
   * One of CHOICES, matched case-insensitively and returned in the spelling of CHOICES; another case
   * gets a warning (see spelling).
   */
  choice<T extends string>(key: string, choices: readonly T[]): T | undefined {
    const s = this.string(key);
    if (s === undefined) return undefined;
    const found = choices.find((c) => c.toUpperCase() === s.toUpperCase());
    if (found === undefined) return this.fail(key, `must be one of ${choices.join(', ')}, got "${s}"`);
    this.spelling(key, s, found);
    return found;
  }

  /** Istio's enum values are case-sensitive: GIVEN in another case than CANONICAL is read, with a warning. */
  spelling(key: string, given: string, canonical: string): void {
    if (given !== canonical) this.sink.warn(this.at(key), `"${given}" is read as ${canonical}, but Istio refuses it: write ${canonical}`);
  }

  list(key: string, opts: { required?: Required } = {}): Item[] | undefined {
    if (this.missing(key, opts.required ?? false)) return undefined;
    const v = this.obj[key];
    if (!Array.isArray(v)) return this.fail(key, `must be a list, got ${describe(v)}`);
    if (v.length === 0 && opts.required) return this.fail(key, 'must not be empty');
    return v.map((value: unknown, i) => ({ value, path: joinIndex(this.at(key), i) }));
  }

  stringList(key: string, opts: { required?: Required; check?: (s: string) => string | undefined } = {}): string[] | undefined {
    const items = this.list(key, opts);
    if (items === undefined) return undefined;
    const out: string[] = [];
    for (const item of items) {
      if (typeof item.value !== 'string') {
        this.sink.report(item.path, `must be a string, got ${describe(item.value)}`);
        continue;
      }
      const problem = opts.check?.(item.value);
      if (problem !== undefined) this.sink.report(item.path, problem);
      else out.push(item.value);
    }
    return out;
  }

  /** A map of free-form keys to strings (labels, annotations). */
  stringMap(key: string): Record<string, string> | undefined {
    return this.map(key, (path, v) => {
      if (typeof v === 'string') return v;
      this.sink.report(path, `must be a string, got ${describe(v)}`);
      return undefined;
    });
  }

  /** Labels, or a label selector: keys and values in Kubernetes label syntax. */
  labelMap(key: string): Record<string, string> | undefined {
    if (this.missing(key, false)) return undefined;
    const v = this.obj[key];
    if (!isRecord(v)) return this.fail(key, `must be a mapping, got ${describe(v)}`);
    const out: Record<string, string> = {};
    for (const [k, item] of Object.entries(v)) {
      // A key too long to be valid is cut in the path too, so that the report stays one readable line.
      const path = joinKey(this.at(key), k.length > 80 ? `${k.slice(0, 40)}…` : k);
      if (typeof item !== 'string') {
        this.sink.report(path, `must be a string, got ${describe(item)}`);
        continue;
      }
      const problem = checkLabelKey(k) ?? checkLabelValue(item);
      if (problem !== undefined) this.sink.report(path, problem);
      else out[k] = item;
    }
    return out;
  }

  /** A map of free-form keys to integers in RANGE (endpoint ports by port name). */
  intMap(key: string, range: IntRange): Record<string, number> | undefined {
    return this.map(key, (path, v) => readInt(this.sink, path, v, range));
  }

  object(key: string, known: readonly string[], opts: { required?: Required; unsupported?: readonly string[] } = {}): Fields | undefined {
    if (this.missing(key, opts.required ?? false)) return undefined;
    return Fields.open(this.sink, this.at(key), this.obj[key], known, opts.unsupported);
  }

  private map<T>(key: string, read: (path: string, v: unknown) => T | undefined): Record<string, T> | undefined {
    if (this.missing(key, false)) return undefined;
    const v = this.obj[key];
    if (!isRecord(v)) return this.fail(key, `must be a mapping, got ${describe(v)}`);
    const out: Record<string, T> = {};
    for (const [k, item] of Object.entries(v)) {
      const r = read(joinKey(this.at(key), k), item);
      if (r !== undefined) out[k] = r;
    }
    return out;
  }

  private fail(key: string, message: string): undefined {
    this.report(key, message);
    return undefined;
  }
}

function readInt(sink: IssueSink, path: string, v: unknown, range: IntRange): number | undefined {
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    sink.report(path, `must be an integer, got ${describe(v)}`);
    return undefined;
  }
  if (v < range.min || v > range.max) {
    sink.report(path, `must be between ${range.min} and ${range.max}, got ${v}`);
    return undefined;
  }
  return v;
}

/**
 * The known name KEY is most likely a misspelling of, for "did you mean" hints (field names, kinds):
 * within edit distance 2, 3 for names of 8 letters or more, ignoring case and a plural ending
 * (`retry` for retries). Undefined when none is that close.
 */
export function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDist = Infinity;
  const k = key.toLowerCase();
  for (const name of known) {
    const n = name.toLowerCase();
    const limit = Math.max(k.length, n.length) >= 8 ? 3 : 2;
    const d = Math.min(editDistance(k, n, limit), editDistance(singular(k), singular(n), limit));
    if (d <= limit && d < bestDist) {
      best = name;
      bestDist = d;
    }
  }
  return best;
}

function singular(word: string): string {
  if (word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (word.endsWith('sses')) return word.slice(0, -2);
  return word.endsWith('s') ? word.slice(0, -1) : word;
}

/** Levenshtein distance of A and B, or CAP + 1 when it is certainly above CAP. */
function editDistance(a: string, b: string, cap: number): number {
  if (Math.abs(a.length - b.length) > cap) return cap + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}
