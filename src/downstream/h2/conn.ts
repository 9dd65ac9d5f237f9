// HTTP/2 from captured clients (h2c, prior knowledge): the socket, preface put back by detection, goes
// to an http2 server that never listens; each stream becomes an L7Request + L7Sink for the engine. Abuse
// closes that connection only (nghttp2's limits plus SessionGuard); new streams are dispatched after
// the read that carried them, so a stream reset in the same read (rapid reset) costs no upstream work.
import * as http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import { Counter, type Registry } from 'prom-client';
import { CATALOG } from '../../errors';
import type { ConnContext } from '../../conn/context';
import type { Timeouts } from '../../conn/timeouts';
import { logger } from '../../log';
import { formatAddr } from '../../telemetry/accesslog';
import type { Metrics } from '../../telemetry/metrics';
import { sourceOf } from '../../proxy/source';
import type { L7Handler } from '../../proxy/types';
import { DEFAULT_GUARD, SessionGuard, type Abuse, type GuardLimits } from './guard';
import { H2Request, H2Sink, type StreamCloseHook } from './stream';

const log = logger('http2');
const { NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_NO_ERROR } = http2.constants;

/** Envoy's defaults: 100 concurrent streams, 64 KiB stream window, 1 MiB connection window, ~60 KiB of headers. */
export const H2_SETTINGS = Object.freeze({
  maxConcurrentStreams: 100,
  initialWindowSize: 65_535,
  sessionWindow: 1 << 20,
  maxHeaderListSize: 64 * 1024,
});

/** After our side closed, how long the client may take to close the socket before it is destroyed. */
const LINGER_MS = 1_000;
/** How long an abusive connection may take to read our GOAWAY before the socket is destroyed. */
const ABUSE_LINGER_MS = 100;

export interface H2DownstreamDeps {
  readonly metrics: Metrics;
  readonly timeouts: Timeouts;
  readonly guard?: Partial<GuardLimits>;
  /** Clock (ms) for the abuse windows; performance.now by default. */
  readonly now?: () => number;
}

type AbuseReason = Abuse | 'protocol_error';

interface Pending {
  readonly stream: http2.ServerHttp2Stream;
  readonly headers: http2.IncomingHttpHeaders;
  readonly raw: string[] | undefined;
  readonly sink: H2Sink;
}

/** One client connection: its streams in flight and its abuse accounting. */
class SessionState implements StreamCloseHook {
  active = 0;
  pending: Pending[] = [];
  flushing = false;
  abused = false;

  constructor(
    readonly session: http2.ServerHttp2Session,
    readonly ctx: ConnContext,
    readonly socket: Duplex,
    readonly guard: SessionGuard,
    /** A client reset a stream opened at OPENEDAT. */
    private readonly onReset: (st: SessionState, openedAt: number) => void,
  ) {}

  streamClosed(sink: H2Sink): void {
    this.active--;
    // Not completed and not reset by us: the client reset it (or the session died under it).
    if (!sink.completed && !sink.resetByProxy && !this.session.destroyed && !this.abused) this.onReset(this, sink.openedAt);
  }
}

export class H2Downstream {
  private readonly server: http2.Http2Server;
  private readonly sessions = new Map<http2.ServerHttp2Session, SessionState>();
  /** The connection being handed to the server: it creates the session synchronously from 'connection'. */
  private handing: { socket: Duplex; ctx: ConnContext } | undefined;
  private readonly limits: GuardLimits;
  private readonly now: () => number;
  private readonly closedCounter: Counter<'reason'>;
  private lastWarn = -Infinity;
  private suppressed = 0;

