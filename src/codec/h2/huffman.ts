// HPACK Huffman coding (RFC 7541 §5.2, Appendix B). The code is canonical: codes of one length are
// consecutive and ordered by symbol, lengths ascending. So the table is its list of code lengths (one per
// symbol, 256 = EOS) and the codes are rebuilt from it at load time. Decoding walks a 4-bit state table
// (one step per nibble, at most one symbol out per step: no code is shorter than 5 bits).

/** Appendix B code lengths in bits, symbols 0..256. */
export const CODE_LENGTHS: readonly number[] = Object.freeze([
  // 0..31: control characters
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  // 32..63: ' ' ! " # $ % & ' ( ) * + , - . / 0 1 2 3 4 5 6 7 8 9 : ; < = > ?
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  // 64..95: @ A..Z [ \ ] ^ _
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  // 96..127: ` a..z { | } ~ DEL
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  // 128..255
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  // 256: EOS
  30,
]);

export const EOS = 256;

/** Canonical codes for CODE_LENGTHS, right-aligned (the last bit of a code is bit 0). */
export const CODES: readonly number[] = (() => {
  const order = CODE_LENGTHS.map((len, sym) => ({ len, sym })).sort((a, b) => a.len - b.len || a.sym - b.sym);
  const codes = new Array<number>(CODE_LENGTHS.length).fill(0);
  let code = 0;
  let len = order[0]!.len;
  for (const { len: l, sym } of order) {
    code *= 2 ** (l - len);
    len = l;
    codes[sym] = code;
    code++;
  }
  return Object.freeze(codes);
})();

const LEN = Uint8Array.from(CODE_LENGTHS);
const CODE = Uint32Array.from(CODES);

/** Bytes S takes Huffman-coded (latin1: one symbol per char code). */
export function huffmanLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += LEN[s.charCodeAt(i) & 0xff]!;
  return (bits + 7) >>> 3;
}

/** Writes S Huffman-coded into OUT at AT (room for huffmanLength(s) bytes); returns the end offset. */
export function huffmanEncode(s: string, out: Uint8Array, at: number): number {
  let acc = 0; // pending bits, right-aligned
  let n = 0; // how many (always < 8 between symbols)
  for (let i = 0; i < s.length; i++) {
    const sym = s.charCodeAt(i) & 0xff;
    let len = LEN[sym]!;
    let code = CODE[sym]!;
    if (len + n > 31) {
      // Split so the accumulator never passes 31 bits: first the high part, then the low 16 bits.
      const hiLen = len - 16;
      acc = ((acc << hiLen) | (code >>> 16)) >>> 0;
      n += hiLen;
      while (n >= 8) {
        n -= 8;
        out[at++] = (acc >>> n) & 0xff;
      }
      acc &= (1 << n) - 1;
      code &= 0xffff;
      len = 16;
    }
    acc = ((acc << len) | code) >>> 0;
    n += len;
    while (n >= 8) {
      n -= 8;
      out[at++] = (acc >>> n) & 0xff;
    }
    acc &= (1 << n) - 1;
  }
  // Pad with the most significant bits of EOS (all ones).
  if (n > 0) out[at++] = ((acc << (8 - n)) | (0xff >>> n)) & 0xff;
  return at;
}

// Decoding state machine. States are the 256 internal nodes of the code tree (0 = root). For each state
// and nibble: the next state, a symbol if one completed, or failure if EOS was reached.
const STEP_EMIT = 0x100;
const STEP_FAIL = 0x200;
/** Entry = next state | STEP_EMIT | STEP_FAIL | symbol << 16. */
const STEPS = new Int32Array(256 * 16);
/** States where decoding may end: the bits since the last symbol are fewer than 8 and all ones (§5.2). */
const ACCEPT = new Uint8Array(256);

(() => {
  // Build the tree: internal nodes get ids in creation order; leaves are -(symbol + 1).
  const left: number[] = [0];
  const right: number[] = [0];
  const ones: boolean[] = [true];
  const depth: number[] = [0];
  const kids = [left, right];
  for (let sym = 0; sym <= EOS; sym++) {
    const len = LEN[sym]!;
    const code = CODE[sym]!;
    let node = 0;
    for (let b = len - 1; b >= 0; b--) {
      const bit = (code >>> b) & 1;
      const side = kids[bit]!;
      if (b === 0) {
        side[node] = -(sym + 1);
        break;
      }
      if (!side[node]) {
        const id = left.length;
        left.push(0);
        right.push(0);
        ones[id] = ones[node]! && bit === 1;
        depth[id] = depth[node]! + 1;
        side[node] = id;
      }
      node = side[node]!;
    }
  }
  if (left.length !== 256) throw new Error('HPACK Huffman table is not a complete code');
  for (let s = 0; s < 256; s++) ACCEPT[s] = s === 0 || (ones[s]! && depth[s]! < 8) ? 1 : 0;
  for (let s = 0; s < 256; s++) {
    for (let v = 0; v < 16; v++) {
      let node = s;
      let out = 0;
      for (let b = 3; b >= 0; b--) {
        const next = kids[(v >>> b) & 1]![node]!;
        if (next < 0) {
          const sym = -next - 1;
          if (sym === EOS) {
            out = STEP_FAIL;
            break;
          }
          out = STEP_EMIT | (sym << 16);
          node = 0;
        } else node = next;
      }
      STEPS[s * 16 + v] = out === STEP_FAIL ? STEP_FAIL : out | node;
    }
  }
})();

let scratch = Buffer.allocUnsafe(4096);

/**
 * Decodes SRC[start..end) as a Huffman-coded string (latin1). Undefined on an invalid coding: EOS in
 * the data, padding longer than 7 bits, or padding that is not all ones (RFC 7541 §5.2).
 */
export function huffmanDecode(src: Uint8Array, start: number, end: number): string | undefined {
  // Each symbol takes at least 5 bits, so the output is at most 8/5 of the input.
  const max = (((end - start) * 8) / 5) | 0;
  if (scratch.length < max) scratch = Buffer.allocUnsafe(Math.max(max, scratch.length * 2));
  const out = scratch;
  let n = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const byte = src[i]!;
    let step = STEPS[state * 16 + (byte >>> 4)]!;
    if (step & STEP_FAIL) return undefined;
    if (step & STEP_EMIT) out[n++] = step >>> 16;
    state = step & 0xff;
    step = STEPS[state * 16 + (byte & 0xf)]!;
    if (step & STEP_FAIL) return undefined;
    if (step & STEP_EMIT) out[n++] = step >>> 16;
    state = step & 0xff;
  }
  if (!ACCEPT[state]) return undefined;
  return out.toString('latin1', 0, n);
}
