// HTTP/2 (h2c prior knowledge) sessions to upstream endpoints, pooled per endpoint key: a stream goes on
// a session with room under the peer's SETTINGS_MAX_CONCURRENT_STREAMS, else a new one; sessions that got
// GOAWAY or used their request quota drain; idle ones close; a connect past its timeout fails its streams
// with CONNECT_TIMEOUT_CODE (a connect failure to the caller).
import * as http2 from 'node:http2';
import type * as net from 'node:net';
import type { Addr } from '../../capture/types';
import { ALPN_H2, dial } from '../dial';
import type { UpstreamTls } from '../tls';
import { logger } from '../../log';
import { CONNECT_TIMEOUT_CODE } from '../failure';
import { isSocketPath } from '../relay';

const log = logger('h2pool');

export interface H2PoolOptions {
  readonly connectTimeoutMs: number;
  /** A session without streams for this long is closed; 0 = never. */
  readonly idleTimeoutMs: number;
  /** A cap on the streams a peer allows per session (default 1000). */
  readonly maxStreamsPerSession?: number;
  /** Sessions per endpoint key; past it, new streams go to the least loaded session (nghttp2 queues them). */
  readonly maxSessionsPerKey?: number;
}

export interface H2RequestOptions {
  readonly endStream: boolean;
  /** DestinationRule connectTimeout for a session this request opens; defaults to the pool's. */
  readonly connectTimeoutMs?: number;
  /** DestinationRule maxRequestsPerConnection: the session drains after this many streams. */
  readonly maxRequestsPerSession?: number;
  /**
   * Local address a session this request opens binds to (net.connect's localAddress). Sessions are
   * pooled by key alone: a caller that binds must use keys no unbound caller uses (pool.ts keyWith).
   */
  readonly localAddress?: string;
  /** Originate TLS (ALPN h2) on a session this request opens; such sessions need keys of their own. */
  readonly tls?: UpstreamTls;
}

/** A stream and what the caller needs to classify its failure. */
export interface H2Lease {
  readonly stream: http2.ClientHttp2Stream;
  readonly session: PooledSession;
  /** The session was connected before this stream (a failure is then not a connect failure). */
  readonly reused: boolean;
}

/**
 * Streams per session before the peer's limit is known: RFC 9113 recommends peers allow at least 100.
 * Once known, the peer's limit holds, up to DEFAULT_MAX_STREAMS: fewer, fuller sessions to a busy
 * endpoint batch more frames per socket write (with 100, 1600 streams to one nginx took 16 sessions).
 */
const UNSETTLED_STREAMS = 100;
const DEFAULT_MAX_STREAMS = 1000;
const DEFAULT_SESSIONS = 16;
/** Upstream flow-control windows: what the proxy may buffer per stream / per session from a fast server. */
const STREAM_WINDOW = 256 * 1024;
const SESSION_WINDOW = 4 * 1024 * 1024;
/** After a graceful close, how long the peer may take to close its side of the socket. */
const LINGER_MS = 1_000;

/** Request headers: an object, or node's flat [name, value, ...] form (no object built). */
export type H2Headers = http2.OutgoingHttpHeaders | readonly string[];

/** A stream's session, for the one 'close' listener every pooled stream shares (no closure each). */
const SESSION = Symbol('nodemesh.pooledSession');
type PooledStream = http2.ClientHttp2Stream & { [SESSION]: PooledSession };

/** node copies request options; these are never changed. */
const REQUEST_END: http2.ClientSessionRequestOptions = Object.freeze({ endStream: true });
const REQUEST_BODY: http2.ClientSessionRequestOptions = Object.freeze({ endStream: false });

function onStreamClose(this: PooledStream): void {
  this[SESSION].streamClosed();
}

class ConnectTimeout extends Error {
  readonly code = CONNECT_TIMEOUT_CODE;
}

