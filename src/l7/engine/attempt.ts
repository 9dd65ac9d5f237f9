// One try of a request against one endpoint, the same shape over both upstream protocols: HTTP/2 (and
// gRPC) on a pooled h2c session stream, HTTP/1.1 through node:http. The call writes the request body
// into it and hears the response head, body, trailers, or how it failed (with enough detail to classify
// the failure: connect, refused stream, reset before or after the head, a request never processed).
import * as http2 from 'node:http2';
import type { IncomingMessage } from 'node:http';
import type { Addr } from '../../capture/types';
import { errorCode } from '../../upstream/failure';
import type { H1Client } from '../../upstream/h1client';
import type { H2Pool } from '../../upstream/h2pool';
import { listOf, objectOf } from '../h2/stream';
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

export function h2Attempt(pool: H2Pool, key: string, addr: Addr, head: UpstreamHead, endStream: boolean, opts: AttemptOptions, ev: AttemptEvents): Attempt {
  const headers = objectOf(head.headers, { ':method': head.method, ':path': head.path, ':authority': head.authority, ':scheme': 'http' });
  const lease = pool.request(key, addr, headers, {
    endStream,
    ...(opts.connectTimeoutMs !== undefined ? { connectTimeoutMs: opts.connectTimeoutMs } : {}),
    ...(opts.maxRequestsPerConnection !== undefined ? { maxRequestsPerSession: opts.maxRequestsPerConnection } : {}),
  });
  const { stream } = lease;
  let live = true;
  let gotHead = false;
  let trailers: HeaderList | undefined;
  const fail = (kind: FailureKind, code: string | undefined, message: string): void => {
    if (!live) return;
    live = false;
    ev.onFailure({ kind, code, message, afterHeaders: gotHead, unprocessed: kind === 'refused-stream' && !gotHead });
  };
  stream.on('response', (h: http2.IncomingHttpHeaders, flags: number) => {
    if (!live) return;
    gotHead = true;
    ev.onResponse(Number(h[':status']), listOf(h), (flags & END_STREAM) !== 0);
  });
  stream.on('data', (chunk: Buffer) => {
    if (live) ev.onData(chunk);
  });
  stream.on('trailers', (t: http2.IncomingHttpHeaders) => {
    trailers = listOf(t);
  });
  stream.on('end', () => {
    if (!live || !gotHead) return;
    live = false;
    ev.onEnd(trailers !== undefined && trailers.length > 0 ? trailers : undefined);
  });
  stream.on('drain', () => {
    if (live) ev.onDrain();
  });
  stream.on('error', (err: Error) => {
    const code = errorCode(err);
    if (stream.rstCode === NGHTTP2_REFUSED_STREAM) return fail('refused-stream', code, err.message);
    if (!gotHead && !lease.reused && !lease.session.connected) return fail('connect-failure', code, err.message);
    fail(code === 'ERR_HTTP2_PROTOCOL_ERROR' || code === 'ERR_HTTP2_INVALID_HEADER_VALUE' ? 'protocol' : 'reset', code, err.message);
  });
  stream.on('close', () => {
    // Closed without 'end' and without an error: reset with NO_ERROR/CANCEL, or the session went away.
    if (!live) return;
    if (stream.rstCode === NGHTTP2_REFUSED_STREAM) return fail('refused-stream', undefined, 'stream refused');
    fail(!gotHead && !lease.session.connected ? 'connect-failure' : 'reset', undefined, `stream closed (code ${stream.rstCode ?? 0})`);
  });
  return {
    write: (chunk) => (live && stream.writable ? stream.write(chunk) : true),
    // Request trailers are not forwarded over HTTP/2 (no client we proxy sends them).
    end: () => {
      if (live && stream.writable) stream.end();
    },
    abort: () => {
      live = false;
      if (!stream.destroyed) stream.close(NGHTTP2_CANCEL);
    },
    pause: () => void stream.pause(),
    resume: () => void stream.resume(),
    buffered: () => stream.writableLength,
    localAddress: () => {
      const s = lease.session.session.socket;
      return s?.localAddress !== undefined ? `${s.localAddress}:${s.localPort}` : null;
    },
  };
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
