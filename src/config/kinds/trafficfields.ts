// Value readers shared by VirtualService, DestinationRule and LocalRateLimit: durations, percentages,
// destinations, Istio StringMatch (regexes checked with the router's own RE2-subset compiler, so a
// pattern that loads is one the router can run) and header operations.
import { RegexError, compileRegex } from '../../route/regex';
import { parseDuration } from '../duration';
import { Fields, describe, isRecord, joinKey } from '../fields';
import { checkHost } from '../formats';
import type { IssueSink } from '../issues';
import type { Destination, HeaderOps, HeaderRules, StringMatch } from '../traffic';
import { readHeaderValue } from './headervalue';

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function checkHeaderName(s: string): string | undefined {
  return TOKEN.test(s) ? undefined : `"${s}" is not a valid header name`;
}

/** Why SOURCE is not a regex the router can run, or undefined when it compiles. */
export function checkRegex(source: string): string | undefined {
  if (source === '') return 'regex must not be empty';
  try {
    compileRegex(source);
    return undefined;
  } catch (e) {
    // RegexError messages already name the pattern and the reason.
    if (e instanceof RegexError) return e.message;
    return `invalid regex "${source}": ${e instanceof Error ? e.message : String(e)}`;
  }
}

/**
 * A duration string in whole milliseconds. Zero is refused unless ALLOWZERO: most durations here are
 * timeouts or intervals, where zero would mean "never" or "always" by accident.
 */
export function durationMs(f: Fields, key: string, opts: { required?: boolean; allowZero?: boolean } = {}): number | undefined {
  if (!f.has(key)) {
    if (opts.required) f.report(key, 'required field is missing');
    return undefined;
  }
  const v = f.raw(key);
  if (typeof v !== 'string') {
    f.report(key, `must be a duration string like "10s" or "250ms", got ${describe(v)}`);
    return undefined;
  }
  const d = parseDuration(v);
  if (!d.ok) {
    f.report(key, d.error);
    return undefined;
  }
  if (d.ms === 0 && !opts.allowZero) {
    f.report(key, 'must be greater than 0');
    return undefined;
  }
  return d.ms;
}

/** A number (fractions allowed) from MIN to MAX. */
export function numberIn(f: Fields, key: string, min: number, max: number, required = false): number | undefined {
  if (!f.has(key)) {
    if (required) f.report(key, 'required field is missing');
    return undefined;
  }
  const v = f.raw(key);
  if (typeof v !== 'number' || !Number.isFinite(v)) f.report(key, `must be a number, got ${describe(v)}`);
  else if (v < min || v > max) f.report(key, `must be between ${min} and ${max}, got ${v}`);
  else return v;
  return undefined;
}

/** Istio Percent `{value}` under KEY: 0..100, fractions allowed; undefined when absent or bad. */
export function percent(f: Fields, key: string, required = false): number | undefined {
  const p = f.object(key, ['value'], { required });
  return p && numberIn(p, 'value', 0, 100, true);
}

/** A boolean; only `true` is meaningful for flags such as useSourceIp, so `false` is refused. */
export function trueFlag(f: Fields, key: string): true | undefined {
  if (!f.has(key)) return undefined;
  if (f.raw(key) === true) return true;
  f.report(key, `must be true (leave it out otherwise), got ${describe(f.raw(key))}`);
  return undefined;
}

export function bool(f: Fields, key: string): boolean | undefined {
  if (!f.has(key)) return undefined;
  const v = f.raw(key);
  if (typeof v === 'boolean') return v;
  f.report(key, `must be true or false, got ${describe(v)}`);
  return undefined;
}

/** `port: {number}` of a destination or port-level setting. */
export function portNumber(f: Fields, key: string, required = false): number | undefined {
  const p = f.object(key, ['number'], { required });
  return p && p.int('number', { min: 1, max: 65535 }, true);
}

/**
 * A destination as written: the host is resolved to a service later, when all services are known, so
 * `service` is left empty here.
 */
export function readDestination(f: Fields, key: string, required = true): Destination | undefined {
  const d = f.object(key, ['host', 'subset', 'port'], { required });
  if (d === undefined) return undefined;
  const host = d.string('host', { required: true, check: checkHost });
  const subset = d.string('subset', { check: (s) => (s === '' ? 'must not be empty' : undefined) });
  const port = portNumber(d, 'port');
  if (host === undefined) return undefined;
  return { host, service: '', ...(subset !== undefined ? { subset } : {}), ...(port !== undefined ? { port } : {}) };
}

