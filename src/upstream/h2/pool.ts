// HTTP/2 (h2c prior knowledge, or TLS with ALPN h2) connections to upstream endpoints on the codec
// (conn/h2socket.ts), pooled per endpoint key: a stream goes on a connection with room under the peer's
// SETTINGS_MAX_CONCURRENT_STREAMS, else a new one; connections that got GOAWAY or used their request
// quota drain; idle ones close; a connect past its timeout fails its streams with CONNECT_TIMEOUT_CODE
// (a connect failure to the caller). Streams a GOAWAY left unprocessed come back as 'refused' (attempt.ts
// sends them again on another connection).
import type { Addr } from '../../capture/types';
import { H2Socket, type H2Stream, type H2StreamListener } from '../../conn/h2socket';
import { logger } from '../../log';
import { ALPN_H2, dial } from '../dial';
import { CONNECT_TIMEOUT_CODE } from '../failure';
import type { UpstreamTls } from '../tls';

const log = logger('h2pool');

export interface H2PoolOptions {
  readonly connectTimeoutMs: number;
  /** A connection without streams for this long is closed; 0 = never. */
  readonly idleTimeoutMs: number;
  /** A cap on the streams a peer allows per connection (default 1000). */
  readonly maxStreamsPerSession?: number;
  /** Connections per endpoint key; past it, new streams wait for room on the least loaded one. */
  readonly maxSessionsPerKey?: number;
  /** SETTINGS_TIMEOUT from the connect (default SETTINGS_TIMEOUT_MS); 0 = none. */
  readonly settingsTimeoutMs?: number;
}

export interface H2RequestOptions {
  readonly endStream: boolean;
  /** DestinationRule connectTimeout for a connection this request opens; defaults to the pool's. */
  readonly connectTimeoutMs?: number;
  /** DestinationRule maxRequestsPerConnection: the connection drains after this many streams. */
  readonly maxRequestsPerSession?: number;
  /**
   * Local address a connection this request opens binds to (net.connect's localAddress). Connections are
   * pooled by key alone: a caller that binds must use keys no unbound caller uses (pool.ts keyWith).
   */
  readonly localAddress?: string;
  /** Originate TLS (ALPN h2) on a connection this request opens; such connections need keys of their own. */
  readonly tls?: UpstreamTls;
}

/** A stream and what the caller needs to classify its failure. */
export interface H2Lease {
  readonly stream: H2Stream;
  readonly session: PooledSession;
  /** The connection was up before this stream (a failure is then not a connect failure). */
  readonly reused: boolean;
}

/**
 * Streams per connection before the peer's limit is known: RFC 9113 recommends peers allow at least 100.
 * Once known, the peer's limit holds, up to DEFAULT_MAX_STREAMS: fewer, fuller connections to a busy
 * endpoint batch more frames per socket write.
 */
const UNSETTLED_STREAMS = 100;
const DEFAULT_MAX_STREAMS = 1000;
const DEFAULT_SESSIONS = 16;
/** Upstream flow-control windows: what the proxy may buffer per stream / per connection from a fast server. */
const STREAM_WINDOW = 256 * 1024;
const SESSION_WINDOW = 4 * 1024 * 1024;
/**
 * SETTINGS_TIMEOUT (RFC 9113 §6.5.3), counted from the connect: a peer that has not acknowledged the
 * proxy's SETTINGS by then is not an HTTP/2 server that works, and its streams fail (GOAWAY
 * SETTINGS_TIMEOUT) instead of waiting for the request timeout.
 */
export const SETTINGS_TIMEOUT_MS = 10_000;

export class ConnectTimeout extends Error {
  readonly code = CONNECT_TIMEOUT_CODE;
}

