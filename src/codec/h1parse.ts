// Incremental HTTP/1.1 head parser for requests and responses. Pure: bytes in, a Head (offsets into
// the bytes, so the proxy can forward lines without re-encoding them) or an error out; no I/O, no
// clock. Strict where lenient parsing enables request smuggling (RFC 9112, llhttp/Envoy defaults):
// CRLF only, no obs-fold, token names, no CTLs or NUL, one framing per message, bounded size.
import { ERRORS, H, Head, responseHasNoBody, type ParseError } from './h1head';

export { ERRORS, H, Head, type Framing, type ParseError } from './h1head';
export { ChunkedFramer } from './h1chunked';

/** Envoy's defaults: request headers capped at 60 KiB and 100 header fields. */
export const MAX_HEAD_BYTES = 60 * 1024;
export const MAX_HEADERS = 100;

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;
const COLON = 58;
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
const NO_BYTES = Buffer.alloc(0);
/** Appended chunks up to this size are checked for a line end in place (see execute()). */
const TRICKLE_BYTES = 64;

function hasLf(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] === LF) return true;
  return false;
}

// Character classes (RFC 9110 5.6.2 tchar, 5.5 field-vchar/obs-text, RFC 3986 target bytes).
const TOKEN = new Uint8Array(256);
const VALUE = new Uint8Array(256);
const TARGET = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  const alnum = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
  TOKEN[c] = alnum || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c)) ? 1 : 0;
  VALUE[c] = c === HTAB || (c >= SP && c !== 127) ? 1 : 0;
  TARGET[c] = c > SP && c !== 127 ? 1 : 0;
}

/** Compares buf[at, at+lit.length) with a lowercase literal, ASCII case-insensitively. */
function eqLower(buf: Buffer, at: number, lit: string): boolean {
  for (let i = 0; i < lit.length; i++) if ((buf[at + i]! | 0x20) !== lit.charCodeAt(i)) return false;
  return true;
}

/** Known header names by length; `| 0x20` folds case safely because names are validated tokens first. */
function kindOf(buf: Buffer, s: number, len: number): number {
  switch (len) {
    case 2: return eqLower(buf, s, 'te') ? H.TE : H.OTHER;
    case 4: return eqLower(buf, s, 'host') ? H.HOST : H.OTHER;
    case 6: return eqLower(buf, s, 'expect') ? H.EXPECT : H.OTHER;
    case 7: return eqLower(buf, s, 'upgrade') ? H.UPGRADE : eqLower(buf, s, 'trailer') ? H.TRAILER : H.OTHER;
    case 10:
      if (eqLower(buf, s, 'connection')) return H.CONNECTION;
      if (eqLower(buf, s, 'keep-alive')) return H.KEEP_ALIVE;
      return eqLower(buf, s, 'user-agent') ? H.USER_AGENT : H.OTHER;
    case 12: return eqLower(buf, s, 'x-request-id') ? H.X_REQUEST_ID : H.OTHER;
    case 14: return eqLower(buf, s, 'content-length') ? H.CONTENT_LENGTH : H.OTHER;
    case 15: return eqLower(buf, s, 'x-forwarded-for') ? H.X_FORWARDED_FOR : H.OTHER;
    case 16: return eqLower(buf, s, 'proxy-connection') ? H.PROXY_CONNECTION : H.OTHER;
    case 17:
      if (eqLower(buf, s, 'transfer-encoding')) return H.TRANSFER_ENCODING;
      return eqLower(buf, s, 'x-forwarded-proto') ? H.X_FORWARDED_PROTO : H.OTHER;
    default: return H.OTHER;
  }
}

/**
 * Parses one message head at a time. `execute` may be fed any split of the bytes (down to one byte
 * per call); a head that spans calls is assembled in a private buffer that grows by doubling, so
 * byte-by-byte input stays linear. After a head or an error, call `reset()` for the next message.
 */
export class HeadParser {
  /** The completed head after execute() returned an offset >= 0. */
  head: Head | undefined;
  error: ParseError | undefined;

  private pend: Buffer | undefined;
  /** A head handed back by its user, reused for the next message. */
  private spare: Head | undefined;
  private pendLen = 0;
  // Scan state of the head in progress (offsets relative to the buffer being scanned).
  private cur: Head | undefined;
  private origin = 0;
  private pos = 0;

