// Parser for the RE2 syntax route matches are written in (Envoy's safe_regex is RE2): turns a pattern
// into a small syntax tree, folding case and negating classes up front so the matcher only compares
// code points. Anything RE2 rejects, or that this parser does not support, is a RegexError.
import { DIGIT, MAX_CP, POSIX, SPACE, WORD, caseVariants, foldRanges, negate, normalize } from './regex-charclass';

export class RegexError extends Error {
  constructor(message: string, readonly pattern: string) {
    super(`invalid regex ${JSON.stringify(pattern)}: ${message}`);
    this.name = 'RegexError';
  }
}

/** Zero-width assertions, as the bits of the per-position context the matcher computes. */
export const enum Assert {
  TextBegin = 1,
  TextEnd = 2,
  LineBegin = 4,
  LineEnd = 8,
  WordBoundary = 16,
  /** Not a context bit: holds when WordBoundary does not. */
  NotWordBoundary = 32,
}

/** Class ranges are flat [lo0, hi0, lo1, hi1, ...] pairs of code points, sorted and merged. */
export type Node =
  | { readonly t: 'empty' }
  | { readonly t: 'lit'; readonly c: number }
  | { readonly t: 'class'; readonly ranges: readonly number[] }
  | { readonly t: 'any'; readonly nl: boolean }
  | { readonly t: 'cat'; readonly items: readonly Node[] }
  | { readonly t: 'alt'; readonly items: readonly Node[] }
  | { readonly t: 'rep'; readonly sub: Node; readonly min: number; readonly max: number }
  | { readonly t: 'assert'; readonly k: Assert };

/** RE2's limit on {n,m} counts. */
const MAX_REPEAT = 1000;
const MAX_DEPTH = 500;

interface Flags {
  readonly i: boolean;
  readonly m: boolean;
  readonly s: boolean;
}

export function parseRegex(src: string): Node {
  return new Parser(src).parseAll();
}

class Parser {
  private pos = 0;
  private flags: Flags = { i: false, m: false, s: false };
  private depth = 0;

  constructor(private readonly src: string) {}

  parseAll(): Node {
    const node = this.parseAlt();
    if (this.pos < this.src.length) throw this.err(`unexpected ) at offset ${this.pos}`);
    return node;
  }

  private err(message: string): RegexError {
    return new RegexError(message, this.src);
  }

  private parseAlt(): Node {
    const items = [this.parseConcat()];
    while (this.src.charCodeAt(this.pos) === 0x7c /* | */) {
      this.pos++;
      items.push(this.parseConcat());
    }
    return items.length === 1 ? items[0] : { t: 'alt', items };
  }

  private parseConcat(): Node {
    const items: Node[] = [];
    while (this.pos < this.src.length) {
      const c = this.src.charCodeAt(this.pos);
      if (c === 0x7c || c === 0x29 /* ) */) break;
      const atom = this.parseAtom();
      if (atom === null) continue; // a flag group such as (?i)
      items.push(this.parseRepeats(atom));
    }
    if (items.length === 0) return { t: 'empty' };
    return items.length === 1 ? items[0] : { t: 'cat', items };
  }

  /** One quantifier (with an optional lazy `?`) after ATOM; a second one is an error, as in RE2. */
  private parseRepeats(atom: Node): Node {
    const rep = this.parseQuantifier();
    if (rep === null) return atom;
    if (this.src.charCodeAt(this.pos) === 0x3f /* ? */) this.pos++; // lazy: same answer for a test
    else if (this.src.charCodeAt(this.pos) === 0x2b /* + */) throw this.err('possessive quantifiers are not supported');
    if (this.peekQuantifier()) throw this.err(`invalid nested repetition operator at offset ${this.pos}`);
    return rep.max === 0 ? { t: 'empty' } : { t: 'rep', sub: atom, min: rep.min, max: rep.max };
  }

  private peekQuantifier(): boolean {
    const c = this.src.charCodeAt(this.pos);
    return c === 0x2a || c === 0x2b || c === 0x3f || (c === 0x7b && this.braceAt(this.pos) !== null);
  }

