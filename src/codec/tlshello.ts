// The TLS ClientHello as the first bytes of a connection (RFC 8446 4.1.2, RFC 5246 7.4.1.2), read
// only as far as routing needs: is it complete, and which server name (SNI, RFC 6066 3) does it ask for.
// Pure bytes, strict: every length must agree with its container, and anything that is not a
// well-formed hello is 'invalid' (routed as a connection without SNI), never an exception. The hello
// may span several handshake records; it is reassembled up to MAX_HELLO bytes.

export type HelloResult =
  /** The bytes so far are a correct prefix of a ClientHello: read more. */
  | { readonly kind: 'need-more' }
  /** A complete, well-formed ClientHello; sni undefined when it names no server. */
  | { readonly kind: 'hello'; readonly sni: string | undefined }
  | { readonly kind: 'invalid'; readonly reason: string };

const HANDSHAKE = 0x16;
const CLIENT_HELLO = 0x01;
const EXT_SERVER_NAME = 0x0000;
const HOST_NAME = 0x00;
/** RFC 8446 5.1: a plaintext record carries at most 2^14 bytes. */
const MAX_RECORD = 16_384;
/** Larger hellos exist only as attacks; real ones (post-quantum key shares included) are a few KiB. */
export const MAX_HELLO = 65_536;

const NEED_MORE: HelloResult = Object.freeze({ kind: 'need-more' });
const invalid = (reason: string): HelloResult => Object.freeze({ kind: 'invalid', reason });

/** Classifies BUF, the first bytes a client sent, as a (partial) ClientHello. */
export function parseClientHello(buf: Uint8Array): HelloResult {
  // Reassemble the handshake message from consecutive handshake records.
  const parts: Uint8Array[] = [];
  let have = 0;
  let want = -1; // handshake message length incl. its 4-byte header, once known
  let at = 0;
  while (want < 0 || have < want) {
    if (buf.length - at < 5) return checkRecordPrefix(buf, at);
    if (buf[at] !== HANDSHAKE) return invalid(at === 0 ? 'not a handshake record' : 'another record inside the ClientHello');
    if (buf[at + 1] !== 0x03 || buf[at + 2]! > 0x04) return invalid('unknown record version');
    const len = (buf[at + 3]! << 8) | buf[at + 4]!;
    if (len === 0) return invalid('empty handshake record');
    if (len > MAX_RECORD) return invalid('record longer than 2^14 bytes');
    const end = Math.min(buf.length, at + 5 + len);
    parts.push(buf.subarray(at + 5, end));
    have += end - at - 5;
    if (want < 0 && have >= 4) {
      const head = join(parts, 4);
      if (head[0] !== CLIENT_HELLO) return invalid('first handshake message is not a ClientHello');
      want = 4 + ((head[1]! << 16) | (head[2]! << 8) | head[3]!);
      if (want > MAX_HELLO) return invalid(`ClientHello longer than ${MAX_HELLO} bytes`);
    }
    if (end < at + 5 + len) return want >= 0 && have >= want ? invalid('record longer than the ClientHello') : NEED_MORE;
    at = end;
    // The hello must end exactly at a record's end: no other message is sent before the server answers.
    if (want >= 0 && have > want) return invalid('record longer than the ClientHello');
  }
  return readHello(join(parts, want).subarray(4));
}

/** Fewer than 5 bytes of a record header at AT: a prefix of a handshake record header, or not. */
function checkRecordPrefix(buf: Uint8Array, at: number): HelloResult {
  if (buf.length > at && buf[at] !== HANDSHAKE) return invalid(at === 0 ? 'not a handshake record' : 'another record inside the ClientHello');
  if (buf.length > at + 1 && buf[at + 1] !== 0x03) return invalid('unknown record version');
  if (buf.length > at + 2 && buf[at + 2]! > 0x04) return invalid('unknown record version');
  return NEED_MORE;
}

