// The metric names a PromQL expression reads, found by a small tokenizer (no full parser): identifiers
// that are not functions, keywords, label names inside {…} or by/without/on/ignoring lists, nor
// durations inside […]. Grafana variables ($x, ${x}, [[x]]) are skipped; a `__name__` matcher with a
// plain name or an alternation of names (`=~"a|b"`) counts those names.

type Tok = { k: 'id' | 'str' | 'num' | 'var' | 'p'; v: string };

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan', 'atan2']);
const LIST_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

function tokenize(expr: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      while (j < expr.length && expr[j] !== c) j += expr[j] === '\\' && c !== '`' ? 2 : 1;
      out.push({ k: 'str', v: expr.slice(i + 1, j) });
      i = j + 1;
    } else if (c === '$') {
      const m = /^\$(\{[^}]*\}|\w+)/.exec(expr.slice(i));
      out.push({ k: 'var', v: m?.[0] ?? '$' });
      i += m?.[0].length ?? 1;
    } else if (expr.startsWith('[[', i)) {
      const j = expr.indexOf(']]', i);
      out.push({ k: 'var', v: expr.slice(i, j + 2) });
      i = j < 0 ? expr.length : j + 2;
    } else if (/[0-9.]/.test(c)) {
      const m = /^(0x[0-9a-f]+|[0-9]*\.?[0-9]+(e[+-]?[0-9]+)?[a-z]*)/i.exec(expr.slice(i));
      out.push({ k: 'num', v: m?.[0] ?? c });
      i += m?.[0].length ?? 1;
    } else if (/[a-zA-Z_:]/.test(c)) {
      const m = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(expr.slice(i)) as RegExpExecArray;
      out.push({ k: 'id', v: m[0] });
      i += m[0].length;
    } else {
      out.push({ k: 'p', v: c });
      i++;
    }
  }
  return out;
}

/** Index after the group opened at `toks[start]` (one of ( { [), nesting counted. */
function skipGroup(toks: readonly Tok[], start: number): number {
  const open = toks[start]!.v;
  const close = open === '(' ? ')' : open === '{' ? '}' : ']';
  let depth = 0;
  for (let j = start; j < toks.length; j++) {
    const t = toks[j]!;
    if (t.k !== 'p') continue;
    if (t.v === open) depth++;
    else if (t.v === close && --depth === 0) return j + 1;
  }
  return toks.length;
}

const NAMES = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\|[a-zA-Z_:][a-zA-Z0-9_:]*)*$/;

/** `__name__` matchers inside a {…} group. */
function namesInMatchers(toks: readonly Tok[], from: number, to: number): string[] {
  const out: string[] = [];
  for (let j = from; j < to; j++) {
    const t = toks[j]!;
    if (t.k !== 'id' || t.v !== '__name__') continue;
    // __name__ = "x" or __name__ =~ "a|b": the operator is one or two punctuation tokens.
    let q = j + 1;
    while (q < to && toks[q]!.k === 'p') q++;
    const op = toks.slice(j + 1, q).map((x) => x.v).join('');
    const v = toks[q];
    if ((op === '=' || op === '=~') && v?.k === 'str' && NAMES.test(v.v)) out.push(...(op === '=' ? [v.v] : v.v.split('|')));
  }
  return out;
}

/** Metric names in `expr`, in order of appearance, without duplicates. */
export function metricNames(expr: string): string[] {
  const toks = tokenize(expr);
  const names: string[] = [];
  for (let i = 0; i < toks.length; ) {
    const t = toks[i]!;
    const next = toks[i + 1];
    if (t.k === 'p' && t.v === '{') {
      const end = skipGroup(toks, i);
      names.push(...namesInMatchers(toks, i + 1, end));
      i = end;
    } else if (t.k === 'p' && t.v === '[') {
      i = skipGroup(toks, i);
    } else if (t.k === 'id' && LIST_KEYWORDS.has(t.v)) {
      i = next?.k === 'p' && next.v === '(' ? skipGroup(toks, i + 1) : i + 1;
    } else if (t.k === 'id' && !KEYWORDS.has(t.v.toLowerCase()) && !(next?.k === 'p' && next.v === '(') && !(next?.k === 'id' && LIST_KEYWORDS.has(next.v))) {
      names.push(t.v);
      i++;
    } else {
      i++;
    }
  }
  return [...new Set(names)];
}
