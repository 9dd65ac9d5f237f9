// Character sets for the regex parser: RE2's Perl and POSIX classes as code point ranges, and the
// range arithmetic the parser needs (merge, negate, simple case folding).

export const MAX_CP = 0x10ffff;
export const DIGIT = [0x30, 0x39];
export const WORD = [0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a];
export const SPACE = [0x09, 0x0a, 0x0c, 0x0d, 0x20, 0x20];
export const POSIX: Readonly<Record<string, readonly number[]>> = {
  alnum: [0x30, 0x39, 0x41, 0x5a, 0x61, 0x7a],
  alpha: [0x41, 0x5a, 0x61, 0x7a],
  ascii: [0x00, 0x7f],
  blank: [0x09, 0x09, 0x20, 0x20],
  cntrl: [0x00, 0x1f, 0x7f, 0x7f],
  digit: DIGIT,
  graph: [0x21, 0x7e],
  lower: [0x61, 0x7a],
  print: [0x20, 0x7e],
  punct: [0x21, 0x2f, 0x3a, 0x40, 0x5b, 0x60, 0x7b, 0x7e],
  space: [0x09, 0x0d, 0x20, 0x20],
  upper: [0x41, 0x5a],
  word: WORD,
  xdigit: [0x30, 0x39, 0x41, 0x46, 0x61, 0x66],
};

/** C and its simple upper/lower case forms (single code points only). */
export function caseVariants(c: number): number[] {
  if (c < 0x80) {
    if (c >= 0x41 && c <= 0x5a) return [c, c + 32];
    if (c >= 0x61 && c <= 0x7a) return [c, c - 32];
    return [c];
  }
  const out = [c];
  const s = String.fromCodePoint(c);
  for (const v of [s.toLowerCase(), s.toUpperCase()]) {
    const cp = v.codePointAt(0)!;
    if (v.length === (cp > 0xffff ? 2 : 1) && !out.includes(cp)) out.push(cp);
  }
  return out;
}

/** Largest non-ASCII span folded character by character; wider spans are taken to hold both cases already. */
const FOLD_SPAN = 4096;

export function foldRanges(ranges: readonly number[]): number[] {
  const out = ranges.slice();
  for (let k = 0; k < ranges.length; k += 2) {
    const lo = ranges[k];
    const hi = ranges[k + 1];
    for (const [a, b, d] of [[0x41, 0x5a, 32], [0x61, 0x7a, -32]] as const) {
      const l = Math.max(lo, a);
      const h = Math.min(hi, b);
      if (l <= h) out.push(l + d, h + d);
    }
    const l = Math.max(lo, 0x80);
    if (l <= hi && hi - l < FOLD_SPAN) {
      for (let c = l; c <= hi; c++) for (const v of caseVariants(c)) if (v !== c) out.push(v, v);
    }
  }
  return normalize(out);
}

/** Sorts pairs by their low end and merges overlapping or adjacent ones. */
export function normalize(ranges: number[]): number[] {
  const pairs: [number, number][] = [];
  for (let k = 0; k < ranges.length; k += 2) pairs.push([ranges[k], ranges[k + 1]]);
  pairs.sort((a, b) => a[0] - b[0]);
  const out: number[] = [];
  for (const [lo, hi] of pairs) {
    const n = out.length;
    if (n > 0 && lo <= out[n - 1] + 1) out[n - 1] = Math.max(out[n - 1], hi);
    else out.push(lo, hi);
  }
  return out;
}

export function negate(ranges: readonly number[]): number[] {
  const out: number[] = [];
  let next = 0;
  for (let k = 0; k < ranges.length; k += 2) {
    if (ranges[k] > next) out.push(next, ranges[k] - 1);
    next = ranges[k + 1] + 1;
  }
  if (next <= MAX_CP) out.push(next, MAX_CP);
  return out;
}