  constructor(
    private readonly handler: L7Handler,
    private readonly deps: H2DownstreamDeps,
  ) {
    this.limits = { ...DEFAULT_GUARD, ...deps.guard };
    this.now = deps.now ?? (() => performance.now());
    this.closedCounter = abuseCounter(deps.metrics.registry);
    // maxOutstandingSettings and the nghttp2 reset limiter (streamResetBurst/Rate) are node options
    // @types/node does not list yet.
    const options: http2.ServerOptions & Record<string, unknown> = {
      maxSessionInvalidFrames: 100,
      maxSessionRejectedStreams: 100,
      maxOutstandingPings: 10,
      maxOutstandingSettings: 10,
      // nghttp2 counts every RST_STREAM (a client cancelling many calls too): only a backstop far above
      // SessionGuard, which counts premature resets.
      streamResetBurst: 10 * this.limits.maxResets,
      streamResetRate: this.limits.maxResets,
      maxSettings: 32,
      maxHeaderListPairs: 128,
      peerMaxConcurrentStreams: 100,
      settings: {
        enablePush: false,
        maxConcurrentStreams: H2_SETTINGS.maxConcurrentStreams,
        initialWindowSize: H2_SETTINGS.initialWindowSize,
        maxHeaderListSize: H2_SETTINGS.maxHeaderListSize,
      },
    };
    this.server = http2.createServer(options);
    this.server.on('session', (s: http2.ServerHttp2Session) => this.guarded(() => this.onSession(s)));
    // Never listens; a failure of an emitted connection lands here instead of becoming uncaught.
    this.server.on('error', (err) => log.debug({ err: err.message }, 'http2 server error'));
    this.server.on('sessionError', () => undefined);
  }

  /**
   * Takes over a connection detected as HTTP/2 (paused, with its preface unshifted): a captured socket,
   * or on the destination side a tunnel stream seen as a Duplex (node's http2 wraps any Duplex).
   */
  serve(socket: Duplex, ctx: ConnContext): void {
    if (socket.destroyed) return;
    this.handing = { socket, ctx };
    try {
      this.server.emit('connection', socket);
    } finally {
      this.handing = undefined;
    }
  }

  /** Graceful: GOAWAY to every client; each connection closes once its streams finish. */
  drain(): void {
    for (const s of this.sessions.keys()) this.closeSession(s);
  }

  /** Drops every session now (the listener destroys the sockets as well). */
  close(): void {
    for (const [s, st] of this.sessions) {
      s.destroy();
      st.socket.destroy();
    }
    this.sessions.clear();
  }

  /** Open HTTP/2 client connections. */
  size(): number {
    return this.sessions.size;
  }

