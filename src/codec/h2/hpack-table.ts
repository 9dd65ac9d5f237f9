// HPACK indexing tables (RFC 7541 §2.3, Appendix A): the static table and a dynamic table with size
// accounting (§4.1), eviction (§4.4) and size updates (§4.3). Index 1..61 is static, 62.. dynamic,
// newest first. Lookups for the encoder are O(1): maps from name and name+value to the insertion number.

export const STATIC_TABLE: readonly (readonly [string, string])[] = Object.freeze([
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
] as const);

export const STATIC_COUNT = STATIC_TABLE.length;

/** Encoder lookup of the static table: per name, its first index and the index of each value. */
export const STATIC_INDEX: ReadonlyMap<string, { readonly index: number; readonly values: ReadonlyMap<string, number> }> = (() => {
  const m = new Map<string, { index: number; values: Map<string, number> }>();
  STATIC_TABLE.forEach(([n, v], i) => {
    let e = m.get(n);
    if (!e) m.set(n, (e = { index: i + 1, values: new Map() }));
    if (v !== '' && !e.values.has(v)) e.values.set(v, i + 1);
  });
  return m;
})();

/** Size of an entry (§4.1): name and value octets plus 32. Strings are latin1, one octet per char. */
export const entrySize = (name: string, value: string): number => name.length + value.length + 32;

export class DynamicTable {
  /** Entries oldest first, from `head`; a ring would save the shifts but eviction is rare and cheap. */
  private names: string[] = [];
  private values: string[] = [];
  private head = 0;
  /** Insertion number of the entry at `head`. */
  private firstSeq = 0;
  size = 0;
  /** Encoder side: per name, the newest entry's insertion number and the newest of each value. */
  private index: Map<string, { seq: number; values: Map<string, number> }> | undefined;

  /**
   * MAXSIZE: the table's current limit. INDEXED: keep lookup maps (encoder side only).
   */
  constructor(
    public maxSize: number,
    indexed = false,
  ) {
    if (indexed) this.index = new Map();
  }

  get length(): number {
    return this.names.length - this.head;
  }

  /** Entry at dynamic index I (1 = newest), or undefined. */
  name(i: number): string | undefined {
    return i >= 1 && i <= this.length ? this.names[this.names.length - i] : undefined;
  }

  value(i: number): string | undefined {
    return i >= 1 && i <= this.length ? this.values[this.names.length - i] : undefined;
  }

  /** Adds an entry, evicting as needed; an entry larger than the table empties it (§4.4). */
  add(name: string, value: string): void {
    const size = entrySize(name, value);
    if (size > this.maxSize) {
      this.evictTo(0);
      return;
    }
    this.evictTo(this.maxSize - size);
    const seq = this.firstSeq + this.length;
    this.names.push(name);
    this.values.push(value);
    this.size += size;
    if (this.index) {
      let e = this.index.get(name);
      if (!e) this.index.set(name, (e = { seq, values: new Map() }));
      e.seq = seq;
      e.values.set(value, seq);
    }
  }

  /** Sets the limit (a dynamic table size update, §6.3), evicting entries that no longer fit. */
  resize(maxSize: number): void {
    this.maxSize = maxSize;
    this.evictTo(maxSize);
  }

  /**
   * Encoder lookup: the dynamic index (1 = newest) of NAME with VALUE (> 0, only when PAIRS), else minus
   * the index of the newest entry named NAME (< 0), else 0.
   */
  find(name: string, value: string, pairs: boolean): number {
    const e = this.index!.get(name);
    if (!e) return 0;
    const next = this.firstSeq + this.length;
    if (pairs) {
      const seq = e.values.get(value);
      if (seq !== undefined) return next - seq;
    }
    return e.seq - next;
  }

  /** Entries newest first, as [name, value] (tests and diagnostics). */
  entries(): [string, string][] {
    const out: [string, string][] = [];
    for (let i = this.names.length - 1; i >= this.head; i--) out.push([this.names[i]!, this.values[i]!]);
    return out;
  }

  private evictTo(limit: number): void {
    while (this.size > limit && this.length > 0) {
      const name = this.names[this.head]!;
      const value = this.values[this.head]!;
      this.size -= entrySize(name, value);
      const e = this.index?.get(name);
      if (e) {
        // Oldest first: if the newest entry of a name goes, every entry of it has gone.
        if (e.seq === this.firstSeq) this.index!.delete(name);
        else if (e.values.get(value) === this.firstSeq) e.values.delete(value);
      }
      this.head++;
      this.firstSeq++;
    }
    if (this.head > 64 && this.head * 2 > this.names.length) {
      this.names = this.names.slice(this.head);
      this.values = this.values.slice(this.head);
      this.head = 0;
    }
  }
}