  constructor(
    readonly isRequest: boolean,
    private readonly maxBytes = MAX_HEAD_BYTES,
    private readonly maxHeaders = MAX_HEADERS,
  ) {
    // headers.ts copies at most one byte range per field into a fixed table.
    if (maxHeaders > 1000) throw new RangeError('HeadParser: at most 1000 header fields');
  }

  /** True once any byte of the next head was received (the headers timeout starts here). */
  get started(): boolean {
    return this.pendLen > 0;
  }

  /**
   * Hands back a head whose user is done with it (nothing may read it afterwards): the next message
   * reuses the object and its arrays instead of allocating and growing new ones.
   */
  recycle(h: Head): void {
    if (h.isRequest !== this.isRequest || h === this.cur || h === this.head) return;
    // Its arrays are kept, not the bytes it was parsed from: an idle keep-alive connection would
    // otherwise hold its last request's read chunk (up to 64 KiB with a body) until the next request.
    h.buf = NO_BYTES;
    this.spare = h;
  }

  reset(): void {
    this.head = undefined;
    this.error = undefined;
    this.cur = undefined;
    this.pendLen = 0;
    this.origin = 0;
    this.pos = 0;
  }

  /**
   * Consumes bytes of `chunk` from `off`. Returns the offset in `chunk` just after the head when it
   * completed (`head` is set), -1 when more bytes are needed (all of them were taken), -2 on error.
   */
  execute(chunk: Buffer, off: number): number {
    if (this.head !== undefined || this.error !== undefined) throw new Error('HeadParser: reset() before the next message');
    if (this.pendLen === 0) {
      // Fast path: the whole head usually arrives in one chunk and is parsed in place, zero-copy.
      this.origin = off;
      this.pos = off;
      const term = chunk.indexOf(HEAD_END, off);
      if (term >= 0 && term + 4 - off <= this.maxBytes) {
        const r = this.whole(chunk, off, term);
        if (r >= 0) return r;
        // Anything unusual: the line-by-line scan below decides (and names the error).
        this.pos = off;
      }
      const r = this.scan(chunk, chunk.length);
      if (r !== -1) return r;
      this.keep(chunk);
      return -1;
    }
    const before = this.pendLen;
    this.append(chunk, off);
    // A trickle (a slow client, a byte at a time): no line ended in the few new bytes, so only the size
    // can have changed. Decided here without a view of the assembly buffer or a scan (scan() would find
    // no LF: none is left unprocessed before `before`).
    if (this.pendLen - before <= TRICKLE_BYTES && !hasLf(this.pend!, before, this.pendLen)) {
      return this.pendLen > this.maxBytes ? this.fail(ERRORS.tooLarge) : -1;
    }
    const buf = this.pend!.subarray(0, this.pendLen);
    const r = this.scan(buf, this.pendLen);
    if (r >= 0) {
      // The head now references the assembly buffer: the next head gets a fresh one.
      this.pend = undefined;
      this.pendLen = 0;
      return off + (r - before);
    }
    return r;
  }

  /** Moves the unfinished head into the assembly buffer, rebasing the offsets scanned so far. */
  private keep(chunk: Buffer): void {
    const shift = this.origin;
    this.pendLen = 0;
    this.append(chunk, this.origin);
    this.pos -= shift;
    this.origin = 0;
    const h = this.cur;
    if (h !== undefined) {
      h.start -= shift;
      h.lineEnd -= shift;
      h.methodEnd -= shift;
      h.targetStart -= shift;
      h.targetEnd -= shift;
      h.reasonStart -= shift;
      for (let i = 0; i < h.count * 5; i++) h.offs[i]! -= shift;
    }
  }

  private append(chunk: Buffer, from: number): void {
    const n = chunk.length - from;
    const need = this.pendLen + n;
    if (this.pend === undefined || this.pend.length < need) {
      const grown = Buffer.allocUnsafe(Math.max(need, 2 * (this.pend?.length ?? 0), 1024));
      if (this.pend !== undefined) this.pend.copy(grown, 0, 0, this.pendLen);
      this.pend = grown;
    }
    const pend = this.pend;
    // A few bytes are cheaper copied here than through copy()'s temporary view.
    if (n <= TRICKLE_BYTES) for (let i = 0; i < n; i++) pend[this.pendLen + i] = chunk[from + i]!;
    else chunk.copy(pend, this.pendLen, from);
    this.pendLen = need;
  }

