// The destination side for HTTP/2 and gRPC: the h2c connection carried by a tunnel stream is served by
// an http2 server; each request is authorized with the caller's verified identity (so policies can
// name gRPC methods as paths), forwarded to the pod over a pooled h2c session from the delivery address,
// and counted at the destination with request_protocol and grpc_response_status.
import * as http2 from 'node:http2';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Addr } from '../capture/types';
import { logger } from '../log';
import type { AuthzRequest } from '../policy/authz';
import type { HttpStats } from '../telemetry/metrics';

const log = logger('inbound-h2');
const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants;
const END_STREAM = 0x1;
/** Connection-specific fields HTTP/2 forbids, and what a proxy must not forward. */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings', 'host']);

export interface InboundH2Hooks<I> {
  /** True when the caller of INFO may make this request. */
  authorize(info: I, http: NonNullable<AuthzRequest['http']>): boolean;
  stats(info: I, grpc: boolean): HttpStats;
  target(info: I): Addr;
  readonly deliveryAddress: string | undefined;
  readonly deniedBody: string;
}

export class InboundH2<I extends object> {
  private readonly server: http2.Http2Server;
  /** The connection being handed over: the server creates its session synchronously from 'connection'. */
  private handing: I | undefined;
  private readonly infos = new WeakMap<http2.Http2Session, I>();
  private readonly pods = new Map<string, http2.ClientHttp2Session>();

  constructor(private readonly hooks: InboundH2Hooks<I>) {
    this.server = http2.createServer({
      maxSessionInvalidFrames: 100,
      maxSessionRejectedStreams: 100,
      maxHeaderListPairs: 128,
      settings: { enablePush: false, maxConcurrentStreams: 100, maxHeaderListSize: 64 * 1024 },
    });
    this.server.on('session', (s: http2.ServerHttp2Session) => {
      s.on('error', (err) => log.debug({ err: err.message }, 'inbound h2 session error'));
      if (this.handing !== undefined) this.infos.set(s, this.handing);
    });
    this.server.on('stream', (stream, headers) => {
      try {
        this.onStream(stream, headers);
      } catch (err) {
        log.error({ err }, 'inbound h2 request failed');
        if (!stream.destroyed) stream.close(NGHTTP2_INTERNAL_ERROR);
      }
    });
    this.server.on('error', (err) => log.debug({ err: err.message }, 'inbound h2 server error'));
    this.server.on('sessionError', () => undefined);
  }

  /** Serves the h2c connection inside a tunnel stream for the caller INFO. */
  serve(conn: Duplex, info: I): void {
    this.handing = info;
    try {
      this.server.emit('connection', conn);
    } finally {
      this.handing = undefined;
    }
  }

  close(): void {
    for (const s of this.pods.values()) s.destroy();
    this.pods.clear();
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => undefined);
    const info = stream.session === undefined ? undefined : this.infos.get(stream.session);
    if (info === undefined) return void stream.close(NGHTTP2_REFUSED_STREAM);
    const started = performance.now();
    const method = String(headers[':method'] ?? 'GET');
    const path = String(headers[':path'] ?? '/');
    const authority = String(headers[':authority'] ?? headers.host ?? '');
    const grpc = String(headers['content-type'] ?? '').startsWith('application/grpc');
    const stats = this.hooks.stats(info, grpc);
    const plain: Record<string, string> = {};
    for (const [k, v] of Object.entries(headers)) if (k.charCodeAt(0) !== 58 && typeof v === 'string') plain[k] = v;

