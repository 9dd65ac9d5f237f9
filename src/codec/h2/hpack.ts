// HPACK (RFC 7541): primitive coding (§5), the decoder with header list size limits, and the encoder
// with its indexing policy. Header lists are flat arrays [name0, value0, name1, value1, ...] of latin1
// strings (one char per octet), so no objects are made per header.

import { huffmanDecode, huffmanEncode, huffmanLength } from './huffman';
import { DynamicTable, entrySize, STATIC_COUNT, STATIC_INDEX, STATIC_TABLE } from './hpack-table';

/** Integers above this are rejected: no index, length or table size can be that large. */
const MAX_INT = 2 ** 31 - 1;

/** Writes I with an N-bit prefix into OUT at AT, keeping FIRST's high bits (§5.1); returns the end. */
export function encodeInt(out: Uint8Array, at: number, i: number, n: number, first: number): number {
  const max = (1 << n) - 1;
  if (i < max) {
    out[at++] = first | i;
    return at;
  }
  out[at++] = first | max;
  i -= max;
  while (i >= 128) {
    out[at++] = (i % 128) | 128;
    i = Math.floor(i / 128);
  }
  out[at++] = i;
  return at;
}

export interface DecodeResult {
  /** Flat [name, value, ...]; empty when oversize. */
  readonly headers: string[];
  /** Pair numbers (0-based) that arrived as never-indexed literals (§6.2.3); undefined if none. */
  readonly sensitive: number[] | undefined;
  /** The list passed maxHeaderListSize: it was decoded (the table stays in step) but not kept. */
  readonly oversize: boolean;
}

export interface DecoderOptions {
  /**
   * The largest size update allowed: SETTINGS_HEADER_TABLE_SIZE as this side advertises it (until the
   * peer acknowledged a smaller one, the larger of it and the protocol's 4096). The table itself starts
   * at 4096, as the peer's encoder does.
   */
  readonly maxTableSize?: number;
  /** Limit on the decoded list (§4.1 sizes: name + value + 32 per field). */
  readonly maxHeaderListSize?: number;
}

export class HpackDecoder {
  readonly table: DynamicTable;
  private limit: number;
  private maxListSize: number;
  /** A smaller limit was set: the next block must start with a size update (§4.2). */
  private updateDue = false;
  /** Reason of the last failure (COMPRESSION_ERROR), for logs and tests. */
  error = '';
  private pos = 0;

  constructor(options: DecoderOptions = {}) {
    this.limit = options.maxTableSize ?? 4096;
    this.maxListSize = options.maxHeaderListSize ?? Infinity;
    this.table = new DynamicTable(4096);
  }

  /** This side now advertises SIZE as SETTINGS_HEADER_TABLE_SIZE (call once the peer acknowledged it). */
  setMaxTableSize(size: number): void {
    if (size < this.table.maxSize) this.updateDue = true;
    this.limit = size;
  }

  setMaxHeaderListSize(size: number): void {
    this.maxListSize = size;
  }

  /** Decodes one complete header block; undefined on a COMPRESSION_ERROR (reason in `error`). */
  decode(block: Uint8Array, start = 0, end = block.length): DecodeResult | undefined {
    const headers: string[] = [];
    let sensitive: number[] | undefined;
    let listSize = 0;
    let oversize = false;
    let fields = 0;
    this.pos = start;
    const table = this.table;
    while (this.pos < end) {
      const b = block[this.pos]!;
      let name: string | undefined;
      let value: string | undefined;
      if (b & 0x80) {
        // Indexed header field (§6.1).
        const i = this.int(block, end, 7);
        if (i < 0) return this.fail('bad integer');
        if (i === 0) return this.fail('index 0');
        if (i <= STATIC_COUNT) [name, value] = STATIC_TABLE[i - 1]!;
        else {
          name = table.name(i - STATIC_COUNT);
          value = table.value(i - STATIC_COUNT);
          if (name === undefined) return this.fail(`index ${i} out of range`);
        }
      } else if ((b & 0xe0) === 0x20) {
        // Dynamic table size update (§6.3): only before the first field.
        if (fields > 0) return this.fail('table size update after a header field');
        const size = this.int(block, end, 5);
        if (size < 0) return this.fail('bad integer');
        if (size > this.limit) return this.fail(`table size update ${size} above the limit ${this.limit}`);
        table.resize(size);
        this.updateDue = false;
        continue;
      } else {
        // Literal: with incremental indexing (01), without (0000) or never indexed (0001) (§6.2).
        const indexing = (b & 0xc0) === 0x40;
        const i = this.int(block, end, indexing ? 6 : 4);
        if (i < 0) return this.fail('bad integer');
        if (i === 0) {
          name = this.str(block, end);
          if (name === undefined) return this.fail(this.error);
        } else if (i <= STATIC_COUNT) name = STATIC_TABLE[i - 1]![0];
        else {
          name = table.name(i - STATIC_COUNT);
          if (name === undefined) return this.fail(`name index ${i} out of range`);
        }
        value = this.str(block, end);
        if (value === undefined) return this.fail(this.error);
        if (indexing) table.add(name, value);
        else if (b & 0x10 && !oversize) (sensitive ??= []).push(headers.length >> 1);
      }
      if (this.updateDue) return this.fail('missing table size update');
      fields++;
      listSize += entrySize(name, value!);
      if (listSize > this.maxListSize) oversize = true;
      if (!oversize) headers.push(name, value!);
    }
    if (this.updateDue && fields === 0 && end > start) return this.fail('missing table size update');
    if (oversize) return { headers: [], sensitive: undefined, oversize };
    return { headers, sensitive, oversize };
  }

