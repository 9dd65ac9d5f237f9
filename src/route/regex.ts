// Linear-time regular expressions for route matches (Envoy's safe_regex: RE2 syntax, full match). The
// pattern becomes a Thompson NFA in flat typed arrays, simulated with state sets (a Pike VM without
// captures), so a test costs O(input × pattern) whatever the pattern: no backtracking blow-up.
import { Assert, RegexError, parseRegex, type Node } from './regex-parse';

export { RegexError } from './regex-parse';

export interface Regex {
  /** True when the whole of S matches (RE2 FullMatch, as Envoy's safe_regex). */
  test(s: string): boolean;
  /** True when S[start, end) matches as a whole; lets callers test a slice without copying it. */
  testRange(s: string, start: number, end: number): boolean;
  readonly source: string;
}

/** Compiles SOURCE; throws RegexError for syntax RE2 rejects or this matcher does not support. */
export function compileRegex(source: string): Regex {
  const ast = parseRegex(source);
  return fastPath(source, ast) ?? new NfaRegex(source, ast);
}

/** Above this many states a pattern is refused (RE2 likewise bounds its program size). */
const MAX_STATES = 100_000;

const enum Op {
  Match = 0,
  Char = 1,
  Class = 2,
  Any = 3,
  AnyNotNl = 4,
  Split = 5,
  Assert = 6,
}

/** Literal patterns and `literal.*` (the common shapes of path regexes) need no automaton. */
function fastPath(source: string, ast: Node): Regex | null {
  const items = ast.t === 'cat' ? ast.items : [ast];
  let lit = '';
  let k = 0;
  for (; k < items.length; k++) {
    const n = items[k];
    if (n.t !== 'lit') break;
    lit += String.fromCodePoint(n.c);
  }
  if (k === items.length) {
    return { source, test: (s) => s === lit, testRange: (s, a, b) => b - a === lit.length && s.startsWith(lit, a) };
  }
  const last = items[k];
  if (k === items.length - 1 && last.t === 'rep' && last.min === 0 && last.max === -1 && last.sub.t === 'any') {
    const nl = last.sub.nl;
    const testRange = (s: string, a: number, b: number): boolean => {
      if (b - a < lit.length || !s.startsWith(lit, a)) return false;
      if (nl) return true;
      const i = s.indexOf('\n', a + lit.length);
      return i < 0 || i >= b;
    };
    return { source, test: (s) => testRange(s, 0, s.length), testRange };
  }
  return null;
}

class NfaRegex implements Regex {
  private readonly op: Uint8Array;
  private readonly arg: Int32Array;
  private readonly out1: Int32Array;
  private readonly out2: Int32Array;
  private readonly classes: Int32Array[];
  private readonly start: number;
  private readonly hasAssert: boolean;
  // Scratch reused by every test: a test runs to completion synchronously, so sharing is safe.
  private clist: Int32Array;
  private nlist: Int32Array;
  private readonly stack: Int32Array;
  private readonly mark: Int32Array;
  private gen = 0;

  constructor(readonly source: string, ast: Node) {
    const b = new Builder(source);
    if (estimate(ast) > MAX_STATES) throw new RegexError(`pattern too large (over ${MAX_STATES} states once repeats are expanded)`, source);
    b.add(Op.Match, 0, -1, -1);
    this.start = b.emit(ast, 0);
    const n = b.op.length;
    this.op = Uint8Array.from(b.op);
    this.arg = Int32Array.from(b.arg);
    this.out1 = Int32Array.from(b.out1);
    this.out2 = Int32Array.from(b.out2);
    this.classes = b.classes.map((r) => Int32Array.from(r));
    this.hasAssert = b.op.includes(Op.Assert);
    this.clist = new Int32Array(n);
    this.nlist = new Int32Array(n);
    this.stack = new Int32Array(2 * n + 2);
    this.mark = new Int32Array(n);
  }

  test(s: string): boolean {
    return this.testRange(s, 0, s.length);
  }

  testRange(s: string, start: number, end: number): boolean {
    const { op, arg, out1 } = this;
    this.nextGen();
    let cn = this.closure(this.start, this.clist, 0, this.context(s, start, start, end, -1));
    let pos = start;
    while (pos < end) {
      if (cn === 0) return false;
      let c = s.charCodeAt(pos);
      let len = 1;
      if (c >= 0xd800 && c <= 0xdbff && pos + 1 < end) {
        const lo = s.charCodeAt(pos + 1);
        if (lo >= 0xdc00 && lo <= 0xdfff) {
          c = ((c - 0xd800) << 10) + (lo - 0xdc00) + 0x10000;
          len = 2;
        }
      }
      pos += len;
      const ctx = this.hasAssert ? this.context(s, pos, start, end, c) : 0;
      const clist = this.clist;
      const nlist = this.nlist;
      this.nextGen();
      let nn = 0;
      for (let i = 0; i < cn; i++) {
        const st = clist[i];
        let ok: boolean;
        switch (op[st]) {
          case Op.Char: ok = arg[st] === c; break;
          case Op.Any: ok = true; break;
          case Op.AnyNotNl: ok = c !== 10; break;
          case Op.Class: ok = inRanges(this.classes[arg[st]], c); break;
          default: ok = false;
        }
        if (ok) nn = this.closure(out1[st], nlist, nn, ctx);
      }
      this.clist = nlist;
      this.nlist = clist;
      cn = nn;
    }
    const list = this.clist;
    for (let i = 0; i < cn; i++) if (op[list[i]] === Op.Match) return true;
    return false;
  }

