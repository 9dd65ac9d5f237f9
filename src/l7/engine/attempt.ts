// One try of a request against one endpoint, the same shape over both upstream protocols: HTTP/2 (and
// gRPC) on a pooled h2c session stream, HTTP/1.1 through node:http. The call writes the request body
// into it and hears the response head, body, trailers, or how it failed (with enough detail to classify
// the failure: connect, refused stream, reset before or after the head, a request never processed).
import * as http2 from 'node:http2';
import type { IncomingMessage } from 'node:http';
import type { Addr } from '../../capture/types';
import { errorCode } from '../../upstream/failure';
import type { H1Client } from '../../upstream/h1client';
import type { H2Lease, H2Pool, H2RequestOptions } from '../../upstream/h2pool';
import { listOf } from '../h2/stream';
import type { ResolvedDestination } from '../../route/types';
import type { HeaderList } from './types';

const { NGHTTP2_REFUSED_STREAM, NGHTTP2_CANCEL } = http2.constants;
const END_STREAM = 0x1;

export type FailureKind = 'connect-failure' | 'reset' | 'refused-stream' | 'protocol';

export interface AttemptFailure {
  readonly kind: FailureKind;
  readonly code: string | undefined;
  readonly message: string;
  /** The response head had arrived (the failure is mid-response). */
  readonly afterHeaders: boolean;
  /**
   * The upstream certainly did not process the request (a refused stream; a pooled HTTP/1 connection
   * the server had closed): resending it is safe and is not a retry.
   */
  readonly unprocessed: boolean;
}

export interface AttemptEvents {
  /** The final response head; END_STREAM: nothing follows (a trailers-only gRPC answer, a bodiless 204). */
  onResponse(status: number, headers: HeaderList, endStream: boolean): void;
  onData(chunk: Buffer): void;
  onEnd(trailers: HeaderList | undefined): void;
  onFailure(f: AttemptFailure): void;
  /** The upstream takes request bytes again after write() returned false. */
  onDrain(): void;
}

/** Where the request goes, after rewrites and header edits. */
export interface UpstreamHead {
  readonly method: string;
  readonly path: string;
  readonly authority: string;
  readonly headers: HeaderList;
}

export interface Attempt {
  write(chunk: Buffer): boolean;
  end(trailers?: HeaderList): void;
  /** Cancels the try (RST_STREAM / closes the connection); no further events. */
  abort(): void;
  pause(): void;
  resume(): void;
  /** Request bytes queued and not yet taken by the upstream. */
  buffered(): number;
  /** Local address of the upstream connection, for the access log. */
  localAddress(): string | null;
}

/** Connection settings of the cluster (DestinationRule connectionPool). */
export interface AttemptOptions {
  readonly connectTimeoutMs?: number;
  readonly maxRequestsPerConnection?: number;
}

/** No DestinationRule connection settings: shared, nothing allocated per try. */
const NO_OPTIONS: AttemptOptions = Object.freeze({});

/** The connection settings of a try to DEST (DestinationRule connectionPool). */
export function attemptOptions(dest: ResolvedDestination): AttemptOptions {
  const cp = dest.policy.connectionPool;
  if (cp?.connectTimeoutMs === undefined && cp?.maxRequestsPerConnection === undefined) return NO_OPTIONS;
  return {
    ...(cp.connectTimeoutMs !== undefined ? { connectTimeoutMs: cp.connectTimeoutMs } : {}),
    ...(cp.maxRequestsPerConnection !== undefined ? { maxRequestsPerConnection: cp.maxRequestsPerConnection } : {}),
  };
}


