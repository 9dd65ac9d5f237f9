// The bytes of an HTTP/1.1 request as the engine's tries send it upstream: the head (request line, host,
// the given fields, the framing field the try chose) and chunked coding of the body. Pure.
import type { HeaderList } from '../../codec/fields';
import type { Head } from '../../codec/h1head';

/** How the request body goes: none, Content-Length bytes, or chunked. */
export type RequestFraming = 'none' | 'length' | 'chunked';

/** What the head's fields say about the message, found while writing them. */
export interface RequestFields {
  /** "request-line + host + fields" without the framing field and the final CRLF. */
  readonly text: string;
  /** The Content-Length given, or -1. */
  readonly contentLength: number;
  /** The request carries `connection: close`: the connection is not reused after it. */
  readonly close: boolean;
}

/** CR, LF or NUL: a field carrying one would end the head early (request splitting). */
const UNSAFE = /[\r\n\0]/;
/** Request-target bytes node's http refuses too (controls and space). */
const BAD_PATH = /[\0-\x20\x7f]/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const CRLF = Buffer.from('\r\n', 'latin1');

/** Methods whose bodiless requests still say `content-length: 0` (servers may otherwise wait or 411). */
export function expectsBody(method: string): boolean {
  return method === 'POST' || method === 'PUT' || method === 'PATCH';
}

/**
 * The head's text up to the framing field. Throws (as node's http does for ERR_INVALID_CHAR) when the
 * method, path, authority or a field could split the head: nothing has been sent at that point.
 */
export function requestFields(method: string, path: string, authority: string, headers: HeaderList): RequestFields {
  if (!TOKEN.test(method)) throw new TypeError(`invalid request method ${JSON.stringify(method)}`);
  if (path === '' || BAD_PATH.test(path)) throw new TypeError(`invalid request path ${JSON.stringify(path)}`);
  if (UNSAFE.test(authority)) throw new TypeError('invalid character in the authority');
  let text = `${method} ${path} HTTP/1.1\r\nhost: ${authority}\r\n`;
  let contentLength = -1;
  let close = false;
  let cookies: string | undefined;
  for (const [k, v] of headers) {
    // The try frames the body itself; host is the authority above.
    if (k === 'transfer-encoding' || k === 'host') continue;
    if (!TOKEN.test(k) || UNSAFE.test(v)) throw new TypeError(`invalid character in header ${JSON.stringify(k)}`);
    if (k === 'cookie') {
      // HTTP/2 may split Cookie into one field per pair; HTTP/1.1 takes one line (RFC 9113 8.2.3).
      cookies = cookies === undefined ? v : `${cookies}; ${v}`;
      continue;
    }
    if (k === 'content-length') {
      if (contentLength >= 0) continue;
      const n = Number(v);
      if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new TypeError('invalid content-length');
      contentLength = n;
    } else if (k === 'connection' && /(?:^|,)\s*close\s*(?:,|$)/i.test(v)) close = true;
    text += `${k}: ${v}\r\n`;
  }
  if (cookies !== undefined) text += `cookie: ${cookies}\r\n`;
  return { text, contentLength, close };
}

/**
 * The complete head for FRAMING: the fields, then `transfer-encoding: chunked` or, for a bodiless
 * request of a method that usually has a body, `content-length: 0`.
 */
export function finishHead(f: RequestFields, framing: RequestFraming, method: string): string {
  if (framing === 'chunked') return `${f.text}transfer-encoding: chunked\r\n\r\n`;
  if (framing === 'none' && f.contentLength < 0 && expectsBody(method)) return `${f.text}content-length: 0\r\n\r\n`;
  return `${f.text}\r\n`;
}

/** The fields that ask the endpoint to switch to UPGRADE (hop-by-hop: added on each hop). */
export function upgradeLines(upgrade: string): string {
  return `connection: upgrade\r\nupgrade: ${upgrade}\r\n`;
}

/** One chunk of chunked coding around DATA (never empty: a zero-size chunk ends the body). */
export function chunk(data: Buffer, prefix?: string): Buffer {
  const size = `${prefix ?? ''}${data.length.toString(16)}\r\n`;
  const out = Buffer.allocUnsafe(Buffer.byteLength(size, 'latin1') + data.length + 2);
  const at = out.write(size, 0, 'latin1');
  data.copy(out, at);
  CRLF.copy(out, at + data.length);
  return out;
}

/** The last chunk with TRAILERS (fields that could split the message are dropped) and the final CRLF. */
export function lastChunk(trailers: HeaderList | undefined): string {
  let text = '0\r\n';
  if (trailers !== undefined) {
    for (const [k, v] of trailers) {
      if (!TOKEN.test(k) || UNSAFE.test(v)) continue;
      text += `${k}: ${v}\r\n`;
    }
  }
  return `${text}\r\n`;
}

/** HEAD (text) followed by DATA in one buffer, for a single write. */
export function withBody(head: string, data: Buffer | undefined): Buffer {
  if (data === undefined || data.length === 0) return Buffer.from(head, 'latin1');
  const out = Buffer.allocUnsafe(head.length + data.length);
  const at = out.write(head, 0, 'latin1');
  data.copy(out, at);
  return out;
}

/** What a raw head says of its framing; its Connection field never goes upstream (hop-by-hop). */
export function rawFields(h: Head): RequestFields {
  return { text: '', contentLength: h.framing === 'length' ? h.contentLength : -1, close: false };
}
