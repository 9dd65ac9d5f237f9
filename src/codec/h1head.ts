// A parsed HTTP/1.x message head: offsets into the bytes it was parsed from plus the framing and
// connection semantics the proxy needs. Strings (method, target, header names and values) are only
// made on demand, so forwarding a head copies byte ranges instead of decoding and re-encoding text.

export interface ParseError {
  /** Stable reason, for logs and tests. */
  readonly code: string;
  /** Status to answer a request with (a response error is always 502 UPE). */
  readonly status: 400 | 431;
}

const err = (code: string, status: 400 | 431 = 400): ParseError => Object.freeze({ code, status });

export const ERRORS = {
  bareLf: err('BARE_LF'),
  method: err('INVALID_METHOD'),
  target: err('INVALID_TARGET'),
  version: err('INVALID_VERSION'),
  status: err('INVALID_STATUS'),
  reason: err('INVALID_REASON'),
  name: err('INVALID_HEADER_NAME'),
  value: err('INVALID_HEADER_VALUE'),
  fold: err('OBS_FOLD'),
  tooLarge: err('HEADERS_TOO_LARGE', 431),
  tooMany: err('TOO_MANY_HEADERS', 431),
  clAndTe: err('CONTENT_LENGTH_AND_TRANSFER_ENCODING'),
  badCl: err('INVALID_CONTENT_LENGTH'),
  dupCl: err('DUPLICATE_CONTENT_LENGTH'),
  badTe: err('INVALID_TRANSFER_ENCODING'),
  te10: err('TRANSFER_ENCODING_IN_HTTP_1_0'),
  dupHost: err('DUPLICATE_HOST'),
  /** Not raised by the parser (a head without Host is well-formed): servers answer it (RFC 9112 3.2). */
  noHost: err('MISSING_HOST'),
} as const;

/** Header kinds the proxy acts on; everything else is H.OTHER and passes through untouched. */
export const H = {
  OTHER: 0,
  HOST: 1,
  CONTENT_LENGTH: 2,
  TRANSFER_ENCODING: 3,
  CONNECTION: 4,
  KEEP_ALIVE: 5,
  PROXY_CONNECTION: 6,
  TE: 7,
  TRAILER: 8,
  UPGRADE: 9,
  EXPECT: 10,
  X_REQUEST_ID: 11,
  X_FORWARDED_PROTO: 12,
  X_FORWARDED_FOR: 13,
  USER_AGENT: 14,
} as const;

/**
 * How the body is delimited. none: no body; length: Content-Length bytes; chunked: chunked coding;
 * close: until the sender closes (responses only).
 */
export type Framing = 'none' | 'length' | 'chunked' | 'close';

/** RFC 9110 6.4.1: 1xx, 204 and 304 responses never have a body (HEAD is decided by the caller). */
export function responseHasNoBody(status: number): boolean {
  return status < 200 || status === 204 || status === 304;
}

const MAX_CL_DIGITS = 15; // < 2^53, so the length stays an exact number

export class Head {
  // Start line (offsets into buf).
  start = 0;
  /** Offset just after the start line's CRLF. */
  lineEnd = 0;
  methodEnd = 0;
  targetStart = 0;
  targetEnd = 0;
  /** 1 = HEAD, 2 = CONNECT, 0 = other. */
  method0 = 0;
  /** HTTP/1.minor */
  minor = 1;
  status = 0;
  reasonStart = 0;
  /** Offset just after the empty line that ends the head. */
  end = 0;

  /**
   * Per field: line start, name end (the colon), value start, value end (OWS trimmed), line end (after
   * CRLF). Only the first `count` entries are valid: a recycled head keeps its arrays' capacity.
   */
  readonly offs: number[] = [];
  readonly kinds: number[] = [];
  count = 0;

  // Semantics collected while parsing.
  contentLength = -1;
  chunked = false;
  connClose = false;
  connKeepAlive = false;
  /** Extra hop-by-hop field names listed in Connection (lowercase), rare. */
  connTokens: string[] | undefined = undefined;
  hostCount = 0;
  expectContinue = false;
  upgrade = false;
  /** Field index of the first x-request-id, or -1. */
  requestIdIdx = -1;
  forwardedProto = false;
  teTrailers = false;
  /** Any field the proxy strips or rewrites (hop-by-hop, Expect): when false, fields are copied as one range. */
  hasHopByHop = false;

  framing: Framing = 'none';
  keepAlive = true;

  constructor(
    /** The bytes this head was parsed from (the client's chunk, or the parser's assembly buffer). */
    public buf: Buffer,
    readonly isRequest: boolean,
  ) {}

  /** Makes a used head new again for the next message (the parser recycles heads to spare allocations). */
  reset(buf: Buffer): void {
    this.buf = buf;
    this.start = this.lineEnd = this.methodEnd = this.targetStart = this.targetEnd = 0;
    this.method0 = 0;
    this.minor = 1;
    this.status = this.reasonStart = this.end = 0;
    this.count = 0;
    this.contentLength = -1;
    this.chunked = this.connClose = this.connKeepAlive = false;
    this.connTokens = undefined;
    this.hostCount = 0;
    this.expectContinue = this.upgrade = false;
    this.requestIdIdx = -1;
    this.forwardedProto = this.teTrailers = this.hasHopByHop = false;
    this.framing = 'none';
    this.keepAlive = true;
  }