  private parseQuantifier(): { min: number; max: number } | null {
    const c = this.src.charCodeAt(this.pos);
    if (c === 0x2a /* * */) return this.pos++, { min: 0, max: -1 };
    if (c === 0x2b /* + */) return this.pos++, { min: 1, max: -1 };
    if (c === 0x3f /* ? */) return this.pos++, { min: 0, max: 1 };
    if (c !== 0x7b /* { */) return null;
    const b = this.braceAt(this.pos);
    if (b === null) return null; // RE2: a `{` that does not form a repeat is a literal
    if (b.min > MAX_REPEAT || b.max > MAX_REPEAT) throw this.err(`repeat count above ${MAX_REPEAT}: ${this.src.slice(this.pos, b.end)}`);
    if (b.max !== -1 && b.max < b.min) throw this.err(`invalid repeat count ${this.src.slice(this.pos, b.end)}: max below min`);
    this.pos = b.end;
    return { min: b.min, max: b.max };
  }

  /** `{n}`, `{n,}` or `{n,m}` at AT, or null when the text there is not one. */
  private braceAt(at: number): { min: number; max: number; end: number } | null {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(at, at + 24));
    if (m === null) return null;
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === '' ? -1 : Number(m[3]);
    return { min, max, end: at + m[0].length };
  }

  private parseAtom(): Node | null {
    const c = this.src.charCodeAt(this.pos);
    switch (c) {
      case 0x28 /* ( */:
        return this.parseGroup();
      case 0x5b /* [ */:
        this.pos++;
        return { t: 'class', ranges: this.parseClass() };
      case 0x2e /* . */:
        this.pos++;
        return { t: 'any', nl: this.flags.s };
      case 0x5e /* ^ */:
        this.pos++;
        return { t: 'assert', k: this.flags.m ? Assert.LineBegin : Assert.TextBegin };
      case 0x24 /* $ */:
        this.pos++;
        return { t: 'assert', k: this.flags.m ? Assert.LineEnd : Assert.TextEnd };
      case 0x5c /* \ */:
        return this.parseEscapeAtom();
      case 0x2a:
      case 0x2b:
      case 0x3f:
        throw this.err(`missing argument to repetition operator at offset ${this.pos}`);
      case 0x7b:
        if (this.braceAt(this.pos) !== null) throw this.err(`missing argument to repetition operator at offset ${this.pos}`);
        this.pos++;
        return this.literal(c);
      default: {
        const cp = this.src.codePointAt(this.pos)!;
        this.pos += cp > 0xffff ? 2 : 1;
        return this.literal(cp);
      }
    }
  }

  private parseGroup(): Node | null {
    const open = this.pos;
    const saved = this.flags;
    this.pos++;
    if (this.src.charCodeAt(this.pos) === 0x3f /* ? */) {
      const rest = this.src.slice(this.pos + 1, this.pos + 4);
      if (rest.startsWith('=') || rest.startsWith('!')) throw this.err('lookahead (?= (?! is not supported');
      if (rest.startsWith('<=') || rest.startsWith('<!')) throw this.err('lookbehind (?<= (?<! is not supported');
      if (rest.startsWith('P=') || rest.startsWith('P>')) throw this.err('backreferences are not supported');
      if (rest.startsWith('>')) throw this.err('atomic groups (?> are not supported');
      const named = /^\?(P?<)([A-Za-z_][A-Za-z0-9_]*)>/.exec(this.src.slice(this.pos, this.pos + 300));
      if (named !== null) this.pos += named[0].length;
      else if (this.parseFlags()) return null;
    }
    if (++this.depth > MAX_DEPTH) throw this.err('groups nested too deeply');
    const inner = this.parseAlt();
    this.flags = saved;
    this.depth--;
    if (this.src.charCodeAt(this.pos) !== 0x29) throw this.err(`missing closing ) for the group at offset ${open}`);
    this.pos++;
    return inner;
  }

  /**
   * After `(?`: flags `i m s U`, optionally negated with `-`. `(?flags)` changes the flags for the rest
   * of the enclosing group and returns true; `(?flags:` starts a group with them and returns false.
   */
  private parseFlags(): boolean {
    const start = this.pos;
    let i = this.flags.i;
    let m = this.flags.m;
    let s = this.flags.s;
    let neg = false;
    let any = false;
    for (this.pos++; this.pos < this.src.length; this.pos++) {
      const ch = this.src[this.pos];
      if (ch === 'i' || ch === 'm' || ch === 's' || ch === 'U') {
        if (ch === 'i') i = !neg;
        else if (ch === 'm') m = !neg;
        else if (ch === 's') s = !neg;
        any = true;
        continue;
      }
      if (ch === '-' && !neg) {
        neg = true;
        any = false;
        continue;
      }
      if ((ch === ')' || ch === ':') && (any || !neg)) {
        this.flags = { i, m, s };
        this.pos++;
        return ch === ')';
      }
      break;
    }
    throw this.err(`invalid or unsupported group syntax ${this.src.slice(start - 1, this.pos + 1)}`);
  }

  private parseEscapeAtom(): Node {
    const at = this.pos;
    const e = this.src[this.pos + 1];
    switch (e) {
      case 'b':
      case 'B':
        this.pos += 2;
        return { t: 'assert', k: e === 'b' ? Assert.WordBoundary : Assert.NotWordBoundary };
      case 'A':
        this.pos += 2;
        return { t: 'assert', k: Assert.TextBegin };
      case 'z':
        this.pos += 2;
        return { t: 'assert', k: Assert.TextEnd };
      case 'Q': {
        const end = this.src.indexOf('\\E', at + 2);
        const text = this.src.slice(at + 2, end < 0 ? this.src.length : end);
        this.pos = end < 0 ? this.src.length : end + 2;
        const items: Node[] = [];
        for (const ch of text) items.push(this.literal(ch.codePointAt(0)!));
        return items.length === 0 ? { t: 'empty' } : items.length === 1 ? items[0] : { t: 'cat', items };
      }
      default: {
        const cls = this.perlClass();
        if (cls !== null) return { t: 'class', ranges: cls };
        return this.literal(this.parseEscape());
      }
    }
  }

  /** `\d \D \s \S \w \W` at the current position: consumes it and returns its (folded) ranges. */
  private perlClass(): number[] | null {
    const e = this.src[this.pos + 1];
    const base = e === 'd' || e === 'D' ? DIGIT : e === 's' || e === 'S' ? SPACE : e === 'w' || e === 'W' ? WORD : null;
    if (base === null) return null;
    this.pos += 2;
    const folded = this.flags.i ? foldRanges(base) : normalize(base.slice());
    return e === e.toUpperCase() ? negate(folded) : folded;
  }

  /** A single-code-point escape at the current `\`; class escapes and assertions are handled before. */
  private parseEscape(): number {
    const at = this.pos;
    if (at + 1 >= this.src.length) throw this.err('trailing backslash at end of expression');
    const e = this.src[at + 1];
    this.pos += 2;
    if (e >= '1' && e <= '9') {
      // RE2: \1..\7 followed by an octal digit is an octal escape; a lone digit is a backreference.
      if (e > '7' || !isOctal(this.src[this.pos])) throw this.err(`backreferences are not supported: \\${e}`);
    }
    if (e >= '0' && e <= '7') {
      let v = e.charCodeAt(0) - 0x30;
      for (let n = 0; n < 2 && isOctal(this.src[this.pos]); n++) v = v * 8 + (this.src.charCodeAt(this.pos++) - 0x30);
      return v;
    }
    switch (e) {
      case 'a': return 7;
      case 'f': return 12;
      case 'n': return 10;
      case 'r': return 13;
      case 't': return 9;
      case 'v': return 11;
      case 'x': return this.parseHex();
      case 'p':
      case 'P':
        throw this.err(`Unicode character classes (\\${e}) are not supported`);
      case 'k':
      case 'g':
        throw this.err(`backreferences are not supported: \\${e}`);
      case 'C':
        throw this.err('\\C (any byte) is not supported');
    }
    const c = e.charCodeAt(0);
    if (c < 0x80 && !/[0-9A-Za-z]/.test(e)) return c; // escaped punctuation is literal
    throw this.err(`invalid escape sequence \\${e} at offset ${at}`);
  }

  private parseHex(): number {
    if (this.src[this.pos] === '{') {
      const end = this.src.indexOf('}', this.pos);
      const hex = end < 0 ? '' : this.src.slice(this.pos + 1, end);
      if (!/^[0-9A-Fa-f]{1,8}$/.test(hex) || parseInt(hex, 16) > MAX_CP) throw this.err('invalid \\x{...} escape');
      this.pos = end + 1;
      return parseInt(hex, 16);
    }
    const hex = this.src.slice(this.pos, this.pos + 2);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw this.err('invalid \\x escape: two hex digits expected');
    this.pos += 2;
    return parseInt(hex, 16);
  }

  /** After `[`: the class up to its `]`, as normalized positive ranges (negation and case folding applied). */
  private parseClass(): number[] {
    const open = this.pos - 1;
    const neg = this.src.charCodeAt(this.pos) === 0x5e /* ^ */;
    if (neg) this.pos++;
    const ranges: number[] = [];
    for (let first = true; ; first = false) {
      if (this.pos >= this.src.length) throw this.err(`missing closing ] for the class at offset ${open}`);
      const c = this.src.charCodeAt(this.pos);
      if (c === 0x5d /* ] */ && !first) {
        this.pos++;
        break;
      }
      if (c === 0x5b && this.src.charCodeAt(this.pos + 1) === 0x3a /* [: */) {
        const posix = this.parsePosix();
        if (posix !== null) {
          ranges.push(...posix);
          continue;
        }
      }
      if (c === 0x5c) {
        const cls = this.perlClass();
        if (cls !== null) {
          ranges.push(...cls);
          continue;
        }
      }
      const lo = this.classChar();
      let hi = lo;
      if (this.src.charCodeAt(this.pos) === 0x2d /* - */ && this.pos + 1 < this.src.length && this.src.charCodeAt(this.pos + 1) !== 0x5d) {
        const rangeAt = this.pos;
        this.pos++;
        if (this.src.charCodeAt(this.pos) === 0x5c && /[dDsSwW]/.test(this.src[this.pos + 1] ?? '')) {
          throw this.err(`invalid character class range at offset ${rangeAt}`);
        }
        hi = this.classChar();
        if (hi < lo) throw this.err(`invalid character class range ${String.fromCodePoint(lo)}-${String.fromCodePoint(hi)}`);
      }
      ranges.push(lo, hi);
    }
    const positive = this.flags.i ? foldRanges(ranges) : normalize(ranges);
    return neg ? negate(positive) : positive;
  }

  /** `[:name:]` or `[:^name:]` inside a class; null when the text is not one (then `[` is literal). */
  private parsePosix(): number[] | null {
    const end = this.src.indexOf(':]', this.pos + 2);
    if (end < 0) return null;
    let name = this.src.slice(this.pos + 2, end);
    const neg = name.startsWith('^');
    if (neg) name = name.slice(1);
    const r = POSIX[name];
    if (r === undefined) throw this.err(`invalid character class [:${name}:]`);
    this.pos = end + 2;
    const folded = this.flags.i ? foldRanges(r) : normalize(r.slice());
    return neg ? negate(folded) : folded;
  }

  private classChar(): number {
    if (this.src.charCodeAt(this.pos) === 0x5c) {
      const e = this.src[this.pos + 1];
      if (e === 'b' || e === 'B' || e === 'A' || e === 'z' || e === 'Q') throw this.err(`invalid escape sequence \\${e} in a class`);
      return this.parseEscape();
    }
    const cp = this.src.codePointAt(this.pos)!;
    this.pos += cp > 0xffff ? 2 : 1;
    return cp;
  }

  /** A literal code point; with (?i) a class of its case variants. */
  private literal(c: number): Node {
    if (!this.flags.i) return { t: 'lit', c };
    const variants = caseVariants(c);
    if (variants.length === 1) return { t: 'lit', c };
    const ranges: number[] = [];
    for (const v of variants) ranges.push(v, v);
    return { t: 'class', ranges: normalize(ranges) };
  }
}

function isOctal(ch: string | undefined): boolean {
  return ch !== undefined && ch >= '0' && ch <= '7';
}