export class PooledSession {
  connected = false;
  /** The peer's SETTINGS arrived (its stream limit is known). */
  settled = false;
  /** No new streams: GOAWAY received, request quota used, or closing. */
  draining = false;
  closed = false;
  active = 0;
  served = 0;
  maxRequests = 0;
  private local: string | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private connectTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pool: H2Pool,
    readonly key: string,
    readonly session: http2.ClientHttp2Session,
    /** The session's socket (session.socket is a proxy that refuses use once the session is gone). */
    private readonly socket: net.Socket,
    connectTimeoutMs: number,
  ) {
    session.on('error', (err) => log.debug({ err: err.message, key }, 'upstream h2 session error'));
    session.on('connect', () => {
      this.connected = true;
      this.clearConnect();
      try {
        session.setLocalWindowSize(SESSION_WINDOW);
      } catch {
        // The session went away meanwhile; its close handler cleans up.
      }
    });
    session.on('remoteSettings', (settings: http2.Settings) => {
      this.settled = true;
      if (settings.maxConcurrentStreams !== undefined) pool.learn(key, settings.maxConcurrentStreams);
    });
    session.on('goaway', () => this.drain());
    session.on('close', () => this.onClose());
    // Frame errors are reported per stream as well; a session-level one needs no extra handling.
    session.on('frameError', () => undefined);
    if (connectTimeoutMs > 0) {
      this.connectTimer = setTimeout(() => {
        if (!this.connected) session.destroy(new ConnectTimeout(`connect timeout after ${connectTimeoutMs} ms`));
      }, connectTimeoutMs);
      this.connectTimer.unref();
    }
  }

  /**
   * Streams this session may carry at once: the peer's limit once its SETTINGS came, before that the
   * limit the endpoint announced on an earlier session (a peer refuses streams past its limit).
   */
  capacity(): number {
    const cap = this.pool.maxStreams;
    const peer = this.settled ? this.session.remoteSettings?.maxConcurrentStreams : this.pool.known(this.key);
    return peer === undefined ? Math.min(cap, UNSETTLED_STREAMS) : Math.min(cap, peer);
  }

  usable(): boolean {
    return !this.draining && !this.closed && !this.session.destroyed && !this.session.closed;
  }

  open(headers: H2Headers, opts: H2RequestOptions): http2.ClientHttp2Stream {
    this.clearIdle();
    const stream = this.session.request(headers, opts.endStream ? REQUEST_END : REQUEST_BODY);
    this.active++;
    this.served++;
    if (this.maxRequests > 0 && this.served >= this.maxRequests) this.drain();
    (stream as PooledStream)[SESSION] = this;
    stream.on('close', onStreamClose);
    return stream;
  }

  /** "address:port" of the session's socket (for the access log), kept once known. */
  localAddress(): string | null {
    if (this.local === undefined) {
      const s = this.socket;
      if (s.localAddress === undefined) return null;
      this.local = `${s.localAddress}:${s.localPort}`;
    }
    return this.local;
  }

  /** @internal one of this session's streams closed. */
  streamClosed(): void {
    this.active--;
    if (this.active > 0 || this.closed) return;
    if (this.draining) return this.shutdown();
    const ms = this.pool.idleMs;
    if (ms > 0) {
      this.idleTimer = setTimeout(() => {
        if (this.active === 0) this.shutdown();
      }, ms);
      this.idleTimer.unref();
    }
  }

  /** Takes no new streams; closes once the last one ends. */
  drain(): void {
    if (this.draining) return;
    this.draining = true;
    this.pool.forget(this);
    if (this.active === 0) this.shutdown();
  }

  shutdown(): void {
    this.clearIdle();
    this.clearConnect();
    this.pool.forget(this);
    // node ends the socket and waits for the peer's FIN; a peer that never sends it must not keep it.
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
    if (!this.session.destroyed) {
      try {
        this.session.close();
      } catch {
        this.session.destroy();
      }
    }
  }

  destroy(): void {
    this.closed = true;
    this.clearIdle();
    this.clearConnect();
    this.session.destroy();
    this.socket.destroy();
  }

  private onClose(): void {
    this.closed = true;
    this.clearIdle();
    this.clearConnect();
    this.pool.forget(this);
  }

  private clearIdle(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private clearConnect(): void {
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
  }
}

