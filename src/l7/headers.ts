// Header rewriting between the downstream and upstream HTTP/1.1 hops, on node's raw header arrays
// ([name, value, name, value...], original case and order kept). Pure and table-tested.

/** Hop-by-hop headers (RFC 9110 7.6.1 plus the legacy ones Envoy also strips). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

/** Connection tokens that name standard behaviour rather than extra hop-by-hop headers. */
const STANDARD_TOKENS = new Set(['close', 'keep-alive', 'upgrade', 'te']);

export interface ForwardedRequest {
  /** Raw header array for http.request({headers}) (node then writes them as given, no Host added). */
  readonly headers: string[];
  readonly requestId: string;
  /** True when the downstream body was chunked: the upstream request must be chunked too. */
  readonly chunked: boolean;
  /** False for an HTTP/1.0 request without Host: the caller adds the service's host (upstream is 1.1). */
  readonly hasHost: boolean;
}

/** Extra header names a Connection header declares hop-by-hop ("Connection: close, X-Foo" → x-foo). */
function connectionTokens(value: string, into: Set<string> | undefined): Set<string> | undefined {
  // Fast path for the values nearly every client sends.
  if (value.length <= 10) {
    const v = value.toLowerCase();
    if (v === 'keep-alive' || v === 'close' || v === 'upgrade') return into;
  }
  for (const part of value.split(',')) {
    const t = part.trim().toLowerCase();
    if (t.length > 0 && !STANDARD_TOKENS.has(t)) (into ??= new Set()).add(t);
  }
  return into;
}

/**
 * Request headers for the upstream hop: hop-by-hop headers stripped (TE kept only as "trailers";
 * Expect dropped because the proxy already answered 100-continue), `x-request-id` added when absent,
 * `x-forwarded-proto: http` added when absent (a value set by an earlier in-mesh hop is kept).
 */
export function forwardRequestHeaders(raw: readonly string[], newRequestId: () => string): ForwardedRequest {
  const headers: string[] = [];
  let requestId: string | undefined;
  let forwardedProto = false;
  let chunked = false;
  let hasHost = false;
  let extra: Set<string> | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) {
      if (lower === 'connection') extra = connectionTokens(value, extra);
      else if (lower === 'transfer-encoding') chunked = true;
      else if (lower === 'te' && /\btrailers\b/i.test(value)) headers.push(name, 'trailers');
      continue;
    }
    if (lower === 'expect') continue;
    if (lower === 'host') hasHost = true;
    else if (lower === 'x-request-id' && requestId === undefined) requestId = value;
    else if (lower === 'x-forwarded-proto') forwardedProto = true;
    headers.push(name, value);
  }
  const out = extra === undefined ? headers : dropNamed(headers, extra);
  // llhttp rejects any request transfer-coding other than a final "chunked"; node decoded it, so re-chunk.
  if (chunked) out.push('transfer-encoding', 'chunked');
  if (requestId === undefined) {
    requestId = newRequestId();
    out.push('x-request-id', requestId);
  }
  if (!forwardedProto) out.push('x-forwarded-proto', 'http');
  return { headers: out, requestId, chunked, hasHost };
}


/**
 * Response headers for the downstream hop: hop-by-hop stripped. Node's ServerResponse then frames the
 * body itself (Content-Length when the upstream sent one, else chunked or close-delimited for HTTP/1.0)
 * and writes its own Connection / Keep-Alive. `close` adds "connection: close" (draining).
 */
export function forwardResponseHeaders(raw: readonly string[], close: boolean): string[] {
  const headers: string[] = [];
  let extra: Set<string> | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) {
      if (lower === 'connection') extra = connectionTokens(value, extra);
      continue;
    }
    headers.push(name, value);
  }
  const out = extra === undefined ? headers : dropNamed(headers, extra);
  if (close) out.push('connection', 'close');
  return out;
}

function dropNamed(headers: string[], names: Set<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < headers.length; i += 2) {
    if (!names.has(headers[i]!.toLowerCase())) out.push(headers[i]!, headers[i + 1]!);
  }
  return out;
}

/** True when the request carries a body by its headers (Content-Length > 0 or Transfer-Encoding). */
export function hasRequestBody(headers: { 'content-length'?: string | undefined; 'transfer-encoding'?: string | undefined }): boolean {
  if (headers['transfer-encoding'] !== undefined) return true;
  const cl = headers['content-length'];
  return cl !== undefined && cl !== '0';
}
