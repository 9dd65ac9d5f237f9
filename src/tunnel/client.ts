// HBONE tunnel client (the outbound side): a pool of mutual-TLS HTTP/2 sessions to peer agents, one
// CONNECT stream per proxied connection. Sessions are keyed, as in ztunnel, by (source identity,
// accepted destination identities, peer agent address): a session authenticates one workload to
// another, so it is never shared between identities. Each session carries up to
// maxStreamsPerSession streams; more concurrent connections open another session.
import * as http2 from 'node:http2';
import * as tls from 'node:tls';
import type { Addr } from '../capture/types';
import { MeshError, isMeshError } from '../errors';
import { logger } from '../log';
import type { TunnelPoolMetrics } from './metrics';
import type { KeyCert } from './tls';
import { encodeSni, formatAuthority, formatForwarded, inTrustDomain, spiffeIdFromSan } from './wire';

const log = logger('tunnel-client');

/** Connection-level flow-control window (Envoy's default); the 64 KiB HTTP/2 default would make a
 *  hundred streams share the bandwidth-delay product of one slow stream. */
const CONNECTION_WINDOW = 1 << 20;

export interface TunnelPoolOptions {
  /** Key and chain for a local workload; called for every new session, so rotations apply. */
  certFor(sourceIdentity: string): KeyCert | undefined;
  rootPem(): string;
  /** A server must present an id of this trust domain (besides being one of the accepted ids). */
  readonly trustDomain: string;
  /** Deadline for open(): TCP + TLS + the peer's CONNECT answer. Default 10 s. */
  readonly connectTimeoutMs?: number;
  /** A session without streams for this long is closed. Default 5 min (ztunnel's pool). */
  readonly idleMs?: number;
  /** Default 100 (and never more than the server's SETTINGS_MAX_CONCURRENT_STREAMS). */
  readonly maxStreamsPerSession?: number;
  readonly metrics?: TunnelPoolMetrics;
}

export interface OpenParams {
  readonly sourceIdentity: string;
  /** Server SPIFFE ids accepted for this endpoint; the first is asked for in SNI. */
  readonly destinationIdentities: readonly string[];
  /** The peer agent's tunnel address (node IP, port 15008). */
  readonly node: Addr;
  /** The destination pod `ip:port`, sent as `:authority`. */
  readonly target: Addr;
  /** The original client, sent as `forwarded: for="ip:port"`. */
  readonly forwardedFor: Addr;
  /** Extra request headers passed through, e.g. `baggage`, `traceparent`. */
  readonly headers?: Readonly<Record<string, string>>;
}

interface PooledSession {
  readonly key: string;
  readonly ready: Promise<http2.ClientHttp2Session>;
  readonly h2: http2.ClientHttp2Session;
  /** Streams open or being opened on this session. */
  active: number;
  /** No new streams (rotation, GOAWAY, idle close); closes once its streams end. */
  draining: boolean;
  /** The TLS and HTTP/2 handshakes completed. */
  connected: boolean;
  idle: NodeJS.Timeout | undefined;
}

/** Tickets kept (one per source identity, destination identities and peer agent). */
const MAX_TICKETS = 10_000;

/** Options node's HTTP/2 client session accepts beyond the TLS socket we hand it. */
const SESSION_SETTINGS: http2.Settings = { enablePush: false };

export class TunnelPool {
  private readonly sessions = new Map<string, PooledSession[]>();
  /** The last TLS session ticket per session key (so per source identity): a new session to the
   *  same peer resumes (TLS 1.3 PSK), skipping the certificate exchange and its signatures. */
  private readonly tickets = new Map<string, Buffer>();
  private readonly all = new Set<PooledSession>();
  private readonly connectTimeoutMs: number;
  private readonly idleMs: number;
  private readonly maxStreams: number;
  private closed = false;

  constructor(private readonly opts: TunnelPoolOptions) {
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.idleMs = opts.idleMs ?? 5 * 60_000;
    this.maxStreams = opts.maxStreamsPerSession ?? 100;
  }