  private fail(reason: string): undefined {
    this.error = reason;
    return undefined;
  }

  /** Reads an integer with an N-bit prefix at pos; -1 if truncated or too large. */
  private int(src: Uint8Array, end: number, n: number): number {
    const max = (1 << n) - 1;
    let i = src[this.pos++]! & max;
    if (i < max) return i;
    let m = 1;
    for (;;) {
      if (this.pos >= end) return -1;
      const b = src[this.pos++]!;
      i += (b & 127) * m;
      if (i > MAX_INT) return -1;
      if ((b & 128) === 0) return i;
      m *= 128;
    }
  }

  /** Reads a string literal (§5.2) at pos. */
  private str(src: Uint8Array, end: number): string | undefined {
    if (this.pos >= end) return this.fail('truncated string'), undefined;
    const huffman = (src[this.pos]! & 0x80) !== 0;
    const len = this.int(src, end, 7);
    if (len < 0 || this.pos + len > end) return this.fail('truncated string'), undefined;
    const at = this.pos;
    this.pos += len;
    if (!huffman) return Buffer.prototype.toString.call(src, 'latin1', at, at + len);
    const s = huffmanDecode(src, at, at + len);
    if (s === undefined) this.fail('invalid Huffman coding');
    return s;
  }
}

/** How a header is represented. */
const enum Index {
  Yes,
  No,
  Never,
}

/** Sensitive headers (§7.1.3): never indexed, and intermediaries keep them so. */
const NEVER = new Set(['authorization', 'proxy-authorization']);
/** Values that change with each message: indexing them only churns the table. */
const NO_INDEX = new Set([
  'content-length', 'date', 'etag', 'last-modified', 'if-modified-since', 'if-none-match', 'location',
  'set-cookie', 'x-request-id', 'age', 'expires', 'x-b3-traceid', 'x-b3-spanid', 'traceparent',
]);
/** Short cookies can be guessed one by one through the table (§7.1.3): those are never indexed. */
const SHORT_COOKIE = 20;

/** What the encoder knows of a name before its value: one map lookup per field instead of three. */
interface NameInfo {
  /** Static table index of the name (0: not in it) and its static values. */
  readonly index: number;
  readonly values: ReadonlyMap<string, number> | undefined;
  readonly never: boolean;
  readonly noIndex: boolean;
}

const NAMES: ReadonlyMap<string, NameInfo> = (() => {
  const m = new Map<string, NameInfo>();
  for (const n of new Set([...STATIC_INDEX.keys(), ...NEVER, ...NO_INDEX])) {
    const st = STATIC_INDEX.get(n);
    m.set(n, { index: st?.index ?? 0, values: st?.values, never: NEVER.has(n), noIndex: NO_INDEX.has(n) });
  }
  return m;
})();

export interface EncoderOptions {
  /** Largest dynamic table this encoder will use, whatever the peer allows (default 4096). */
  readonly maxTableSize?: number;
  /** Table size the peer's decoder starts with (4096 unless both sides agreed otherwise). */
  readonly peerTableSize?: number;
  /** 'auto' (default): Huffman when shorter. */
  readonly huffman?: 'auto' | 'always' | 'never';
  /** 'default': skip per-message values and large fields; 'all': index every field but sensitive ones. */
  readonly indexing?: 'default' | 'all';
}