  private fail(e: ParseError): number {
    this.error = e;
    this.cur = undefined;
    this.pendLen = 0;
    return -2;
  }

  /** Processes complete lines in buf[pos, end). Returns the end-of-head offset, -1 (need more) or -2. */
  private scan(buf: Buffer, end: number): number {
    while (true) {
      const lf = buf.indexOf(LF, this.pos);
      if (lf === -1 || lf >= end) {
        // NUL or a bare CR in a partial line is reported when the line completes; size is checked now.
        return end - this.origin > this.maxBytes ? this.fail(ERRORS.tooLarge) : -1;
      }
      if (lf + 1 - this.origin > this.maxBytes) return this.fail(ERRORS.tooLarge);
      if (lf === this.pos || buf[lf - 1] !== CR) return this.fail(ERRORS.bareLf);
      const s = this.pos;
      const e = lf - 1;
      this.pos = lf + 1;
      let h = this.cur;
      if (h === undefined) {
        // RFC 9112 2.2: empty lines before a request line are ignored (some clients send CRLF after a body).
        if (e === s && this.isRequest) continue;
        h = this.spare ?? new Head(buf, this.isRequest);
        this.spare = undefined;
        h.reset(buf);
        this.cur = h;
        h.start = s;
        h.lineEnd = this.pos;
        const bad = this.isRequest ? requestLine(h, buf, s, e) : statusLine(h, buf, s, e);
        if (bad !== undefined) return this.fail(bad);
        continue;
      }
      if (e === s) return this.finish(h, buf, this.pos);
      const bad = this.field(h, buf, s, e);
      if (bad !== undefined) return this.fail(bad);
    }
  }

  /**
   * One pass over a head known to end at `term` (its CRLFCRLF): each line is validated and its end
   * found in the same loop. Returns the end offset, or -1 for anything unusual (leading empty lines,
   * bare CR/LF, a field that fails its check), leaving the verdict to scan().
   */
  private whole(buf: Buffer, off: number, term: number): number {
    let e = off;
    while (e < term && buf[e] !== CR && buf[e] !== LF) e++;
    if (buf[e] !== CR || buf[e + 1] !== LF || e === off) return -1;
    const h = this.spare ?? new Head(buf, this.isRequest);
    this.spare = undefined;
    h.reset(buf);
    h.start = off;
    h.lineEnd = e + 2;
    if ((this.isRequest ? requestLine(h, buf, off, e) : statusLine(h, buf, off, e)) !== undefined) return this.drop(h);
    let s = e + 2;
    while (s < term + 2) {
      const c0 = buf[s]!;
      if (c0 === SP || c0 === HTAB) return this.drop(h);
      let i = s;
      while (TOKEN[buf[i]!] === 1) i++;
      if (i === s || buf[i] !== COLON) return this.drop(h);
      const nameEnd = i++;
      while (buf[i] === SP || buf[i] === HTAB) i++;
      const vs = i;
      while (VALUE[buf[i]!] === 1) i++;
      // The value loop stops at the CR of CRLF (term guarantees one ahead); anything else is unusual.
      if (buf[i] !== CR || buf[i + 1] !== LF || h.count >= this.maxHeaders) return this.drop(h);
      let ve = i;
      while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HTAB)) ve--;
      const kind = kindOf(buf, s, nameEnd - s);
      h.add(s, nameEnd, vs, ve, i + 2, kind);
      if (kind !== H.OTHER && h.semantic(kind, buf, vs, ve) !== undefined) return this.drop(h);
      s = i + 2;
    }
    if (s !== term + 2) return this.drop(h);
    this.cur = h;
    const r = this.finish(h, buf, term + 4);
    if (r < 0) {
      // finish() recorded an error; let scan() reach and report it the same way.
      this.error = undefined;
      return -1;
    }
    return r;
  }

  private drop(h: Head): number {
    this.spare = h;
    this.cur = undefined;
    return -1;
  }

  private field(h: Head, buf: Buffer, s: number, e: number): ParseError | undefined {
    const c0 = buf[s]!;
    // A line starting with whitespace is obs-fold (or, after the start line, a smuggling vector).
    if (c0 === SP || c0 === HTAB) return ERRORS.fold;
    let i = s;
    while (i < e && TOKEN[buf[i]!] === 1) i++;
    if (i === s || i === e || buf[i] !== COLON) return ERRORS.name;
    const nameEnd = i;
    i++;
    while (i < e && (buf[i] === SP || buf[i] === HTAB)) i++;
    let ve = e;
    while (ve > i && (buf[ve - 1] === SP || buf[ve - 1] === HTAB)) ve--;
    for (let k = i; k < ve; k++) if (VALUE[buf[k]!] === 0) return ERRORS.value;
    if (h.count >= this.maxHeaders) return ERRORS.tooMany;
    const kind = kindOf(buf, s, nameEnd - s);
    h.add(s, nameEnd, i, ve, e + 2, kind);
    return kind === H.OTHER ? undefined : h.semantic(kind, buf, i, ve);
  }

  private finish(h: Head, buf: Buffer, end: number): number {
    // The head may have been started in a buffer that was since copied or grown: point at the final one.
    h.buf = buf;
    h.end = end;
    if (h.chunked && h.contentLength >= 0) return this.fail(ERRORS.clAndTe);
    if (this.isRequest) {
      if (h.chunked && h.minor === 0) return this.fail(ERRORS.te10);
      if (h.hostCount > 1) return this.fail(ERRORS.dupHost);
      h.framing = h.chunked ? 'chunked' : h.contentLength > 0 ? 'length' : 'none';
    } else if (responseHasNoBody(h.status)) {
      h.framing = 'none';
    } else {
      h.framing = h.chunked ? 'chunked' : h.contentLength > 0 ? 'length' : h.contentLength === 0 ? 'none' : 'close';
    }
    h.keepAlive = !h.connClose && (h.minor === 1 || h.connKeepAlive) && h.framing !== 'close';
    this.head = h;
    this.cur = undefined;
    return end;
  }
}