export class H2Pool {
  readonly maxStreams: number;
  readonly idleMs: number;
  private readonly maxSessions: number;
  private readonly sessions = new Map<string, PooledSession[]>();
  private readonly all = new Set<PooledSession>();
  /** SETTINGS_MAX_CONCURRENT_STREAMS each endpoint last announced. */
  private readonly limits = new Map<string, number>();
  private closed = false;

  constructor(private readonly opts: H2PoolOptions) {
    this.maxStreams = opts.maxStreamsPerSession ?? DEFAULT_MAX_STREAMS;
    this.maxSessions = opts.maxSessionsPerKey ?? DEFAULT_SESSIONS;
    this.idleMs = opts.idleTimeoutMs;
  }

  /**
   * Opens a stream to the endpoint `key` (dialling `addr`: an endpoint, or a relay's Unix socket).
   * Never throws for network trouble: failures arrive as the stream's 'error'.
   */
  request(key: string, addr: Addr, headers: H2Headers, opts: H2RequestOptions): H2Lease {
    if (this.closed) throw new Error('h2 pool closed');
    const list = this.sessions.get(key);
    let best: PooledSession | undefined;
    let least: PooledSession | undefined;
    if (list !== undefined) {
      for (const s of list) {
        if (!s.usable()) continue;
        if (s.active < s.capacity() && (best === undefined || s.active > best.active)) best = s;
        if (least === undefined || s.active < least.active) least = s;
      }
    }
    // Fill the busiest session that still has room (fewer sessions stay warm); open one when none has.
    let s = best;
    if (s === undefined) s = (list?.length ?? 0) >= this.maxSessions && least !== undefined ? least : this.connect(key, addr, opts.connectTimeoutMs ?? this.opts.connectTimeoutMs, opts.localAddress, opts.tls);
    if (opts.maxRequestsPerSession !== undefined && opts.maxRequestsPerSession > 0) s.maxRequests = opts.maxRequestsPerSession;
    const reused = s.connected;
    return { stream: s.open(headers, opts), session: s, reused };
  }

  private connect(key: string, addr: Addr, connectTimeoutMs: number, localAddress: string | undefined, tls: UpstreamTls | undefined): PooledSession {
    const sock = dial(addr, { ...(localAddress !== undefined ? { localAddress } : {}), ...(tls !== undefined ? { tls, alpn: ALPN_H2 } : {}) }).socket;
    sock.on('error', () => undefined);
    // node's http2 waits for 'secureConnect' itself on a TLS socket.
    const scheme = tls !== undefined ? 'https' : 'http';
    const session = http2.connect(isSocketPath(addr) ? `${scheme}://localhost` : `${scheme}://${addr.address}:${addr.port}`, {
      settings: { enablePush: false, initialWindowSize: STREAM_WINDOW },
      createConnection: () => sock,
    });
    const s = new PooledSession(this, key, session, sock, connectTimeoutMs);
    let list = this.sessions.get(key);
    if (list === undefined) this.sessions.set(key, (list = []));
    list.push(s);
    this.all.add(s);
    return s;
  }

  /** @internal the peer behind KEY announced its stream limit. */
  learn(key: string, maxStreams: number): void {
    // Endpoints come and go with reloads; the memory is a hint, so a bound just starts it over.
    if (this.limits.size >= 10_000 && !this.limits.has(key)) this.limits.clear();
    this.limits.set(key, maxStreams);
  }

  /** @internal the stream limit KEY announced last, if any. */
  known(key: string): number | undefined {
    return this.limits.get(key);
  }

  /** @internal a session takes no more streams. */
  forget(s: PooledSession): void {
    const list = this.sessions.get(s.key);
    if (list !== undefined) {
      const i = list.indexOf(s);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.sessions.delete(s.key);
    }
    if (s.closed) this.all.delete(s);
  }

  /** Sessions open (connecting, serving or draining). */
  size(): number {
    let n = 0;
    for (const s of this.all) if (!s.closed && !s.session.destroyed) n++;
    return n;
  }

  close(): void {
    this.closed = true;
    for (const s of this.all) s.destroy();
    this.all.clear();
    this.sessions.clear();
    this.limits.clear();
  }
}