export class HpackEncoder {
  readonly table: DynamicTable;
  private readonly ownLimit: number;
  /** Smallest limit since the last block and the one to announce, per §4.2 (-1: none pending). */
  private minPending = -1;
  private readonly huffman: 'auto' | 'always' | 'never';
  private readonly indexAll: boolean;
  private buf = Buffer.allocUnsafe(1024);

  constructor(options: EncoderOptions = {}) {
    this.ownLimit = options.maxTableSize ?? 4096;
    this.huffman = options.huffman ?? 'auto';
    this.indexAll = options.indexing === 'all';
    const start = options.peerTableSize ?? 4096;
    this.table = new DynamicTable(Math.min(this.ownLimit, start), true);
    // A smaller own limit than the peer's decoder starts with is announced in the first block.
    if (this.ownLimit < start) this.minPending = this.ownLimit;
  }

  /** The peer's SETTINGS_HEADER_TABLE_SIZE changed: the next block starts with a size update. */
  setPeerTableSize(size: number): void {
    const next = Math.min(size, this.ownLimit);
    if (next === this.table.maxSize && this.minPending < 0) return;
    this.minPending = this.minPending < 0 ? next : Math.min(this.minPending, next);
    this.table.resize(next);
  }

  /**
   * Encodes a header list; the result is a view of an internal buffer, valid until the next call.
   * SENSITIVE: pair numbers to send never-indexed (for example as they arrived from another peer).
   */
  encodeView(headers: readonly string[], sensitive?: readonly number[]): Buffer {
    let at = 0;
    if (this.minPending >= 0) {
      this.ensure(at + 12);
      if (this.minPending < this.table.maxSize) at = encodeInt(this.buf, at, this.minPending, 5, 0x20);
      at = encodeInt(this.buf, at, this.table.maxSize, 5, 0x20);
      this.minPending = -1;
    }
    for (let p = 0; p < headers.length; p += 2) {
      const name = headers[p]!;
      const value = headers[p + 1]!;
      this.ensure(at + 16 + 2 * (name.length + value.length));
      const info = NAMES.get(name);
      let mode = Index.Yes;
      if (info?.never === true || (name === 'cookie' && value.length < SHORT_COOKIE) || (sensitive !== undefined && sensitive.includes(p >> 1))) mode = Index.Never;
      else if (!this.indexAll && (info?.noIndex === true || entrySize(name, value) > this.table.maxSize >> 1)) mode = Index.No;
      let nameIndex = info !== undefined ? info.index : 0;
      let pair = mode !== Index.Never && info?.values !== undefined ? (info.values.get(value) ?? 0) : 0;
      if (!pair && this.table.length) {
        const d = this.table.find(name, value, mode !== Index.Never);
        if (d > 0) pair = d + STATIC_COUNT;
        else if (d < 0 && !nameIndex) nameIndex = STATIC_COUNT - d;
      }
      if (pair) {
        at = encodeInt(this.buf, at, pair, 7, 0x80);
        continue;
      }
      if (mode === Index.Yes) at = encodeInt(this.buf, at, nameIndex, 6, 0x40);
      else at = encodeInt(this.buf, at, nameIndex, 4, mode === Index.Never ? 0x10 : 0);
      if (!nameIndex) at = this.str(at, name);
      at = this.str(at, value);
      if (mode === Index.Yes) this.table.add(name, value);
    }
    return this.buf.subarray(0, at);
  }

  /** As encodeView, into a Buffer of its own. */
  encode(headers: readonly string[], sensitive?: readonly number[]): Buffer {
    return Buffer.from(this.encodeView(headers, sensitive));
  }

  private ensure(n: number): void {
    if (n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(n, this.buf.length * 2));
    this.buf.copy(next);
    this.buf = next;
  }

  private str(at: number, s: string): number {
    const hlen = this.huffman === 'never' ? Infinity : huffmanLength(s);
    if (hlen <= s.length || this.huffman === 'always') {
      at = encodeInt(this.buf, at, hlen, 7, 0x80);
      return huffmanEncode(s, this.buf, at);
    }
    at = encodeInt(this.buf, at, s.length, 7, 0);
    return at + this.buf.write(s, at, 'latin1');
  }
}
