// The HTTP/2 try: one stream on a pooled h2c session (H2Pool). Listeners are shared by every stream
// (no closures per request); each finds its try on the stream.
import * as http2 from 'node:http2';
import type { Addr } from '../../capture/types';
import { listOf, type HeaderList } from '../../codec/fields';
import type { Attempt, AttemptEvents, AttemptOptions, FailureKind, UpstreamHead } from '../attempt';
import { errorCode } from '../failure';
import type { H2Lease, H2Pool, H2RequestOptions } from './pool';

const { NGHTTP2_REFUSED_STREAM, NGHTTP2_CANCEL } = http2.constants;
const END_STREAM = 0x1;

/** The flat [name, value, ...] form node's http2 takes without building a header object first. */
export function flatHeaders(head: UpstreamHead, scheme = 'http'): string[] {
  const out = [':method', head.method, ':path', head.path, ':authority', head.authority, ':scheme', scheme];
  for (const [k, v] of head.headers) out.push(k, v);
  return out;
}

/** The try a pooled stream carries: node calls stream listeners with the stream as `this`. */
const TRY = Symbol('nodemesh.h2try');
type TryStream = http2.ClientHttp2Stream & { [TRY]: H2Try };

// Listeners shared by every stream (no closures per request); each finds its try on the stream.
function onResponse(this: TryStream, h: http2.IncomingHttpHeaders, flags: number): void {
  this[TRY].response(h, flags);
}
function onData(this: TryStream, chunk: Buffer): void {
  const t = this[TRY];
  if (t.live) t.ev.onData(chunk);
}
function onTrailers(this: TryStream, h: http2.IncomingHttpHeaders): void {
  this[TRY].trailers = listOf(h);
}
function onEnd(this: TryStream): void {
  this[TRY].end_();
}
function onDrain(this: TryStream): void {
  const t = this[TRY];
  if (t.live) t.ev.onDrain();
}
function onError(this: TryStream, err: Error): void {
  this[TRY].error(err);
}
function onClose(this: TryStream): void {
  this[TRY].closed();
}

/** Pool options without any DestinationRule setting, shared (the common case allocates none). */
const PLAIN_END: H2RequestOptions = Object.freeze({ endStream: true });
const PLAIN_BODY: H2RequestOptions = Object.freeze({ endStream: false });

function poolOptions(endStream: boolean, opts: AttemptOptions, localAddress: string | undefined): H2RequestOptions {
  if (opts.connectTimeoutMs === undefined && opts.maxRequestsPerConnection === undefined && localAddress === undefined && opts.tls === undefined) {
    return endStream ? PLAIN_END : PLAIN_BODY;
  }
  return {
    endStream,
    ...(opts.connectTimeoutMs !== undefined ? { connectTimeoutMs: opts.connectTimeoutMs } : {}),
    ...(opts.maxRequestsPerConnection !== undefined ? { maxRequestsPerSession: opts.maxRequestsPerConnection } : {}),
    ...(localAddress !== undefined ? { localAddress } : {}),
    ...(opts.tls !== undefined ? { tls: opts.tls } : {}),
  };
}

export class H2Try implements Attempt {
  live = true;
  gotHead = false;
  trailers: HeaderList | undefined;
  private readonly stream: http2.ClientHttp2Stream;
  private readonly lease: H2Lease;

  constructor(
    pool: H2Pool, key: string, addr: Addr, head: UpstreamHead, endStream: boolean, opts: AttemptOptions,
    readonly ev: AttemptEvents, localAddress: string | undefined,
  ) {
    // Over originated TLS the upstream sees https, as Envoy sends it.
    this.lease = pool.request(key, addr, flatHeaders(head, opts.tls !== undefined ? 'https' : 'http'), poolOptions(endStream, opts, localAddress));
    const stream = (this.stream = this.lease.stream);
    (stream as TryStream)[TRY] = this;
    stream.on('response', onResponse);
    stream.on('data', onData);
    stream.on('trailers', onTrailers);
    stream.on('end', onEnd);
    // A request without a body writes nothing, so never waits for the upstream to take more.
    if (!endStream) stream.on('drain', onDrain);
    stream.on('error', onError);
    stream.on('close', onClose);
  }

  private fail(kind: FailureKind, code: string | undefined, message: string): void {
    if (!this.live) return;
    this.live = false;
    this.ev.onFailure({ kind, code, message, afterHeaders: this.gotHead, unprocessed: kind === 'refused-stream' && !this.gotHead });
  }

  response(h: http2.IncomingHttpHeaders, flags: number): void {
    if (!this.live) return;
    this.gotHead = true;
    this.ev.onResponse(Number(h[':status']), listOf(h), (flags & END_STREAM) !== 0);
  }

  end_(): void {
    if (!this.live || !this.gotHead) return;
    this.live = false;
    const t = this.trailers;
    this.ev.onEnd(t !== undefined && t.length > 0 ? t : undefined);
  }

  error(err: Error): void {
    const code = errorCode(err);
    const { stream, lease } = this;
    if (stream.rstCode === NGHTTP2_REFUSED_STREAM) return this.fail('refused-stream', code, err.message);
    if (!this.gotHead && !lease.reused && !lease.session.connected) return this.fail('connect-failure', code, err.message);
    this.fail(code === 'ERR_HTTP2_PROTOCOL_ERROR' || code === 'ERR_HTTP2_INVALID_HEADER_VALUE' ? 'protocol' : 'reset', code, err.message);
  }

  /** Closed without 'end' and without an error: reset with NO_ERROR/CANCEL, or the session went away. */
  closed(): void {
    if (!this.live) return;
    const { stream, lease } = this;
    if (stream.rstCode === NGHTTP2_REFUSED_STREAM) return this.fail('refused-stream', undefined, 'stream refused');
    this.fail(!this.gotHead && !lease.session.connected ? 'connect-failure' : 'reset', undefined, `stream closed (code ${stream.rstCode ?? 0})`);
  }

  write(chunk: Buffer): boolean {
    return this.live && this.stream.writable ? this.stream.write(chunk) : true;
  }

  /** Request trailers are not forwarded over HTTP/2 (no client we proxy sends them). */
  end(): void {
    if (this.live && this.stream.writable) this.stream.end();
  }

  abort(): void {
    this.live = false;
    if (!this.stream.destroyed) this.stream.close(NGHTTP2_CANCEL);
  }

  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }

  buffered(): number {
    return this.stream.writableLength;
  }

  localAddress(): string | null {
    return this.lease.session.localAddress();
  }
}

/**
 * A try on a stream to KEY (dialling ADDR). LOCAL_ADDRESS binds a session it opens; such sessions must
 * be pooled under their own keys (pool.ts keyWith).
 */
export function h2Attempt(
  pool: H2Pool, key: string, addr: Addr, head: UpstreamHead, endStream: boolean, opts: AttemptOptions, ev: AttemptEvents, localAddress?: string,
): Attempt {
  return new H2Try(pool, key, addr, head, endStream, opts, ev, localAddress);
}