    if (!this.hooks.authorize(info, { method, path, host: authority, headers: plain })) {
      // gRPC clients read a trailers-only PERMISSION_DENIED (what Envoy maps RBAC's 403 to).
      const body = this.hooks.deniedBody;
      if (grpc) stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '7', 'grpc-message': body }, { endStream: true });
      else {
        stream.respond({ ':status': 403, 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
        stream.end(body);
      }
      stream.resume();
      stats.record(grpc ? 200 : 403, 'DENY', performance.now() - started, 0, grpc ? 0 : Buffer.byteLength(body), grpc ? '7' : '');
      return;
    }

    const out: http2.OutgoingHttpHeaders = { ':method': method, ':path': path, ':authority': authority, ':scheme': 'http' };
    for (const [k, v] of Object.entries(headers)) if (k.charCodeAt(0) !== 58 && !HOP.has(k) && v !== undefined) out[k] = v;
    const target = this.hooks.target(info);
    let up: http2.ClientHttp2Stream;
    try {
      up = this.pod(target).request(out, { endStream: stream.endAfterHeaders });
    } catch {
      answerFailure(stream, grpc);
      stats.record(grpc ? 200 : 503, 'UF', performance.now() - started, 0, 0, grpc ? '14' : '');
      return;
    }
    let reqBytes = 0;
    let respBytes = 0;
    let code = 0;
    let grpcStatus = '';
    let trailers: http2.OutgoingHttpHeaders | undefined;
    let upEnded = false;
    let recorded = false;
    const record = (flags: string): void => {
      if (recorded) return;
      recorded = true;
      stats.record(code, flags, performance.now() - started, reqBytes, respBytes, grpc ? grpcStatus : '');
    };
    up.on('error', () => undefined);
    stream.on('data', (d: Buffer) => (reqBytes += d.length));
    if (!stream.endAfterHeaders) stream.pipe(up);
    up.on('response', (h, flags) => {
      if (stream.destroyed) return;
      code = Number(h[':status'] ?? 502);
      const end = (flags & END_STREAM) !== 0;
      if (h['grpc-status'] !== undefined) grpcStatus = String(h['grpc-status']);
      const resp: http2.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(h)) if ((k.charCodeAt(0) !== 58 || k === ':status') && !HOP.has(k) && v !== undefined) resp[k] = v;
      stream.respond(resp, { endStream: end, waitForTrailers: !end });
      if (end) {
        upEnded = true;
        return;
      }
      up.on('data', (d: Buffer) => (respBytes += d.length));
      up.pipe(stream);
    });
    up.on('trailers', (t) => {
      if (t['grpc-status'] !== undefined) grpcStatus = String(t['grpc-status']);
      trailers = {};
      for (const [k, v] of Object.entries(t)) if (k.charCodeAt(0) !== 58 && v !== undefined) trailers[k] = v as string | string[];
    });
    up.on('end', () => (upEnded = true));
    stream.on('wantTrailers', () => {
      try {
        stream.sendTrailers(trailers ?? {});
      } catch {
        stream.close(NGHTTP2_INTERNAL_ERROR);
      }
    });
    up.on('close', () => {
      if (upEnded || stream.destroyed) return;
      // The pod reset or went away: before the head an error answer, after it a reset.
      if (!stream.headersSent) {
        answerFailure(stream, grpc);
        code = grpc ? 200 : 503;
        grpcStatus = grpc ? '14' : '';
        return record('UF');
      }
      stream.close(NGHTTP2_INTERNAL_ERROR);
      record('UR');
    });
    stream.on('close', () => {
      if (upEnded) return record('-');
      if (!up.destroyed) up.close(NGHTTP2_CANCEL);
      record('DC');
    });
  }

  /** A live h2c session to the pod at TARGET, from the delivery address (trusted under STRICT). */
  private pod(target: Addr): http2.ClientHttp2Session {
    const key = `${target.address}:${target.port}`;
    const have = this.pods.get(key);
    if (have !== undefined && !have.closed && !have.destroyed) return have;
    const local = this.hooks.deliveryAddress;
    const session = http2.connect(`http://${key}`, {
      settings: { enablePush: false },
      createConnection: () => net.connect({ host: target.address, port: target.port, noDelay: true, ...(local ? { localAddress: local } : {}) }),
    });
    session.on('error', (err) => log.debug({ err: err.message, pod: key }, 'pod h2 session error'));
    const forget = (): void => {
      if (this.pods.get(key) === session) this.pods.delete(key);
    };
    session.on('close', forget);
    session.on('goaway', forget);
    this.pods.set(key, session);
    return session;
  }
}

/** The pod could not be reached or reset before answering: 503 (gRPC: UNAVAILABLE), as Envoy words it. */
function answerFailure(stream: http2.ServerHttp2Stream, grpc: boolean): void {
  if (stream.destroyed || stream.headersSent) return;
  const body = 'upstream connect error or disconnect/reset before headers';
  if (grpc) stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': body }, { endStream: true });
  else {
    stream.respond({ ':status': 503, 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    stream.end(body);
  }
}