/** method SP request-target SP HTTP/1.x */
function requestLine(h: Head, buf: Buffer, s: number, e: number): ParseError | undefined {
  let i = s;
  while (i < e && TOKEN[buf[i]!] === 1) i++;
  if (i === s || i === e || buf[i] !== SP) return ERRORS.method;
  h.methodEnd = i;
  h.method0 = methodCode(buf, s, i - s);
  const ts = ++i;
  while (i < e && TARGET[buf[i]!] === 1) i++;
  if (i === ts || i === e || buf[i] !== SP) return ERRORS.target;
  h.targetStart = ts;
  h.targetEnd = i;
  i++;
  if (e - i !== 8 || !version(buf, i)) return ERRORS.version;
  h.minor = buf[i + 7] === 49 ? 1 : 0;
  return undefined;
}

/** HTTP/1.x SP 3DIGIT [SP reason-phrase] (an empty reason without its SP is tolerated, as llhttp does). */
function statusLine(h: Head, buf: Buffer, s: number, e: number): ParseError | undefined {
  if (e - s < 12 || !version(buf, s) || buf[s + 8] !== SP) return ERRORS.version;
  h.minor = buf[s + 7] === 49 ? 1 : 0;
  let status = 0;
  for (let k = s + 9; k < s + 12; k++) {
    const d = buf[k]! - 48;
    if (d < 0 || d > 9) return ERRORS.status;
    status = status * 10 + d;
  }
  if (status < 100) return ERRORS.status;
  h.status = status;
  h.reasonStart = s + 12;
  if (e > s + 12) {
    if (buf[s + 12] !== SP) return ERRORS.status;
    h.reasonStart = s + 13;
    for (let k = s + 13; k < e; k++) if (VALUE[buf[k]!] === 0) return ERRORS.reason;
  }
  return undefined;
}

function version(buf: Buffer, i: number): boolean {
  return (
    buf[i] === 72 && buf[i + 1] === 84 && buf[i + 2] === 84 && buf[i + 3] === 80 && // HTTP
    buf[i + 4] === 47 && buf[i + 5] === 49 && buf[i + 6] === 46 && // /1.
    (buf[i + 7] === 48 || buf[i + 7] === 49)
  );
}

/** 1 = HEAD, 2 = CONNECT, 0 = anything else (methods are case-sensitive). */
function methodCode(buf: Buffer, s: number, len: number): number {
  if (len === 4 && buf[s] === 72 && buf[s + 1] === 69 && buf[s + 2] === 65 && buf[s + 3] === 68) return 1;
  if (len === 7 && buf.toString('latin1', s, s + 7) === 'CONNECT') return 2;
  return 0;
}