  /** Appends a field (see offs). */
  add(lineStart: number, nameEnd: number, valueStart: number, valueEnd: number, lineEnd: number, kind: number): void {
    const o = this.count * 5;
    const offs = this.offs;
    offs[o] = lineStart;
    offs[o + 1] = nameEnd;
    offs[o + 2] = valueStart;
    offs[o + 3] = valueEnd;
    offs[o + 4] = lineEnd;
    this.kinds[this.count++] = kind;
  }

  get method(): string {
    return this.buf.toString('latin1', this.start, this.methodEnd);
  }

  /** The request-target exactly as received. */
  get target(): string {
    return this.buf.toString('latin1', this.targetStart, this.targetEnd);
  }

  get reason(): string {
    return this.buf.toString('latin1', this.reasonStart, this.lineEnd - 2);
  }

  name(i: number): string {
    const o = i * 5;
    return this.buf.toString('latin1', this.offs[o]!, this.offs[o + 1]!);
  }

  value(i: number): string {
    const o = i * 5;
    return this.buf.toString('latin1', this.offs[o + 2]!, this.offs[o + 3]!);
  }

  /** [name, value, name, value...] in received order and case (node's rawHeaders shape). */
  rawHeaders(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.count; i++) out.push(this.name(i), this.value(i));
    return out;
  }

  /** Value of the first field of a known kind; several fields of it are joined like node does (", "). */
  get(kind: number): string | undefined {
    let v: string | undefined;
    for (let i = 0; i < this.count; i++) if (this.kinds[i] === kind) v = v === undefined ? this.value(i) : `${v}, ${this.value(i)}`;
    return v;
  }

  /** Records what a known field means; returns an error for fields that make the framing ambiguous. */
  semantic(kind: number, buf: Buffer, s: number, e: number): ParseError | undefined {
    switch (kind) {
      case H.CONTENT_LENGTH: {
        if (e === s || e - s > MAX_CL_DIGITS) return ERRORS.badCl;
        let n = 0;
        for (let i = s; i < e; i++) {
          const d = buf[i]! - 48;
          if (d < 0 || d > 9) return ERRORS.badCl;
          n = n * 10 + d;
        }
        // Identical repeats are harmless (RFC 9110 8.6); differing ones are a smuggling attempt.
        if (this.contentLength >= 0 && this.contentLength !== n) return ERRORS.dupCl;
        this.contentLength = n;
        return undefined;
      }
      case H.TRANSFER_ENCODING:
        // Only a single, exact "chunked": every other coding list is either unsupported or ambiguous.
        if (this.chunked || e - s !== 7 || !lowerIs(buf, s, 'chunked')) return ERRORS.badTe;
        this.chunked = true;
        return undefined;
      case H.HOST:
        this.hostCount++;
        return undefined;
      case H.CONNECTION:
        this.hasHopByHop = true;
        this.connection(buf, s, e);
        return undefined;
      case H.EXPECT:
        this.hasHopByHop = true;
        if (e - s === 12 && lowerIs(buf, s, '100-continue')) this.expectContinue = true;
        return undefined;
      case H.UPGRADE:
        this.hasHopByHop = true;
        this.upgrade = true;
        return undefined;
      case H.X_REQUEST_ID:
        if (this.requestIdIdx < 0) this.requestIdIdx = this.count - 1;
        return undefined;
      case H.X_FORWARDED_PROTO:
        this.forwardedProto = true;
        return undefined;
      case H.TE:
        this.hasHopByHop = true;
        if (/(^|[\s,])trailers([\s,;]|$)/i.test(buf.toString('latin1', s, e))) this.teTrailers = true;
        return undefined;
      case H.KEEP_ALIVE:
      case H.PROXY_CONNECTION:
      case H.TRAILER:
        this.hasHopByHop = true;
        return undefined;
      default:
        return undefined;
    }
  }

  /** Connection: comma-separated tokens; close / keep-alive / upgrade / te are standard, others name fields. */
  private connection(buf: Buffer, s: number, e: number): void {
    let i = s;
    while (i < e) {
      while (i < e && (buf[i] === 32 || buf[i] === 9 || buf[i] === 44)) i++;
      const ts = i;
      while (i < e && buf[i] !== 44) i++;
      let te = i;
      while (te > ts && (buf[te - 1] === 32 || buf[te - 1] === 9)) te--;
      const len = te - ts;
      if (len === 0) continue;
      if (len === 5 && lowerIs(buf, ts, 'close')) this.connClose = true;
      else if (len === 10 && lowerIs(buf, ts, 'keep-alive')) this.connKeepAlive = true;
      else if (len === 7 && lowerIs(buf, ts, 'upgrade')) continue;
      else if (len === 2 && lowerIs(buf, ts, 'te')) continue;
      else (this.connTokens ??= []).push(buf.toString('latin1', ts, te).toLowerCase());
    }
  }
}

/** ASCII case-insensitive comparison with a lowercase literal (the bytes may be any octets). */
function lowerIs(buf: Buffer, s: number, lit: string): boolean {
  for (let i = 0; i < lit.length; i++) {
    let c = buf[s + i]!;
    if (c >= 65 && c <= 90) c |= 0x20;
    if (c !== lit.charCodeAt(i)) return false;
  }
  return true;
}