export class PooledSession {
  connected = false;
  /** The peer's SETTINGS arrived (its stream limit is known). */
  settled = false;
  /** No new streams: GOAWAY received, request quota used, or closing. */
  draining = false;
  closed = false;
  /** Streams leased and not yet released. */
  active = 0;
  served = 0;
  maxRequests = 0;
  /** Id of the last stream opened here. */
  private lastOpened = 0;
  /** Why the socket failed, if it did (a connect failure's code). */
  failure: Error | undefined;
  readonly sock: H2Socket;
  private local: string | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private connectTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pool: H2Pool,
    readonly key: string,
    addr: Addr,
    connectTimeoutMs: number,
    localAddress: string | undefined,
    tls: UpstreamTls | undefined,
  ) {
    const d = dial(addr, { ...(localAddress !== undefined ? { localAddress } : {}), ...(tls !== undefined ? { tls, alpn: ALPN_H2 } : {}) });
    const socket = d.socket;
    socket.on('error', (err) => {
      this.failure ??= err;
      log.debug({ err: err.message, key }, 'upstream h2 connection error');
    });
    socket.once(d.ready, () => {
      this.connected = true;
      this.clearConnect();
      this.sock.expectSettingsAck(pool.settingsTimeoutMs);
    });
    this.sock = new H2Socket(
      socket,
      { role: 'client', settings: { initialWindowSize: STREAM_WINDOW }, connectionWindow: SESSION_WINDOW },
      {
        settings: () => {
          this.settled = true;
          const max = this.sock.conn.peer.maxConcurrentStreams;
          if (Number.isFinite(max)) pool.learn(key, max);
        },
        goaway: (lastStream, code) => {
          // A graceful GOAWAY that left streams unprocessed: the server ends connections after a number
          // of requests (nginx's keepalive_requests). Later connections take no more than it served.
          if (code === 0 && lastStream < this.lastOpened) pool.learnBudget(key, (lastStream + 1) / 2);
          this.drain();
        },
        close: () => this.onClose(),
      },
    );
    if (connectTimeoutMs > 0) {
      this.connectTimer = setTimeout(() => {
        if (!this.connected) socket.destroy(new ConnectTimeout(`connect timeout after ${connectTimeoutMs} ms`));
      }, connectTimeoutMs);
      this.connectTimer.unref();
    }
  }

  /**
   * Streams this connection may carry at once: the peer's limit once its SETTINGS came, before that the
   * limit the endpoint announced on an earlier connection (a peer refuses streams past its limit).
   */
  capacity(): number {
    const cap = this.pool.maxStreams;
    const peer = this.settled ? this.sock.conn.peer.maxConcurrentStreams : this.pool.known(this.key);
    return peer === undefined ? Math.min(cap, UNSETTLED_STREAMS) : Math.min(cap, peer);
  }

  usable(): boolean {
    return !this.draining && !this.closed && !this.sock.draining;
  }

  /** A stream with this request, or undefined when the connection cannot take one now. */
  open(headers: readonly string[], method: string, endStream: boolean, listener: H2StreamListener): H2Stream | undefined {
    const stream = this.sock.request(headers, endStream, method, listener);
    if (stream === undefined) return undefined;
    this.clearIdle();
    this.lastOpened = stream.id;
    this.active++;
    this.served++;
    if (this.maxRequests > 0 && this.served >= this.maxRequests) this.drain();
    return stream;
  }

  /** "address:port" of the connection's socket (for the access log), kept once known. */
  localAddress(): string | null {
    if (this.local === undefined) {
      const s = this.sock.socket as { localAddress?: string; localPort?: number };
      if (s.localAddress === undefined) return null;
      this.local = `${s.localAddress}:${s.localPort}`;
    }
    return this.local;
  }

  /** One of this connection's streams is over. */
  release(): void {
    this.active--;
    if (this.active > 0 || this.closed) return;
    if (this.draining) return this.shutdown();
    const ms = this.pool.idleMs;
    if (ms > 0) {
      this.clearIdle();
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
    this.draining = true;
    this.pool.forget(this);
    this.sock.close();
  }

  destroy(): void {
    this.closed = true;
    this.clearIdle();
    this.clearConnect();
    this.sock.destroy();
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
  readonly settingsTimeoutMs: number;
  private readonly maxSessions: number;
  private readonly sessions = new Map<string, PooledSession[]>();
  private readonly all = new Set<PooledSession>();
  /** SETTINGS_MAX_CONCURRENT_STREAMS each endpoint last announced. */
  private readonly limits = new Map<string, number>();
  /** Requests per connection each endpoint's server allowed before a GOAWAY that refused streams. */
  private readonly budgets = new Map<string, number>();
  private closed = false;

  constructor(private readonly opts: H2PoolOptions) {
    this.maxStreams = opts.maxStreamsPerSession ?? DEFAULT_MAX_STREAMS;
    this.maxSessions = opts.maxSessionsPerKey ?? DEFAULT_SESSIONS;
    this.idleMs = opts.idleTimeoutMs;
    this.settingsTimeoutMs = opts.settingsTimeoutMs ?? SETTINGS_TIMEOUT_MS;
  }

  /**
   * Opens a stream to the endpoint `key` (dialling `addr`: an endpoint, or a mesh tunnel route) with the
   * flat request head HEADERS. Never throws for network trouble: failures reach LISTENER.abort.
   */
  request(key: string, addr: Addr, headers: readonly string[], method: string, opts: H2RequestOptions, listener: H2StreamListener): H2Lease {
    if (this.closed) throw new Error('h2 pool closed');
    for (let tries = 0; ; tries++) {
      const s = this.pick(key, addr, opts, tries > 0);
      if (opts.maxRequestsPerSession !== undefined && opts.maxRequestsPerSession > 0 && (s.maxRequests === 0 || opts.maxRequestsPerSession < s.maxRequests)) {
        s.maxRequests = opts.maxRequestsPerSession;
      }
      const reused = s.connected;
      const stream = s.open(headers, method, opts.endStream, listener);
      if (stream !== undefined) return { stream, session: s, reused };
      // The connection could not take it (its limit, or a GOAWAY just in): another one will.
      if (tries >= 2) {
        s.drain();
        const fresh = this.connect(key, addr, opts);
        const again = fresh.open(headers, method, opts.endStream, listener);
        if (again === undefined) throw new Error('h2 pool: a new connection refused a stream');
        return { stream: again, session: fresh, reused: false };
      }
    }
  }

  private pick(key: string, addr: Addr, opts: H2RequestOptions, fresh: boolean): PooledSession {
    const list = this.sessions.get(key);
    let best: PooledSession | undefined;
    let least: PooledSession | undefined;
    if (list !== undefined && !fresh) {
      for (const s of list) {
        if (!s.usable()) continue;
        const n = s.sock.conn.activeStreams;
        if (n < s.capacity() && (best === undefined || n > best.sock.conn.activeStreams)) best = s;
        if (least === undefined || n < least.sock.conn.activeStreams) least = s;
      }
    }
    // Fill the busiest connection that still has room (fewer connections stay warm); open one when none has.
    if (best !== undefined) return best;
    if (!fresh && (list?.length ?? 0) >= this.maxSessions && least !== undefined) return least;
    return this.connect(key, addr, opts);
  }

  private connect(key: string, addr: Addr, opts: H2RequestOptions): PooledSession {
    const s = new PooledSession(this, key, addr, opts.connectTimeoutMs ?? this.opts.connectTimeoutMs, opts.localAddress, opts.tls);
    s.maxRequests = this.budgets.get(key) ?? 0;
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

  /** @internal KEY's server ended a connection after BUDGET requests (nginx's keepalive_requests). */
  learnBudget(key: string, budget: number): void {
    if (budget < 1) return;
    if (this.budgets.size >= 10_000 && !this.budgets.has(key)) this.budgets.clear();
    this.budgets.set(key, budget);
  }

  /** @internal the stream limit KEY announced last, if any. */
  known(key: string): number | undefined {
    return this.limits.get(key);
  }

  /** @internal a connection takes no more streams. */
  forget(s: PooledSession): void {
    const list = this.sessions.get(s.key);
    if (list !== undefined) {
      const i = list.indexOf(s);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.sessions.delete(s.key);
    }
    if (s.closed) this.all.delete(s);
  }

  /** Connections open (connecting, serving or draining). */
  size(): number {
    let n = 0;
    for (const s of this.all) if (!s.closed && !s.sock.destroyed) n++;
    return n;
  }

  close(): void {
    this.closed = true;
    for (const s of this.all) s.destroy();
    this.all.clear();
    this.sessions.clear();
    this.limits.clear();
    this.budgets.clear();
  }
}