  /**
   * Opens a CONNECT stream to `target` through the peer agent at `node`. Resolves once the peer
   * answered 200, with the stream as a Duplex: end() half-closes (END_STREAM), 'end' is the peer's
   * half-close, and destroy()/close(code) resets it (RST_STREAM), which the peer maps to a TCP reset.
   * Rejects with a MeshError: TUNNEL_NO_CERT, TUNNEL_TLS, TUNNEL_CONNECT, TUNNEL_TIMEOUT or
   * TUNNEL_REFUSED (details.status holds a non-200 answer).
   */
  async open(p: OpenParams): Promise<http2.ClientHttp2Stream> {
    if (this.closed) throw new MeshError('TUNNEL_CONNECT', 'the tunnel pool is closed');
    if (p.destinationIdentities.length === 0) throw new MeshError('TUNNEL_TLS', 'no destination identity to verify the peer agent against');
    const deadline = Date.now() + this.connectTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      let session: PooledSession | undefined;
      let reused = false;
      try {
        session = this.acquire(p);
        reused = session.connected;
        const h2 = await withDeadline(session.ready, deadline, `session to ${formatAuthority(p.node)}`);
        return await this.request(session, h2, p, deadline);
      } catch (e) {
        const err = isMeshError(e) ? e : new MeshError('TUNNEL_CONNECT', (e as Error).message, {}, { cause: e });
        const lost = session !== undefined && (session.h2.destroyed || session.h2.closed);
        if (session !== undefined && lost) this.drain(session);
        // A pooled session can die (peer restart, idle close) just as it is picked: the stream then
        // never reached the peer's agent logic, so one retry on a new session is safe.
        if (lost && reused && attempt === 0 && Date.now() < deadline) continue;
        this.opts.metrics?.openFailed?.(err.code);
        throw err;
      } finally {
        if (session !== undefined) this.release(session);
      }
    }
  }

  /** Stops new streams on every current session (they close once their streams end); the next
   *  open() makes a new session with the certificate certFor returns then. */
  rotate(): void {
    for (const s of this.all) this.drain(s);
    this.sessions.clear();
    // A resumed session would carry on with the old certificate's authentication.
    this.tickets.clear();
  }

  /** Destroys every session and its streams. */
  async close(): Promise<void> {
    this.closed = true;
    const waits: Array<Promise<void>> = [];
    for (const s of this.all) {
      if (s.idle !== undefined) clearTimeout(s.idle);
      const h2 = s.h2;
      if (!h2.destroyed) {
        waits.push(new Promise((resolve) => h2.once('close', () => resolve())));
        h2.destroy();
      }
    }
    this.sessions.clear();
    await Promise.all(waits);
  }

  /** Sessions per key, for tests and the admin endpoint. */
  stats(): Array<{ key: string; active: number; draining: boolean }> {
    return [...this.all].map((s) => ({ key: s.key, active: s.active, draining: s.draining }));
  }

  private keyOf(p: OpenParams): string {
    return `${p.sourceIdentity}|${[...p.destinationIdentities].sort().join(',')}|${formatAuthority(p.node)}`;
  }

  /** A session with a free stream slot for `p` (counted as taken), creating one if needed. */
  private acquire(p: OpenParams): PooledSession {
    const key = this.keyOf(p);
    const list = this.sessions.get(key) ?? [];
    for (const s of list) {
      // Before the server's SETTINGS arrive, remoteSettings holds the protocol default (unlimited).
      const limit = Math.min(this.maxStreams, s.h2.remoteSettings.maxConcurrentStreams ?? this.maxStreams);
      if (!s.draining && s.active < limit && !s.h2.closed && !s.h2.destroyed) {
        this.take(s);
        return s;
      }
    }
    const s = this.connect(key, p);
    list.push(s);
    this.sessions.set(key, list);
    this.take(s);
    return s;
  }

  private take(s: PooledSession): void {
    s.active++;
    if (s.idle !== undefined) clearTimeout(s.idle);
    s.idle = undefined;
  }

  /** Gives back a slot (open()'s reservation, or a stream that closed). */
  private release(s: PooledSession): void {
    s.active--;
    if (s.active > 0 || s.h2.closed || s.h2.destroyed) return;
    if (s.draining) {
      s.h2.close();
      return;
    }
    s.idle = setTimeout(() => this.drain(s), this.idleMs);
    s.idle.unref();
  }

  private drain(s: PooledSession): void {
    s.draining = true;
    this.unlist(s);
    if (s.active === 0 && !s.h2.closed) s.h2.close();
  }

  private unlist(s: PooledSession): void {
    const list = this.sessions.get(s.key);
    if (list === undefined) return;
    const i = list.indexOf(s);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.sessions.delete(s.key);
  }

  private connect(key: string, p: OpenParams): PooledSession {
    const kc = this.opts.certFor(p.sourceIdentity);
    if (kc === undefined) throw new MeshError('TUNNEL_NO_CERT', p.sourceIdentity, { sourceIdentity: p.sourceIdentity });
    const expected = new Set(p.destinationIdentities);
    const node = formatAuthority(p.node);
    let identityError: MeshError | undefined;
    // How far the connection got, to tell a refused TCP connect from a TLS handshake cut short.
    const phase = { tcp: false, tls: false };
    const ticket = this.tickets.get(key);
    const h2 = http2.connect(`https://${node}`, {
      settings: SESSION_SETTINGS,
      peerMaxConcurrentStreams: this.maxStreams,
      createConnection: () => {
        const socket = tls.connect({
          host: p.node.address,
          port: p.node.port,
          // No SNI when the identity cannot be encoded; the server then presents its default.
          servername: encodeSni(p.destinationIdentities[0] as string) ?? '',
          key: kc.key,
          cert: kc.cert,
          ca: this.opts.rootPem(),
          minVersion: 'TLSv1.3',
          ALPNProtocols: ['h2'],
          ...(ticket !== undefined ? { session: ticket } : {}),
          // The server is authenticated by its SPIFFE id, not by a host name.
          checkServerIdentity: (_host, cert) => {
            const id = spiffeIdFromSan(cert.subjectaltname);
            // The trust domain check backs up the list: a peer of another domain is never accepted.
            if (id !== undefined && expected.has(id) && inTrustDomain(id, this.opts.trustDomain)) return undefined;
            identityError = new MeshError('TUNNEL_TLS', `peer agent ${node} presented ${id ?? 'no SPIFFE id'}, expected ${[...expected].join(' or ')}`, {
              node,
              peerIdentity: id,
              expected: [...expected],
            });
            return identityError;
          },
        });
        // Small request/response frames must not wait for delayed ACKs (Nagle).
        socket.once('connect', () => ((phase.tcp = true), socket.setNoDelay(true)));
        socket.once('secureConnect', () => (phase.tls = true));
        socket.on('session', (t: Buffer) => {
          if (this.tickets.size >= MAX_TICKETS && !this.tickets.has(key)) this.tickets.clear();
          this.tickets.set(key, t);
        });
        return socket;
      },
    });
    let opened = false;
    h2.on('goaway', () => {
      s.draining = true;
      this.unlist(s);
    });
    h2.on('close', () => {
      if (s.idle !== undefined) clearTimeout(s.idle);
      this.unlist(s);
      this.all.delete(s);
      if (opened) this.opts.metrics?.sessionClosed?.();
    });
    // A peer that never answers must not hold this session (and every open() joining it) for the
    // kernel's TCP connect timeout.
    let timeoutError: MeshError | undefined;
    const connectTimer = setTimeout(() => {
      timeoutError = new MeshError('TUNNEL_TIMEOUT', `session to ${node}`, { node, timeoutMs: this.connectTimeoutMs });
      h2.destroy();
    }, this.connectTimeoutMs);
    connectTimer.unref();
    const ready = new Promise<http2.ClientHttp2Session>((resolve, reject) => {
      const onError = (e: Error & { code?: string }): void => {
        log.debug({ err: e.message, code: e.code, node }, 'tunnel session error');
        // A ticket that led to a failed session is not offered again.
        this.tickets.delete(key);
        reject(identityError ?? timeoutError ?? sessionError(e, node, phase));
      };
      h2.on('error', onError);
      h2.once('connect', () => {
        clearTimeout(connectTimer);
        opened = true;
        s.connected = true;
        this.opts.metrics?.sessionOpened?.();
        h2.setLocalWindowSize(CONNECTION_WINDOW);
        resolve(h2);
      });
      h2.once('close', () => {
        clearTimeout(connectTimer);
        reject(identityError ?? timeoutError ?? new MeshError('TUNNEL_CONNECT', `session to ${node} closed`, { node }));
      });
    });
    // Every waiter handles the rejection; this only keeps an unobserved one from being fatal.
    ready.catch(() => undefined);
    // Listeners above refer to `s`; none of them can run before this synchronous code completes.
    const s: PooledSession = { key, ready, h2, active: 0, draining: false, connected: false, idle: undefined };
    this.all.add(s);
    return s;
  }

  private request(s: PooledSession, h2: http2.ClientHttp2Session, p: OpenParams, deadline: number): Promise<http2.ClientHttp2Stream> {
    const authority = formatAuthority(p.target);
    const headers: http2.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(p.headers ?? {})) if (!k.startsWith(':') && k.toLowerCase() !== 'forwarded') headers[k.toLowerCase()] = v;
    headers[':method'] = 'CONNECT';
    headers[':authority'] = authority;
    headers.forwarded = formatForwarded(p.forwardedFor);
    let req: http2.ClientHttp2Stream;
    try {
      req = h2.request(headers, { endStream: false });
    } catch (e) {
      return Promise.reject(new MeshError('TUNNEL_CONNECT', (e as Error).message, { node: formatAuthority(p.node) }, { cause: e }));
    }
    // The stream holds its own slot until it closes (open()'s reservation is released in finally).
    this.take(s);
    req.once('close', () => this.release(s));
    return new Promise((resolve, reject) => {
      let answered = false;
      // The deadline cancels the stream too, so a late 200 cannot leave an orphan tunnel behind.
      const timer = setTimeout(
        () => fail(new MeshError('TUNNEL_TIMEOUT', `CONNECT ${authority} via ${formatAuthority(p.node)}`, { target: authority })),
        Math.max(0, deadline - Date.now()),
      );
      const fail = (err: MeshError): void => {
        if (answered) return;
        answered = true;
        clearTimeout(timer);
        if (!req.destroyed) req.close(http2.constants.NGHTTP2_CANCEL);
        reject(err);
      };
      req.once('response', (h) => {
        const status = Number(h[':status']);
        if (status !== 200) {
          fail(new MeshError('TUNNEL_REFUSED', `${authority} answered ${status}`, { status, target: authority }));
          return;
        }
        answered = true;
        clearTimeout(timer);
        resolve(req);
      });
      // A stream error before the answer is a reset or a session failure; afterwards it belongs to
      // the caller, who must add its own 'error' listener.
      req.once('error', (e: Error & { code?: string }) => fail(streamError(e, req, h2, authority)));
      req.once('close', () => fail(streamError(undefined, req, h2, authority)));
    });
  }
}

