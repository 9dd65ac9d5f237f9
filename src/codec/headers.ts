// Head rewriting between the downstream and upstream HTTP/1.1 hops. Works on parsed Heads: fields
// that pass through are copied as byte ranges of the received head (runs of kept lines become one
// copy), only the added lines are text. The result is one Buffer with room for the first body bytes,
// so a head and the body bytes that came with it leave in a single write. Pure and table-tested.
import { randomBytes } from 'node:crypto';
import { H, type Head } from './h1head';

/**
 * Request ids: a random per-process prefix and a counter, in UUID shape (8-4-4-4-12 hex, version 4
 * and variant bits set). Unique within the process and, by the 76 random prefix bits, across
 * processes; costs a counter increment instead of a CSPRNG call per request.
 */
const ID_PREFIX = ((): string => {
  const b = randomBytes(10);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-`;
})();
const ID_WRAP = 2 ** 48;
let idSeq = Math.floor(Math.random() * 2 ** 32);

/** The next request id's counter value; requestIdOf() formats it. */
export function nextRequestSeq(): number {
  idSeq = (idSeq + 1) % ID_WRAP;
  return idSeq;
}

export function requestIdOf(seq: number): string {
  return ID_PREFIX + seq.toString(16).padStart(12, '0');
}

export function newRequestId(): string {
  return requestIdOf(nextRequestSeq());
}

const ID_LINE = Buffer.from(`x-request-id: ${ID_PREFIX}`, 'latin1');
const XFP_LINE = Buffer.from('x-forwarded-proto: http\r\n', 'latin1');
const HEX = Buffer.from('0123456789abcdef', 'latin1');

/** Writes "x-request-id: <id>\r\n" for counter value `seq` at out[at]; no string is made. */
function writeIdLine(out: Buffer, at: number, seq: number): number {
  at += ID_LINE.copy(out, at);
  let lo = seq & 0xffffff;
  let hi = Math.floor(seq / 0x1000000);
  for (let i = 11; i >= 6; i--, lo >>>= 4) out[at + i] = HEX[lo & 15]!;
  for (let i = 5; i >= 0; i--, hi >>>= 4) out[at + i] = HEX[hi & 15]!;
  out[at + 12] = 13;
  out[at + 13] = 10;
  return at + 14;
}

/**
 * Hop-by-hop fields by name (RFC 9110 7.6.1, plus proxy-connection and HTTP/2's http2-settings): never
 * forwarded in either direction, and illegal in HTTP/2. The one list for header lists (engine, HTTP/2);
 * parsed HTTP/1 request heads drop the same fields by kind (hopByHopRequestKind below).
 * `te` is among them: a request keeps it only as "trailers" (the caller checks that first).
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'http2-settings']);

/**
 * Request fields a proxy does not forward by name: the hop-by-hop ones, expect (the proxy answers
 * 100-continue itself) and host (the authority carries it). The caller keeps `te: trailers` before asking.
 */
export function droppedRequestField(name: string): boolean {
  return HOP_BY_HOP.has(name) || name === 'expect' || name === 'host';
}

/** Origin-form path of a request target (absolute-form "http://h/p" from proxy-aware clients → "/p"). */
export function originPath(url: string): string {
  if (url.charCodeAt(0) === 47 /* / */ || url === '*') return url;
  const scheme = url.indexOf('://');
  if (scheme === -1) return url;
  const slash = url.indexOf('/', scheme + 3);
  return slash === -1 ? '/' : url.slice(slash);
}

/** Host for a request that had none (HTTP/1.0): the service's host name, as the client addressed it. */
export function defaultHost(host: string | undefined, port: number, vip: string): string {
  const name = host ?? vip;
  return port === 80 ? name : `${name}:${port}`;
}

/**
 * Byte ranges to copy, [start, end, start, end...], reused across calls (building is synchronous);
 * at most one per field plus the start line.
 */
const ranges = new Float64Array(2 * 1024);
let nRanges = 0;

function addRange(s: number, e: number): void {
  if (nRanges > 0 && ranges[nRanges - 1] === s) ranges[nRanges - 1] = e;
  else {
    ranges[nRanges++] = s;
    ranges[nRanges++] = e;
  }
}

/** Field kinds a Connection header may never remove: they carry framing and routing, not hop state. */
function protectedKind(kind: number): boolean {
  return kind === H.CONTENT_LENGTH || kind === H.TRANSFER_ENCODING || kind === H.HOST;
}

/** Adds the kept field lines; `drop` says which kinds are hop-by-hop in this direction. Returns extra text. */
function addFields(h: Head, drop: (kind: number) => boolean): string {
  if (!h.hasHopByHop && h.connTokens === undefined) {
    if (h.count > 0) addRange(h.lineEnd, h.offs[h.count * 5 - 1]!);
    return '';
  }
  let text = '';
  for (let i = 0; i < h.count; i++) {
    const kind = h.kinds[i]!;
    if (kind === H.TE && h.isRequest) {
      // Only "trailers" may be forwarded (RFC 9110 10.1.4); the proxy itself accepts nothing else.
      if (h.teTrailers && text === '') text = `${h.name(i)}: trailers\r\n`;
      continue;
    }
    if (drop(kind)) continue;
    if (h.connTokens !== undefined && !protectedKind(kind) && h.connTokens.includes(h.name(i).toLowerCase())) continue;
    addRange(h.offs[i * 5]!, h.offs[i * 5 + 4]!);
  }
  return text;
}

/**
 * The request fields a proxy never forwards, by the parser's field kind: HOP_BY_HOP's (TE is reduced to
 * "trailers" by its users) and Expect (the proxy answers 100-continue itself). Used by the raw head copy
 * below and by the field lists of downstream/h1/request.ts.
 */
export function hopByHopRequestKind(kind: number): boolean {
  return (
    kind === H.CONNECTION || kind === H.KEEP_ALIVE || kind === H.PROXY_CONNECTION || kind === H.TRAILER ||
    kind === H.UPGRADE || kind === H.EXPECT
  );
}

/**
 * Copies `line`, the collected ranges of `src`, `text`, the x-request-id line (idSeq >= 0), the
 * x-forwarded-proto line (xfp), the CRLF that ends the head, then body[bs, be) into one Buffer.
 */
function assemble(src: Buffer, line: string, text: string, idSeq: number, xfp: boolean, body: Buffer | undefined, bs: number, be: number): Buffer {
  let len = line.length + text.length + 2;
  for (let i = 0; i < nRanges; i += 2) len += ranges[i + 1]! - ranges[i]!;
  if (idSeq >= 0) len += ID_LINE.length + 14;
  if (xfp) len += XFP_LINE.length;
  const out = Buffer.allocUnsafe(len + (body === undefined ? 0 : be - bs));
  // All text here is latin1 (bytes of the received head, host names): one byte per character.
  let at = line === '' ? 0 : out.write(line, 0, 'latin1');
  for (let i = 0; i < nRanges; i += 2) at += src.copy(out, at, ranges[i]!, ranges[i + 1]!);
  nRanges = 0;
  if (text !== '') at += out.write(text, at, 'latin1');
  if (idSeq >= 0) at = writeIdLine(out, at, idSeq);
  if (xfp) at += XFP_LINE.copy(out, at);
  out[at++] = 13;
  out[at++] = 10;
  if (body !== undefined) body.copy(out, at, bs, be);
  return out;
}

export interface RequestRewrite {
  /** Host to add when the request has none (HTTP/1.0); the upstream hop is always HTTP/1.1. */
  readonly host: string;
  /** Counter value of the x-request-id to add when the request carries none (requestIdOf formats it). */
  readonly idSeq: number;
  /** Field lines to add as they are ("name: value\r\n" each). */
  readonly extra?: string;
}

/**
 * The upstream request head: HTTP/1.1 origin-form request line, hop-by-hop fields (and those named
 * by Connection) removed, Expect removed (the proxy answers 100-continue itself), TE reduced to
 * "trailers", Host, x-request-id and x-forwarded-proto added when absent. Transfer-Encoding stays:
 * a chunked body is forwarded as received. body[bs, be) is appended to the same buffer.
 */
export function upstreamRequestHead(h: Head, rw: RequestRewrite, body?: Buffer, bs = 0, be = 0): Buffer {
  nRanges = 0;
  let line = '';
  if (h.minor === 1 && h.buf[h.targetStart] === 47 /* / */) addRange(h.start, h.lineEnd);
  else line = `${h.method} ${originPath(h.target)} HTTP/1.1\r\n`;
  let text = addFields(h, hopByHopRequestKind);
  if (h.hostCount === 0) text += `host: ${rw.host}\r\n`;
  if (rw.extra !== undefined) text += rw.extra;
  return assemble(h.buf, line, text, h.requestIdIdx < 0 ? rw.idSeq : -1, !h.forwardedProto, body, bs, be);
}
