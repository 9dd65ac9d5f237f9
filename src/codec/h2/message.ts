// HTTP message rules for HTTP/2 header lists (RFC 9113 §8.1-8.3): lowercase names, pseudo-header fields
// (known, once each, first, required ones present, none in trailers), no connection-specific fields,
// TE only "trailers", field values without NUL/CR/LF or surrounding whitespace. A violation makes the
// message malformed: a stream error of type PROTOCOL_ERROR (§8.1.1). Pure.

export type MessageKind = 'request' | 'response' | 'trailers';

export interface MessageInfo {
  /** Declared content-length, or -1. */
  readonly contentLength: number;
  /** :method of a request ('' otherwise). */
  readonly method: string;
  /** :status of a response (0 otherwise). */
  readonly status: number;
}

const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);
/**
 * Known pseudo-headers, a bit each: the request ones and :status. :protocol (RFC 8441) is not among them:
 * SETTINGS_ENABLE_CONNECT_PROTOCOL is never offered.
 */
const PSEUDO_BITS: Readonly<Record<string, number>> = Object.freeze({ ':method': 1, ':scheme': 2, ':authority': 4, ':path': 8, ':status': 16 });

/** token characters (RFC 9110 §5.6.2), lowercase letters only. */
const NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
const VALUE_BAD_CHAR = /[\0\n\r]/;

/**
 * Names already found valid. HPACK hands out the same string for every reference to a table entry, and
 * a string's hash is computed once, so a repeated name costs a set lookup instead of a scan. (Values
 * are mostly new per message: they are scanned, natively.)
 */
const goodNames = new Set<string>();
const NAMES_LIMIT = 4096;

function badName(n: string): boolean {
  if (goodNames.has(n)) return false;
  if (!NAME.test(n)) return true;
  if (goodNames.size >= NAMES_LIMIT) goodNames.clear();
  goodNames.add(n);
  return false;
}

function badValue(v: string): boolean {
  if (v.length === 0) return false;
  const first = v.charCodeAt(0);
  const last = v.charCodeAt(v.length - 1);
  return first === 0x20 || first === 0x09 || last === 0x20 || last === 0x09 || VALUE_BAD_CHAR.test(v);
}

/** Checks a decoded header list; a reason string when malformed, else what the connection tracks. */
export function checkMessage(kind: MessageKind, headers: readonly string[]): MessageInfo | string {
  let regular = false;
  let method = '';
  let scheme = '';
  let path: string | undefined;
  let authority = false;
  let status = 0;
  let contentLength = -1;
  let seen = 0; // pseudo-headers met, one bit each
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    const value = headers[i + 1]!;
    if (name.length === 0) return 'empty field name';
    if (name.charCodeAt(0) === 0x3a) {
      if (kind === 'trailers') return `pseudo-header ${name} in trailers`;
      if (regular) return `pseudo-header ${name} after a regular field`;
      const bit = PSEUDO_BITS[name] ?? 0;
      if (seen & bit) return `duplicate ${name}`;
      seen |= bit;
      if (kind === 'request') {
        if (bit === 0 || bit === PSEUDO_BITS[':status']) return `unknown pseudo-header ${name}`;
        if (name === ':method') method = value;
        else if (name === ':scheme') scheme = value;
        else if (name === ':path') path = value;
        else authority = true;
      } else {
        if (name !== ':status') return `unknown pseudo-header ${name}`;
        if (!/^[1-9][0-9]{2}$/.test(value)) return 'invalid :status';
        status = Number(value);
      }
      if (badValue(value)) return `invalid value of ${name}`;
      continue;
    }
    regular = true;
    if (badName(name)) return `invalid field name ${JSON.stringify(name)}`;
    if (CONNECTION_SPECIFIC.has(name)) return `connection-specific field ${name}`;
    if (name === 'te' && value !== 'trailers') return 'TE other than "trailers"';
    if (badValue(value)) return `invalid value of ${name}`;
    if (name === 'content-length') {
      if (!/^[0-9]{1,15}$/.test(value)) return 'invalid content-length';
      const n = Number(value);
      if (contentLength >= 0 && contentLength !== n) return 'conflicting content-length';
      contentLength = n;
    }
  }
  if (kind === 'request') {
    if (!method) return 'missing :method';
    if (method === 'CONNECT') {
      if (scheme || path !== undefined || !authority) return 'CONNECT with :scheme or :path, or without :authority';
    } else {
      if (!scheme) return 'missing :scheme';
      if (path === undefined) return 'missing :path';
      if (path === '') return 'empty :path';
    }
  } else if (kind === 'response' && !status) return 'missing :status';
  return { contentLength, method, status };
}