  private nextGen(): void {
    if (++this.gen === 0x7fffffff) {
      this.mark.fill(0);
      this.gen = 1;
    }
  }

  /** Context bits (Assert) at POS between PREV and the code point at POS. */
  private context(s: string, pos: number, start: number, end: number, prev: number): number {
    if (!this.hasAssert) return 0;
    const next = pos < end ? s.codePointAt(pos)! : -1;
    let ctx = 0;
    if (pos === start) ctx |= Assert.TextBegin | Assert.LineBegin;
    if (pos === end) ctx |= Assert.TextEnd | Assert.LineEnd;
    if (prev === 10) ctx |= Assert.LineBegin;
    if (next === 10) ctx |= Assert.LineEnd;
    if (isWord(prev) !== isWord(next)) ctx |= Assert.WordBoundary;
    return ctx;
  }

  /** Adds the states reachable from S without consuming input to LIST (from index N); returns the new length. */
  private closure(s: number, list: Int32Array, n: number, ctx: number): number {
    const { op, arg, out1, out2, stack, mark, gen } = this;
    let sp = 0;
    stack[sp++] = s;
    while (sp > 0) {
      const st = stack[--sp];
      if (mark[st] === gen) continue;
      mark[st] = gen;
      switch (op[st]) {
        case Op.Split:
          stack[sp++] = out2[st];
          stack[sp++] = out1[st];
          break;
        case Op.Assert: {
          const k = arg[st];
          const holds = k === Assert.NotWordBoundary ? (ctx & Assert.WordBoundary) === 0 : (ctx & k) !== 0;
          if (holds) stack[sp++] = out1[st];
          break;
        }
        default:
          list[n++] = st;
      }
    }
    return n;
  }
}

function isWord(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;
}

function inRanges(r: Int32Array, c: number): boolean {
  if (r.length <= 16) {
    for (let k = 0; k < r.length; k += 2) {
      if (c < r[k]) return false;
      if (c <= r[k + 1]) return true;
    }
    return false;
  }
  let lo = 0;
  let hi = (r.length >> 1) - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (c < r[2 * mid]) hi = mid - 1;
    else if (c > r[2 * mid + 1]) lo = mid + 1;
    else return true;
  }
  return false;
}

/** States NODE compiles to (an upper bound), without building them. */
function estimate(node: Node): number {
  switch (node.t) {
    case 'empty':
      return 0;
    case 'cat':
    case 'alt': {
      let n = node.items.length;
      for (const i of node.items) n += estimate(i);
      return n;
    }
    case 'rep': {
      const copies = node.max === -1 ? Math.max(node.min, 1) : node.max;
      return copies * (estimate(node.sub) + 1);
    }
    default:
      return 1;
  }
}

/** Emits states back to front: each node is compiled knowing the state that follows it. */
class Builder {
  readonly op: number[] = [];
  readonly arg: number[] = [];
  readonly out1: number[] = [];
  readonly out2: number[] = [];
  readonly classes: (readonly number[])[] = [];

  constructor(private readonly source: string) {}

  add(op: Op, arg: number, o1: number, o2: number): number {
    if (this.op.length >= MAX_STATES) throw new RegexError('pattern too large', this.source);
    this.op.push(op);
    this.arg.push(arg);
    this.out1.push(o1);
    this.out2.push(o2);
    return this.op.length - 1;
  }

  /** Compiles NODE so that it continues at NEXT; returns its entry state. */
  emit(node: Node, next: number): number {
    switch (node.t) {
      case 'empty':
        return next;
      case 'lit':
        return this.add(Op.Char, node.c, next, -1);
      case 'any':
        return this.add(node.nl ? Op.Any : Op.AnyNotNl, 0, next, -1);
      case 'class':
        this.classes.push(node.ranges);
        return this.add(Op.Class, this.classes.length - 1, next, -1);
      case 'assert':
        return this.add(Op.Assert, node.k, next, -1);
      case 'cat': {
        let s = next;
        for (let i = node.items.length - 1; i >= 0; i--) s = this.emit(node.items[i], s);
        return s;
      }
      case 'alt': {
        let s = this.emit(node.items[node.items.length - 1], next);
        for (let i = node.items.length - 2; i >= 0; i--) s = this.add(Op.Split, 0, this.emit(node.items[i], next), s);
        return s;
      }
      case 'rep':
        return this.emitRepeat(node.sub, node.min, node.max, next);
    }
  }

  private emitRepeat(sub: Node, min: number, max: number, next: number): number {
    let s: number;
    let copies = min;
    if (max === -1) {
      // x* is a split looping back over x; x+ enters x first and loops through the same split.
      const loop = this.add(Op.Split, 0, -1, next);
      const body = this.emit(sub, loop);
      this.out1[loop] = body;
      if (min === 0) s = loop;
      else {
        s = body;
        copies = min - 1;
      }
    } else {
      s = next;
      for (let k = 0; k < max - min; k++) s = this.add(Op.Split, 0, this.emit(sub, s), next);
    }
    for (let k = 0; k < copies; k++) s = this.emit(sub, s);
    return s;
  }
}