export type MatchKind = 'exact' | 'prefix' | 'regex';

/**
 * Istio StringMatch at PATH: exactly one of KINDS. An empty mapping is read as "present with any
 * value" (`{regex: '.*'}`) when PRESENCE is allowed (header and query parameter matches), else refused.
 */
export function readStringMatch(sink: IssueSink, path: string, value: unknown, kinds: readonly MatchKind[], presence: boolean): StringMatch | undefined {
  const all: MatchKind[] = ['exact', 'prefix', 'regex'];
  const m = Fields.open(sink, path, value, all);
  if (m === undefined) return undefined;
  const given = all.filter((k) => m.has(k));
  if (given.length === 0) {
    if (presence) return { regex: '.*' };
    m.oneOf(kinds, `must set one of ${kinds.join(', ')}`);
    return undefined;
  }
  if (given.length > 1) {
    sink.report(path, `must set only one of ${kinds.join(', ')}, got ${given.join(' and ')}`);
    return undefined;
  }
  const kind = given[0] as MatchKind;
  if (!kinds.includes(kind)) {
    m.report(kind, `${kind} matching is not supported here (use ${kinds.join(' or ')})`);
    return undefined;
  }
  const s = m.string(kind, {
    check: (v) => (kind === 'regex' ? checkRegex(v) : kind === 'prefix' && v === '' ? 'prefix must not be empty' : undefined),
  });
  if (s === undefined) return undefined;
  return kind === 'exact' ? { exact: s } : kind === 'prefix' ? { prefix: s } : { regex: s };
}

/** A map of header (or query parameter) names to StringMatch; header names are lower-cased. */
export function readMatchMap(
  f: Fields,
  key: string,
  opts: { kinds: readonly MatchKind[]; lowerCase: boolean },
): Record<string, StringMatch> | undefined {
  const raw = f.raw(key);
  if (raw === undefined) return undefined;
  if (!isRecord(raw)) {
    f.report(key, `must be a mapping of names to matches, got ${describe(raw)}`);
    return undefined;
  }
  const out: Record<string, StringMatch> = {};
  for (const [name, value] of Object.entries(raw)) {
    const path = joinKey(f.at(key), name);
    const problem = name === '' ? 'name must not be empty' : opts.lowerCase ? checkHeaderName(name) : undefined;
    if (problem !== undefined) {
      f.sink.report(path, problem);
      continue;
    }
    const k = opts.lowerCase ? name.toLowerCase() : name;
    if (Object.hasOwn(out, k)) f.sink.report(path, `duplicate name "${k}" (header names are case-insensitive)`);
    const sm = readStringMatch(f.sink, path, value ?? {}, opts.kinds, true);
    if (sm !== undefined) out[k] = sm;
  }
  return out;
}

const HEADER_OPS_FIELDS = ['set', 'add', 'remove'];

/** Istio Headers: `{request, response}`, each `{set, add, remove}`; names lower-cased. */
export function readHeaderRules(f: Fields, key: string): HeaderRules | undefined {
  const h = f.object(key, ['request', 'response']);
  if (h === undefined) return undefined;
  const request = readHeaderOps(h, 'request');
  const response = readHeaderOps(h, 'response');
  return { ...(request ? { request } : {}), ...(response ? { response } : {}) };
}

function readHeaderOps(f: Fields, key: string): HeaderOps | undefined {
  const o = f.object(key, HEADER_OPS_FIELDS);
  if (o === undefined) return undefined;
  const lower = (field: string, m: Record<string, string> | undefined): Record<string, string> | undefined => {
    if (m === undefined) return undefined;
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(m)) {
      // `:authority` may be set on requests (it rewrites the authority, as rewrite.authority does).
      const authority = name.toLowerCase() === ':authority' && key === 'request' && field === 'set';
      const problem = authority ? undefined : checkHeaderName(name);
      const v = readHeaderValue(value);
      if (problem !== undefined) o.sink.report(joinKey(o.at(field), name), problem);
      else if (!v.ok) o.sink.report(joinKey(o.at(field), name), v.problem);
      else out[name.toLowerCase()] = v.value;
    }
    return out;
  };
  const set = lower('set', o.stringMap('set'));
  const add = lower('add', o.stringMap('add'));
  const remove = o.stringList('remove', { check: checkHeaderName })?.map((n) => n.toLowerCase());
  return { ...(set ? { set } : {}), ...(add ? { add } : {}), ...(remove ? { remove } : {}) };
}

/** O without its undefined properties, so the model compares and prints cleanly. */
export function strip<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}