  private onSession(session: http2.ServerHttp2Session): void {
    // session.socket is a proxy object; the socket itself comes from serve().
    const handing = this.handing;
    if (handing === undefined) {
      // Not ours (cannot happen: the server never listens). Destroying a session inside 'session'
      // breaks node's setup of its buffered bytes, so it waits a turn.
      setImmediate(() => session.destroy());
      return;
    }
    const { socket, ctx } = handing;
    const st = new SessionState(session, ctx, socket, new SessionGuard(this.limits), this.onReset);
    this.sessions.set(session, st);
    session.on('error', (err: Error & { code?: string }) => {
      log.debug({ err: err.message, code: err.code, peer: formatAddr(ctx.peer) }, 'http2 session error');
      // nghttp2 detected a flood or a protocol violation (socket errors are just a client gone).
      if (err.code?.startsWith('ERR_HTTP2') === true) this.abuse(session, st, 'protocol_error', err.message);
    });
    session.on('frameError', () => undefined);
    session.on('ping', () => this.guarded(() => this.check(session, st, st.guard.ping(this.now()))));
    session.on('remoteSettings', () => this.guarded(() => this.check(session, st, st.guard.settings(this.now()))));
    session.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, raw?: string[]) => {
      try {
        this.onStream(st, stream, headers, raw);
      } catch (err) {
        log.error({ err }, 'http2 handling failed');
      }
    });
    session.on('close', () => {
      this.sessions.delete(session);
      if (!socket.destroyed) setTimeout(() => socket.destroy(), LINGER_MS).unref();
    });
    const idle = this.deps.timeouts.downstreamIdleMs;
    if (idle > 0) {
      session.setTimeout(idle, () => {
        if (st.active === 0) this.closeSession(session);
      });
    }
    try {
      session.setLocalWindowSize(H2_SETTINGS.sessionWindow);
    } catch {
      // The session is already going away.
    }
  }

  private onStream(st: SessionState, stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, raw: string[] | undefined): void {
    st.guard.streamOpened();
    st.active++;
    // The sink listens for the stream's close and then tells st (SessionState.streamClosed).
    const sink = new H2Sink(stream, st, this.now());
    st.pending.push({ stream, headers, raw, sink });
    if (!st.flushing) {
      st.flushing = true;
      setImmediate(() => this.flush(st));
    }
  }

  /** Dispatches the streams of the last read that are still open. */
  private flush(st: SessionState): void {
    st.flushing = false;
    const batch = st.pending;
    st.pending = [];
    if (st.abused) return;
    for (const { stream, headers, raw, sink } of batch) {
      if (stream.destroyed || stream.closed) continue;
      try {
        this.dispatch(st, stream, headers, raw, sink);
      } catch (err) {
        log.error({ err }, 'http2 handling failed');
        try {
          sink.reset();
        } catch {
          // Nothing more to undo.
        }
      }
    }
  }

  /** A client reset a stream before its response completed (SessionGuard judges the rate). */
  private readonly onReset = (st: SessionState, openedAt: number): void => {
    this.guarded(() => this.check(st.session, st, st.guard.streamReset(this.now(), openedAt)));
  };

  private dispatch(st: SessionState, stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, raw: string[] | undefined, sink: H2Sink): void {
    const { ctx } = st;
    if (headers[':method'] === 'CONNECT') {
      // CONNECT (tunnels, extended CONNECT) is not proxied at L7, as on the HTTP/1 path.
      sink.respond(400, [['content-type', 'text/plain']], false);
      sink.write(Buffer.from(CATALOG.BAD_REQUEST.message));
      sink.end();
      ctx.requestStats(this.deps.metrics, false, ctx.service, undefined).record(400, 'DPE', 0, 0, 0);
      return;
    }
    const req = new H2Request(stream, headers, raw, ctx, sourceOf(ctx.source));
    this.handler.handle(req, sink, ctx);
  }

  private check(session: http2.ServerHttp2Session, st: SessionState, verdict: Abuse | undefined): void {
    if (verdict !== undefined) this.abuse(session, st, verdict);
  }

  /** Closes an abusive connection at once: GOAWAY(ENHANCE_YOUR_CALM), then the socket. */
  private abuse(session: http2.ServerHttp2Session, st: SessionState, reason: AbuseReason, detail?: string): void {
    if (st.abused) return;
    st.abused = true;
    st.pending = [];
    this.closedCounter.inc({ reason });
    this.warn(reason, st.ctx, detail);
    // GOAWAY(ENHANCE_YOUR_CALM) goes out with the session's end; a client that does not read (a flood
    // ignoring our answers) cannot hold the socket open beyond a moment.
    // destroy(err) emits 'error' once more; `abused` makes that a no-op.
    if (!session.destroyed) session.destroy(new Error(`http2 abuse: ${reason}`), NGHTTP2_ENHANCE_YOUR_CALM);
    setTimeout(() => st.socket.destroy(), ABUSE_LINGER_MS).unref();
  }

  private closeSession(session: http2.ServerHttp2Session): void {
    if (session.closed || session.destroyed) return;
    try {
      session.goaway(NGHTTP2_NO_ERROR);
      session.close();
    } catch {
      session.destroy();
    }
  }

  private warn(reason: AbuseReason, ctx: ConnContext, detail: string | undefined): void {
    const now = Date.now();
    if (now - this.lastWarn < 10_000) {
      this.suppressed++;
      return;
    }
    this.lastWarn = now;
    log.warn({ code: CATALOG.H2_PROTOCOL.code, reason, detail, peer: formatAddr(ctx.peer), suppressed: this.suppressed }, CATALOG.H2_PROTOCOL.message);
    this.suppressed = 0;
  }

  /** Runs FN; a throw costs the stream or session it concerns (ON_ERROR), never the process. */
  private guarded(fn: () => void, onError?: () => void): void {
    try {
      fn();
    } catch (err) {
      log.error({ err }, 'http2 handling failed');
      try {
        onError?.();
      } catch {
        // Nothing more to undo.
      }
    }
  }
}

/** nodemesh_h2_sessions_closed_total, shared by every H2Downstream on a registry. */
function abuseCounter(registry: Registry): Counter<'reason'> {
  const name = 'nodemesh_h2_sessions_closed_total';
  const existing = registry.getSingleMetric(name);
  if (existing !== undefined) return existing as Counter<'reason'>;
  return new Counter({
    name,
    help: 'Client HTTP/2 connections closed for abuse (rapid_reset, ping_flood, settings_flood, protocol_error)',
    labelNames: ['reason'],
    registers: [registry],
  });
}
