// Label and field selectors for the Kubernetes API stand-in (pure; see kubeapi.ts). The grammar is the
// API server's: comma-joined requirements, all of which must hold.
//   labels: key=v, key==v, key!=v, key, !key, key in (a,b), key notin (a,b)
//   fields: path=v, path==v, path!=v, for the paths the resource supports (else 400, as the server says)

export type Requirement =
  | { readonly op: 'eq' | 'ne'; readonly key: string; readonly value: string }
  | { readonly op: 'exists' | 'absent'; readonly key: string }
  | { readonly op: 'in' | 'notin'; readonly key: string; readonly values: readonly string[] };

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

/** Splits on commas that are not inside parentheses (the values of `in (a,b)`). */
function splitTop(s: string): string[] | undefined {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '(') depth++;
    else if (c === ')' && --depth < 0) return undefined;
    else if (c === ',' && depth === 0) {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) return undefined;
  out.push(s.slice(start));
  return out.map((p) => p.trim());
}

const KEY_RE = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE_RE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

export function parseLabelSelector(s: string | undefined): Parsed<Requirement[]> {
  if (s === undefined || s.trim() === '') return { ok: true, value: [] };
  const parts = splitTop(s);
  if (!parts) return { ok: false, error: `unable to parse requirement: unbalanced parentheses in "${s}"` };
  const reqs: Requirement[] = [];
  for (const p of parts) {
    const r = parseLabelRequirement(p);
    if (typeof r === 'string') return { ok: false, error: r };
    reqs.push(r);
  }
  return { ok: true, value: reqs };
}

function parseLabelRequirement(p: string): Requirement | string {
  const bad = (why: string): string => `unable to parse requirement: ${why}: "${p}"`;
  const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(p);
  if (set) {
    const values = set[3]!.split(',').map((v) => v.trim());
    if (!KEY_RE.test(set[1]!)) return bad('invalid label key');
    if (values.some((v) => !VALUE_RE.test(v))) return bad('invalid label value');
    return { op: set[2] as 'in' | 'notin', key: set[1]!, values };
  }
  const m = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/.exec(p);
  if (m) {
    if (!KEY_RE.test(m[1]!)) return bad('invalid label key');
    if (!VALUE_RE.test(m[3]!)) return bad('invalid label value');
    return { op: m[2] === '!=' ? 'ne' : 'eq', key: m[1]!, value: m[3]! };
  }
  const absent = p.startsWith('!');
  const key = absent ? p.slice(1).trim() : p;
  if (!KEY_RE.test(key)) return bad('invalid label key');
  return { op: absent ? 'absent' : 'exists', key };
}

/** Does a label map satisfy every requirement? (A missing key is '' for != and notin, as the server has it.) */
export function matchLabels(reqs: readonly Requirement[], labels: Readonly<Record<string, string>> | undefined): boolean {
  for (const r of reqs) {
    const has = labels !== undefined && Object.prototype.hasOwnProperty.call(labels, r.key);
    const v = has ? labels![r.key] : undefined;
    switch (r.op) {
      case 'eq': if (v !== r.value) return false; break;
      case 'ne': if (v === r.value) return false; break;
      case 'exists': if (!has) return false; break;
      case 'absent': if (has) return false; break;
      case 'in': if (v === undefined || !r.values.includes(v)) return false; break;
      case 'notin': if (v !== undefined && r.values.includes(v)) return false; break;
    }
  }
  return true;
}

export interface FieldRequirement {
  readonly field: string;
  readonly value: string;
  readonly negate: boolean;
}

export function parseFieldSelector(s: string | undefined, allowed: readonly string[]): Parsed<FieldRequirement[]> {
  if (s === undefined || s.trim() === '') return { ok: true, value: [] };
  const out: FieldRequirement[] = [];
  for (const p of s.split(',').map((x) => x.trim())) {
    const m = /^([^=!]+)(==|=|!=)(.*)$/.exec(p);
    if (!m) return { ok: false, error: `invalid selector: '${s}'; can't understand '${p}'` };
    const field = m[1]!.trim();
    if (field !== 'metadata.name' && field !== 'metadata.namespace' && !allowed.includes(field)) {
      return { ok: false, error: `field label not supported: ${field}` };
    }
    out.push({ field, value: m[3]!.trim(), negate: m[2] === '!=' });
  }
  return { ok: true, value: out };
}

/** `fields` holds the object's value for each selectable field ('' when absent). */
export function matchFields(reqs: readonly FieldRequirement[], fields: (field: string) => string): boolean {
  for (const r of reqs) {
    if ((fields(r.field) === r.value) === r.negate) return false;
  }
  return true;
}

/** The string value at a dotted path of an object ('' when absent), as field selectors compare it. */
export function fieldValue(obj: unknown, path: string): string {
  let cur: unknown = obj;
  for (const k of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return '';
    cur = (cur as Record<string, unknown>)[k];
  }
  if (cur === undefined || cur === null) return '';
  return typeof cur === 'object' ? '' : String(cur);
}
