// Protocol detection for captured connections whose port declares no protocol. Deciding (classify) is
// pure and table-tested; doing (detect) reads the first bytes with a bounded wait and puts them back.
// The one h2 preface of the code base: captured connections and tunnel streams are told apart here.
import type { Duplex } from 'node:stream';
import type { PortProtocol } from '../config/model';
import { peek } from '../conn/peek';

export type Sniffed = 'http1' | 'h2' | 'tls' | 'opaque' | 'need-more';
export type Detected = Exclude<Sniffed, 'need-more'>;

/** Bytes we look at before deciding; a request line longer than this that still parses is HTTP/1. */
export const SNIFF_LIMIT = 512;

/** The client connection preface of HTTP/2 with prior knowledge (RFC 9113 3.4). */
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const VERSION = Buffer.from(' HTTP/1.', 'latin1');
const MAX_METHOD = 24;

const SP = 0x20;
const CR = 0x0d;
const LF = 0x0a;

/** Method characters: uppercase token (RFC 9110 methods are case-sensitive and registered uppercase). */
function isMethodChar(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || c === 0x2d || c === 0x5f;
}

/** request-target characters: any visible ASCII (no SP, no CTL, no DEL). */
function isTargetChar(c: number): boolean {
  return c > SP && c < 0x7f;
}

/** True when `buf` matches `want` over their common length (buf may be a prefix of want). */
function prefixMatches(buf: Buffer, want: Buffer, from = 0): boolean {
  const n = Math.min(buf.length - from, want.length);
  for (let i = 0; i < n; i++) if (buf[from + i] !== want[i]) return false;
  return true;
}

/**
 * Classifies the first bytes of a connection. HTTP/1 needs a full `METHOD SP target SP HTTP/1.x CRLF`
 * request line (so "SET k v" to Redis or "get k" to memcached stay opaque), unless the line runs past
 * SNIFF_LIMIT while still well-formed (a long URL), which is taken as HTTP/1.
 */
export function classify(buf: Buffer): Sniffed {
  const len = buf.length;
  if (len === 0) return 'need-more';
  const b0 = buf[0]!;
  if (b0 === 0x16) {
    if (len === 1) return 'need-more';
    return buf[1] === 0x03 ? 'tls' : 'opaque';
  }
  // The h2 preface starts with "PRI *", which is also a well-formed HTTP/1 request start: check it first.
  if (b0 === 0x50 && prefixMatches(buf, H2_PREFACE)) {
    return len >= H2_PREFACE.length ? 'h2' : 'need-more';
  }
  return classifyHttp1(buf);
}

function classifyHttp1(buf: Buffer): Sniffed {
  const len = Math.min(buf.length, SNIFF_LIMIT);
  let i = 0;
  while (i < len && isMethodChar(buf[i]!)) i++;
  if (i === 0 || i > MAX_METHOD) return 'opaque';
  if (i === len) return buf.length >= SNIFF_LIMIT ? 'opaque' : 'need-more';
  if (buf[i] !== SP) return 'opaque';
  i++;
  const targetStart = i;
  while (i < len && isTargetChar(buf[i]!)) i++;
  if (i === len) return buf.length >= SNIFF_LIMIT && i > targetStart ? 'http1' : 'need-more';
  if (i === targetStart || buf[i] !== SP) return 'opaque';
  // " HTTP/1." then one digit, then CRLF (or a bare LF, which llhttp also accepts).
  if (!prefixMatches(buf, VERSION, i)) return 'opaque';
  i += VERSION.length;
  if (i >= len) return 'need-more';
  const minor = buf[i]!;
  if (minor !== 0x30 && minor !== 0x31) return 'opaque';
  i++;
  if (i >= len) return 'need-more';
  if (buf[i] === LF) return 'http1';
  if (buf[i] !== CR) return 'opaque';
  i++;
  if (i >= len) return 'need-more';
  return buf[i] === LF ? 'http1' : 'opaque';
}

/**
 * What a declared port protocol means for detection, or undefined when the port must be sniffed.
 * HTTP2/GRPC ports speak h2 with prior knowledge (gRPC always does); TLS and HTTPS stay opaque. An HTTP
 * port also takes h2 with prior knowledge: the listener tells them apart by the first bytes.
 */
export function declaredProtocol(protocol: PortProtocol | undefined): Detected | undefined {
  switch (protocol) {
    case undefined:
      return undefined;
    case 'HTTP':
      return 'http1';
    case 'HTTP2':
    case 'GRPC':
      return 'h2';
    case 'TCP':
    case 'TLS':
    case 'HTTPS':
      return 'opaque';
  }
}

export type ListenerPath = 'http1' | 'h2' | 'tcp';

/** Maps a sniff result onto the path the listener takes. */
export function pathFor(sniffed: Detected): ListenerPath {
  return sniffed === 'http1' ? 'http1' : sniffed === 'h2' ? 'h2' : 'tcp';
}

export interface DetectResult {
  readonly protocol: Detected;
  /** decided: classified; timeout: the wait ran out (server-speaks-first protocols land here);
   *  ended: the client half-closed before a decision; closed: the socket failed or closed. */
  readonly outcome: 'decided' | 'timeout' | 'ended' | 'closed';
  /** Bytes read before an 'ended' outcome; a stream cannot take them back after its end. */
  readonly head: Buffer | undefined;
}

/**
 * Reads the connection's first bytes for up to `timeoutMs`, classifies them and puts them back
 * (unshift), leaving the socket paused for the next consumer. A timeout means 'opaque' so protocols
 * where the server speaks first (MySQL, SMTP) still work. SOCKET: a captured socket, or a tunnel stream
 * as a Duplex (the destination side tells HTTP/1 from h2 on HTTP ports the same way).
 */
export async function detect(socket: Duplex, timeoutMs = 100): Promise<DetectResult> {
  const r = await peek<Detected>(socket, timeoutMs, (b) => {
    const v = classify(b);
    return v !== 'need-more' ? v : b.length >= SNIFF_LIMIT ? 'opaque' : undefined;
  });
  return { protocol: r.verdict ?? 'opaque', outcome: r.outcome, head: r.head };
}