function join(parts: readonly Uint8Array[], n: number): Uint8Array {
  if (parts.length === 1 || parts[0]!.length >= n) return parts[0]!.subarray(0, n);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    const take = Math.min(p.length, n - o);
    out.set(p.subarray(0, take), o);
    o += take;
    if (o === n) break;
  }
  return out;
}

/** A bounds-checked cursor: every read past the end throws Short, caught once in readHello. */
class Short extends Error {}

class Reader {
  pos = 0;
  constructor(
    private readonly b: Uint8Array,
    private readonly end = b.length,
  ) {}

  u8(): number {
    if (this.pos + 1 > this.end) throw new Short();
    return this.b[this.pos++]!;
  }

  u16(): number {
    return (this.u8() << 8) | this.u8();
  }

  /** A sub-reader over the next LEN bytes (this one moves past them). */
  sub(len: number): Reader {
    if (this.pos + len > this.end) throw new Short();
    const r = new Reader(this.b, this.pos + len);
    r.pos = this.pos;
    this.pos += len;
    return r;
  }

  bytes(len: number): Uint8Array {
    if (this.pos + len > this.end) throw new Short();
    const out = this.b.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  get left(): number {
    return this.end - this.pos;
  }
}

/** BODY: the ClientHello message without its handshake header. */
function readHello(body: Uint8Array): HelloResult {
  try {
    const r = new Reader(body);
    const major = r.u8();
    r.u8();
    if (major !== 0x03) return invalid('unknown client version');
    r.bytes(32); // random
    const sessionId = r.u8();
    if (sessionId > 32) return invalid('session id longer than 32 bytes');
    r.bytes(sessionId);
    const suites = r.u16();
    if (suites < 2 || suites % 2 !== 0) return invalid('bad cipher suite list length');
    r.bytes(suites);
    const compression = r.u8();
    if (compression < 1) return invalid('empty compression method list');
    r.bytes(compression);
    // A hello without extensions (old clients) names no server.
    if (r.left === 0) return Object.freeze({ kind: 'hello', sni: undefined });
    const exts = r.sub(r.u16());
    if (r.left !== 0) return invalid('bytes after the extensions');
    const seen = new Set<number>();
    let sni: string | undefined;
    while (exts.left > 0) {
      const type = exts.u16();
      const data = exts.sub(exts.u16());
      if (seen.has(type)) return invalid(`extension ${type} appears twice`);
      seen.add(type);
      if (type !== EXT_SERVER_NAME) continue;
      const name = readServerName(data);
      if (typeof name !== 'string' && name !== undefined) return name;
      sni = name;
    }
    return Object.freeze({ kind: 'hello', sni });
  } catch (e) {
    if (e instanceof Short) return invalid('a length runs past its container');
    throw e;
  }
}

/** The server_name extension: one host_name entry (RFC 6066 forbids two of a type). */
function readServerName(data: Reader): string | undefined | HelloResult {
  // A server's empty extension (in its own hello) is not valid from a client.
  const list = data.sub(data.u16());
  if (data.left !== 0) return invalid('bytes after the server name list');
  let host: string | undefined;
  while (list.left > 0) {
    const type = list.u8();
    const name = list.bytes(list.u16());
    if (type !== HOST_NAME) continue; // no other name types are defined; skip them as RFC 6066 allows
    if (host !== undefined) return invalid('two host names in the server name list');
    host = hostName(name);
    if (host === undefined) return invalid('server name is not a DNS host name');
  }
  if (host === undefined) return invalid('server name list without a host name');
  return host;
}

/**
 * A DNS host name as RFC 6066 carries it: ASCII letters, digits, '-' and '_' (seen in the wild) in
 * dot-separated labels of 1..63 bytes, at most 253 in all, no trailing dot. Lower-cased.
 */
function hostName(b: Uint8Array): string | undefined {
  if (b.length === 0 || b.length > 253) return undefined;
  let label = 0;
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c === 0x2e) {
      if (label === 0) return undefined;
      label = 0;
      continue;
    }
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f;
    if (!ok || ++label > 63) return undefined;
  }
  if (label === 0) return undefined;
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1').toLowerCase();
}