/** The flat [name, value, ...] form node's http2 takes without building a header object first. */
export function flatHeaders(head: UpstreamHead): string[] {
  const out = [':method', head.method, ':path', head.path, ':authority', head.authority, ':scheme', 'http'];
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

function poolOptions(endStream: boolean, opts: AttemptOptions): H2RequestOptions {
  if (opts.connectTimeoutMs === undefined && opts.maxRequestsPerConnection === undefined) return endStream ? PLAIN_END : PLAIN_BODY;
  return {
    endStream,
    ...(opts.connectTimeoutMs !== undefined ? { connectTimeoutMs: opts.connectTimeoutMs } : {}),
    ...(opts.maxRequestsPerConnection !== undefined ? { maxRequestsPerSession: opts.maxRequestsPerConnection } : {}),
  };
}

class H2Try implements Attempt {
  live = true;
  gotHead = false;
  trailers: HeaderList | undefined;
  private readonly stream: http2.ClientHttp2Stream;
  private readonly lease: H2Lease;

  constructor(
    pool: H2Pool, key: string, addr: Addr, head: UpstreamHead, endStream: boolean, opts: AttemptOptions,
    readonly ev: AttemptEvents,
  ) {
    this.lease = pool.request(key, addr, flatHeaders(head), poolOptions(endStream, opts));
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

export function h2Attempt(pool: H2Pool, key: string, addr: Addr, head: UpstreamHead, endStream: boolean, opts: AttemptOptions, ev: AttemptEvents): Attempt {
  return new H2Try(pool, key, addr, head, endStream, opts, ev);
}

/** rawHeaders/rawTrailers ([name, value, ...]) as a list with lower-case names. */
function pairs(raw: readonly string[]): HeaderList {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!.toLowerCase(), raw[i + 1]!]);
  return out;
}

export function h1Attempt(client: H1Client, key: string, addr: Addr, head: UpstreamHead, opts: AttemptOptions, ev: AttemptEvents): Attempt {
  const fields: HeaderList = [['host', head.authority], ...head.headers];
  const call = client.request(key, addr, { method: head.method, path: head.path, headers: fields }, opts.connectTimeoutMs !== undefined ? { connectTimeoutMs: opts.connectTimeoutMs } : {});
  const { req } = call;
  let live = true;
  let res: IncomingMessage | undefined;
  const fail = (kind: FailureKind, code: string | undefined, message: string): void => {
    if (!live) return;
    live = false;
    const stale = res === undefined && call.reused && (code === 'ECONNRESET' || code === 'EPIPE');
    ev.onFailure({ kind, code, message, afterHeaders: res !== undefined, unprocessed: stale });
  };
  req.on('response', (r: IncomingMessage) => {
    if (!live) return void r.resume();
    res = r;
    r.on('error', () => undefined);
    r.on('data', (chunk: Buffer) => {
      if (live) ev.onData(chunk);
    });
    r.on('end', () => {
      if (!live) return;
      live = false;
      ev.onEnd(r.rawTrailers.length > 0 ? pairs(r.rawTrailers) : undefined);
    });
    r.on('close', () => {
      if (live && !r.complete) fail('reset', 'ECONNRESET', 'upstream closed mid-response');
    });
    ev.onResponse(r.statusCode ?? 502, pairs(r.rawHeaders), false);
  });
  req.on('error', (err: Error) => {
    const code = errorCode(err);
    if (res === undefined && !call.connected) return fail('connect-failure', code, err.message);
    fail(code !== undefined && code.startsWith('HPE_') ? 'protocol' : 'reset', code, err.message);
  });
  req.on('close', () => {
    if (live && res === undefined) fail(call.connected ? 'reset' : 'connect-failure', 'ECONNRESET', 'upstream connection closed');
  });
  req.on('drain', () => {
    if (live) ev.onDrain();
  });
  return {
    write: (chunk) => (live && !req.writableEnded ? req.write(chunk) : true),
    end: (trailers) => {
      if (!live || req.writableEnded) return;
      if (trailers !== undefined && trailers.length > 0) req.addTrailers(trailers.map(([k, v]): [string, string] => [k, v]));
      req.end();
    },
    abort: () => {
      live = false;
      req.destroy();
      res?.destroy();
    },
    pause: () => void res?.pause(),
    resume: () => void res?.resume(),
    buffered: () => req.writableLength,
    localAddress: () => {
      const s = req.socket;
      return s?.localAddress !== undefined ? `${s.localAddress}:${s.localPort}` : null;
    },
  };
}
