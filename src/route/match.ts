// VirtualService match conditions compiled once per config into closures over a RequestView. A request
// is tested without copying: the path is compared up to its '?', query values in place, cheapest
// conditions first. Regexes come from the router's per-build cache.
import type { HttpMatch, StringMatch } from '../config/traffic';
import type { Regex } from './regex';
import type { RequestView } from './types';

/** Returns the compiled regex for SOURCE, or undefined when it does not compile (the condition then never matches). */
export type RegexLookup = (source: string) => Regex | undefined;

/** Tests REQ, which arrived on service port PORT and whose path ends (before any '?') at PATH_END. */
export type RequestTest = (req: RequestView, port: number, pathEnd: number) => boolean;

export interface CompiledMatch {
  readonly test: RequestTest;
  /**
   * Length of the path prefix a rewrite.uri replaces: the uri.prefix length, 1 when the entry has no uri
   * condition (Istio matches it as prefix "/"), -1 for exact/regex (the whole path is replaced).
   */
  readonly rewriteCut: number;
}

const enum Kind {
  Exact,
  Prefix,
  Regex,
  Never,
}

/** A StringMatch ready to test a slice of a string. */
export interface StrTest {
  readonly kind: Kind;
  readonly value: string;
  readonly re: Regex | undefined;
  readonly icase: boolean;
}

export function compileString(m: StringMatch, regex: RegexLookup, icase = false): StrTest {
  if ('exact' in m) return { kind: Kind.Exact, value: m.exact, re: undefined, icase };
  if ('prefix' in m) return { kind: Kind.Prefix, value: m.prefix, re: undefined, icase };
  const re = regex(m.regex);
  return re === undefined ? { kind: Kind.Never, value: '', re, icase: false } : { kind: Kind.Regex, value: '', re, icase: false };
}

/** True when S[start, end) satisfies T. */
export function testString(t: StrTest, s: string, start: number, end: number): boolean {
  const v = t.value;
  switch (t.kind) {
    case Kind.Exact:
      return end - start === v.length && (t.icase ? equalsIgnoreCase(s, start, v) : s.startsWith(v, start));
    case Kind.Prefix:
      return end - start >= v.length && (t.icase ? equalsIgnoreCase(s, start, v) : s.startsWith(v, start));
    case Kind.Regex:
      return t.re!.testRange(s, start, end);
    default:
      return false;
  }
}

/** S at START begins with V, ASCII letters compared case-insensitively (as Envoy's ignore_case). */
function equalsIgnoreCase(s: string, start: number, v: string): boolean {
  if (start + v.length > s.length) return false;
  for (let i = 0; i < v.length; i++) {
    let a = s.charCodeAt(start + i);
    let b = v.charCodeAt(i);
    if (a === b) continue;
    if (a >= 0x41 && a <= 0x5a) a += 32;
    if (b >= 0x41 && b <= 0x5a) b += 32;
    if (a !== b) return false;
  }
  return true;
}

/**
 * Value range of the first query parameter NAME in PATH (query starting after PATH_END), written into
 * OUT as [start, end); false when absent. A parameter without '=' has the empty value.
 */
function findParam(path: string, pathEnd: number, name: string, out: Int32Array): boolean {
  let i = pathEnd + 1;
  const n = path.length;
  while (i <= n && pathEnd < n) {
    let amp = path.indexOf('&', i);
    if (amp < 0) amp = n;
    if (path.startsWith(name, i)) {
      const after = i + name.length;
      if (after === amp) {
        out[0] = out[1] = after;
        return true;
      }
      if (after < amp && path.charCodeAt(after) === 0x3d /* = */) {
        out[0] = after + 1;
        out[1] = amp;
        return true;
      }
    }
    i = amp + 1;
  }
  return false;
}

/** One scratch range for findParam: matching is synchronous, so a single buffer serves every test. */
const RANGE = new Int32Array(2);

type Cond = RequestTest;

/** Compiles one http[].match entry; conditions are checked cheapest first. */
export function compileHttpMatch(m: HttpMatch, regex: RegexLookup): CompiledMatch {
  const conds: Cond[] = [];
  if (m.port !== undefined) {
    const want = m.port;
    conds.push((_r, port) => port === want);
  }
  if (m.method !== undefined) conds.push(field(compileString(m.method, regex), (r) => r.method));
  if (m.scheme !== undefined) conds.push(field(compileString(m.scheme, regex), (r) => r.scheme));
  if (m.sourceNamespace !== undefined) {
    const ns = m.sourceNamespace;
    conds.push((r) => r.sourceNamespace === ns);
  }
  if (m.uri !== undefined) {
    const t = compileString(m.uri, regex, m.ignoreUriCase === true);
    conds.push((r, _p, end) => testString(t, r.path, 0, end));
  }
  if (m.authority !== undefined) conds.push(field(compileString(m.authority, regex), (r) => r.authority));
  for (const [header, sm] of Object.entries(m.headers ?? {})) {
    const name = header.toLowerCase();
    const t = compileString(sm, regex);
    conds.push((r) => {
      const v = r.header(name);
      return v !== undefined && testString(t, v, 0, v.length);
    });
  }
  const labels = Object.entries(m.sourceLabels ?? {});
  if (labels.length > 0) {
    conds.push((r) => {
      const have = r.sourceLabels;
      for (let i = 0; i < labels.length; i++) if (have[labels[i][0]] !== labels[i][1]) return false;
      return true;
    });
  }
  for (const [name, sm] of Object.entries(m.queryParams ?? {})) {
    const t = compileString(sm, regex);
    conds.push((r, _p, end) => findParam(r.path, end, name, RANGE) && testString(t, r.path, RANGE[0], RANGE[1]));
  }
  const without = Object.entries(m.withoutHeaders ?? {}).map(([name, sm]) => [name.toLowerCase(), compileString(sm, regex)] as const);
  if (without.length > 0) {
    conds.push((r) => {
      for (let i = 0; i < without.length; i++) {
        const v = r.header(without[i][0]);
        if (v !== undefined && testString(without[i][1], v, 0, v.length)) return false;
      }
      return true;
    });
  }
  return { test: all(conds), rewriteCut: m.uri === undefined ? 1 : 'prefix' in m.uri ? m.uri.prefix.length : -1 };
}

function field(t: StrTest, get: (r: RequestView) => string): Cond {
  return (r) => {
    const v = get(r);
    return testString(t, v, 0, v.length);
  };
}

const ALWAYS: Cond = () => true;

function all(conds: readonly Cond[]): Cond {
  if (conds.length === 0) return ALWAYS;
  if (conds.length === 1) return conds[0];
  if (conds.length === 2) {
    const [a, b] = conds;
    return (r, p, e) => a(r, p, e) && b(r, p, e);
  }
  return (r, p, e) => {
    for (let i = 0; i < conds.length; i++) if (!conds[i](r, p, e)) return false;
    return true;
  };
}

/** Where PATH's query string starts ('?'), or its length when it has none. */
export function pathEnd(path: string): number {
  const q = path.indexOf('?');
  return q < 0 ? path.length : q;
}