/** TLS failures (alerts, verification, a handshake cut short) vs anything else on the way to a
 *  session. A peer agent closes the handshake when it has no certificate for the SNI asked for. */
function sessionError(e: Error & { code?: string }, node: string, phase: { tcp: boolean; tls: boolean }): MeshError {
  const code = e.code ?? '';
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || /CERT|SELF_SIGNED|UNABLE_TO_/.test(code) || (phase.tcp && !phase.tls)) {
    return new MeshError('TUNNEL_TLS', `${node}: ${e.message}`, { node, code }, { cause: e });
  }
  return new MeshError('TUNNEL_CONNECT', `${node}: ${e.message}`, { node, code }, { cause: e });
}

function streamError(e: (Error & { code?: string }) | undefined, req: http2.ClientHttp2Stream, h2: http2.ClientHttp2Session, authority: string): MeshError {
  const rst = req.rstCode ?? 0;
  const code = e?.code ?? '';
  // A TLS alert after the handshake (the server refusing our certificate in TLS 1.3) fails the stream.
  if (code.startsWith('ERR_SSL_')) return new MeshError('TUNNEL_TLS', `${authority}: ${e?.message ?? ''}`, { target: authority, code }, { cause: e });
  // The whole session went away: the peer closed it (restart, idle, or it refused this workload's
  // certificate after a TLS 1.3 handshake, which it can only signal by closing).
  if (h2.destroyed || h2.closed) {
    return new MeshError('TUNNEL_CONNECT', `${authority}: the session ended before the answer`, { target: authority, code, rstCode: rst }, { cause: e });
  }
  if (rst !== 0 && rst !== http2.constants.NGHTTP2_CANCEL) {
    return new MeshError('TUNNEL_REFUSED', `${authority}: stream reset (code ${rst})`, { target: authority, rstCode: rst }, { cause: e });
  }
  return new MeshError('TUNNEL_CONNECT', `${authority}: ${e?.message ?? 'stream closed before the answer'}`, { target: authority, code }, { cause: e });
}

/** Rejects with TUNNEL_TIMEOUT at the deadline (the underlying work is cancelled by its owner). */
function withDeadline<T>(p: Promise<T>, deadline: number, what: string): Promise<T> {
  const ms = deadline - Date.now();
  if (ms <= 0) return Promise.reject(new MeshError('TUNNEL_TIMEOUT', what));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new MeshError('TUNNEL_TIMEOUT', what, { timeoutMs: ms })), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
