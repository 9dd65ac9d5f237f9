// OTLP/protobuf encoding of finished spans: the ExportTraceServiceRequest subset the exporter sends
// (resource spans, one per service name → one scope → spans with attributes and status). Field numbers
// are those of opentelemetry-proto's trace/v1, common/v1, resource/v1 and collector/trace/v1. Pure.

/** An attribute value: strings, integers (int64), floating point (double) or booleans. */
export type AttrValue = string | number | boolean;
export type Attr = readonly [string, AttrValue];

export const SPAN_KIND_SERVER = 2;
export const SPAN_KIND_CLIENT = 3;

/** One finished span. */
export interface SpanRecord {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentId: string | undefined;
  readonly tracestate: string | undefined;
  readonly name: string;
  readonly kind: typeof SPAN_KIND_SERVER | typeof SPAN_KIND_CLIENT;
  /** Unix ms (fractions kept). */
  readonly startMs: number;
  readonly endMs: number;
  readonly attributes: readonly Attr[];
  /** Status ERROR (else UNSET). */
  readonly error: boolean;
  /** The resource's service.name. */
  readonly service: string;
}

/** Scope and resource attributes shared by every span of an export. */
export interface ExportInfo {
  readonly scopeName: string;
  readonly scopeVersion: string;
  /** Resource attributes besides service.name. */
  readonly resource: readonly Attr[];
}

const LEN = 2;
const VARINT = 0;
const I64 = 1;
const I32 = 5;

/** A growable protobuf writer; nested messages reserve 5 bytes for their length and are compacted. */
class Writer {
  buf = Buffer.allocUnsafe(16 * 1024);
  pos = 0;

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  varint(v: number): void {
    this.room(10);
    while (v > 0x7f) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }

  tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  string(field: number, s: string): void {
    const n = Buffer.byteLength(s);
    this.tag(field, LEN);
    this.varint(n);
    this.room(n);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  hex(field: number, hex: string): void {
    const n = hex.length >> 1;
    this.tag(field, LEN);
    this.varint(n);
    this.room(n);
    this.pos += this.buf.write(hex, this.pos, 'hex');
  }

  fixed64Ms(field: number, ms: number): void {
    this.tag(field, I64);
    this.room(8);
    // Nanoseconds past 2^53: whole microseconds as a BigInt, times 1000.
    this.buf.writeBigUInt64LE(BigInt(Math.max(0, Math.round(ms * 1000))) * 1000n, this.pos);
    this.pos += 8;
  }

  fixed32(field: number, v: number): void {
    this.tag(field, I32);
    this.room(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
  }

  double(field: number, v: number): void {
    this.tag(field, I64);
    this.room(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  int64(field: number, v: number): void {
    this.tag(field, VARINT);
    if (v >= 0) return this.varint(v);
    // Negative int64: ten bytes of two's complement.
    let b = BigInt.asUintN(64, BigInt(v));
    this.room(10);
    for (let i = 0; i < 9; i++, b >>= 7n) this.buf[this.pos++] = Number(b & 0x7fn) | 0x80;
    this.buf[this.pos++] = Number(b & 0x7fn);
  }

  /** Starts a nested message; end() with the returned mark. */
  begin(field: number): number {
    this.tag(field, LEN);
    this.room(5);
    const mark = this.pos;
    this.pos += 5;
    return mark;
  }

  end(mark: number): void {
    const len = this.pos - mark - 5;
    let size = 1;
    for (let v = len; v > 0x7f; v = Math.floor(v / 0x80)) size++;
    const at = mark + size;
    if (size < 5) this.buf.copyWithin(at, mark + 5, this.pos);
    let v = len;
    let p = mark;
    while (v > 0x7f) {
      this.buf[p++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[p] = v;
    this.pos = at + len;
  }

  result(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}

function attribute(w: Writer, field: number, key: string, value: AttrValue): void {
  const kv = w.begin(field);
  w.string(1, key);
  const any = w.begin(2);
  if (typeof value === 'string') w.string(1, value);
  else if (typeof value === 'boolean') {
    w.tag(2, VARINT);
    w.varint(value ? 1 : 0);
  } else if (Number.isSafeInteger(value)) w.int64(3, value);
  else w.double(4, value);
  w.end(any);
  w.end(kv);
}

function span(w: Writer, s: SpanRecord): void {
  const m = w.begin(2);
  w.hex(1, s.traceId);
  w.hex(2, s.spanId);
  if (s.tracestate !== undefined && s.tracestate !== '') w.string(3, s.tracestate);
  if (s.parentId !== undefined) w.hex(4, s.parentId);
  w.string(5, s.name);
  w.tag(6, VARINT);
  w.varint(s.kind);
  w.fixed64Ms(7, s.startMs);
  w.fixed64Ms(8, Math.max(s.endMs, s.startMs));
  for (const [k, v] of s.attributes) attribute(w, 9, k, v);
  if (s.error) {
    const st = w.begin(15);
    w.tag(3, VARINT);
    w.varint(2);
    w.end(st);
  }
  // W3C trace flags: sampled (every exported span is).
  w.fixed32(16, 1);
  w.end(m);
}

/** The ExportTraceServiceRequest for SPANS: one ResourceSpans per service name, in first-seen order. */
export function encodeExport(spans: readonly SpanRecord[], info: ExportInfo): Buffer {
  const byService = new Map<string, SpanRecord[]>();
  for (const s of spans) {
    const list = byService.get(s.service);
    if (list === undefined) byService.set(s.service, [s]);
    else list.push(s);
  }
  const w = new Writer();
  for (const [service, list] of byService) {
    const rs = w.begin(1);
    const res = w.begin(1);
    attribute(w, 1, 'service.name', service);
    for (const [k, v] of info.resource) attribute(w, 1, k, v);
    w.end(res);
    const ss = w.begin(2);
    const scope = w.begin(1);
    w.string(1, info.scopeName);
    w.string(2, info.scopeVersion);
    w.end(scope);
    for (const s of list) span(w, s);
    w.end(ss);
    w.end(rs);
  }
  return w.result();
}
