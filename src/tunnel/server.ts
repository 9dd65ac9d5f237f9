// HBONE tunnel server (the inbound side, on :15008): mutual TLS 1.3 with ALPN h2, then one HTTP/2
// CONNECT stream per proxied connection. Each session is bound to the client's SPIFFE id; each stream
// names a local pod as `:authority` and becomes a Duplex for the agent to pipe to that pod.
//
// Status codes follow ztunnel so its clients read them the same way: 400 for a non-CONNECT method, a
// malformed `:authority` or a target this node does not serve; the agent answers 401 (policy denied)
// or 503 (pod unreachable) through ctx.reject(). As in ztunnel, 200 is sent only once the agent is
// ready (when onStream returns or its promise resolves), so a refused pod fails the client's open().
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Addr } from '../capture/types';
import { logger } from '../log';
import { classifyTlsError, type KeyCert, SecureContextCache } from './tls';
import type { RejectReason, TunnelServerMetrics } from './metrics';
import { decodeSni, inTrustDomain, parseAuthority, parseForwarded, peerSpiffeId } from './wire';

const log = logger('tunnel-server');
const { NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants;
const CONNECTION_WINDOW = 1 << 20;

export interface TunnelServerLimits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS per session (ztunnel and Envoy: 100). */
  readonly maxConcurrentStreams: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE: HBONE headers are a few hundred bytes. */
  readonly maxHeaderListSize: number;
  /** A session with no open stream for this long is closed (GOAWAY). Longer than the pool's 5 min,
   *  so that clients, who know when they will reuse a session, normally close first. */
  readonly idleMs: number;
  readonly handshakeTimeoutMs: number;
  /** Rapid-reset guard (CVE-2023-44487): once a session has opened this many streams, it is
   *  destroyed if the client reset at least half of them before they were answered. Only resets
   *  before the answer count, so clients that end their connections with RST (health probes,
   *  SO_LINGER 0) are not mistaken for an attack. */
  readonly rapidResetMinStreams: number;
  readonly maxConnections: number;
}

export const DEFAULT_SERVER_LIMITS: TunnelServerLimits = {
  maxConcurrentStreams: 100,
  maxHeaderListSize: 16 * 1024,
  idleMs: 10 * 60_000,
  handshakeTimeoutMs: 10_000,
  rapidResetMinStreams: 100,
  maxConnections: 20_000,
};

export interface TunnelStreamContext {
  /** The client agent's workload identity, verified by mTLS (`spiffe://td/ns/x/sa/y`). */
  readonly peerIdentity: string;
  readonly target: Addr;
  /** The original client from `forwarded: for=...` (port 0 if it named none); undefined if absent. */
  readonly forwardedFor: Addr | undefined;
  readonly stream: http2.ServerHttp2Stream;
  readonly headers: http2.IncomingHttpHeaders;
  /** Peer address of the TLS connection (the client agent). */
  readonly remote: Addr;
  /** Sends `:status 200`; done automatically when onStream returns, unless it answered already. */
  accept(): void;
  /** Answers `status` (401 denied, 503 pod unreachable...) and ends the stream. */
  reject(status: number): void;
}

export interface TunnelServerOptions {
  readonly host: string;
  readonly port: number;
  readonly trustDomain: string;
  /** The certificate to present for the identity the client named in SNI (undefined: no usable
   *  SNI). Called per handshake, so a rotated certificate applies to the next session. */
  certFor(identityFromSni: string | undefined): KeyCert | undefined;
  /** Trust anchor(s) for client certificates, re-read per handshake. */
  rootPem(): string;
  isLocalTarget(target: Addr): boolean;
  onStream(ctx: TunnelStreamContext): void | Promise<void>;
  readonly metrics?: TunnelServerMetrics;
  readonly limits?: Partial<TunnelServerLimits>;
}

export interface TunnelServer {
  address(): Addr;
  /** Stops accepting; sends GOAWAY and gives open streams `graceMs` before destroying everything. */
  close(graceMs?: number): Promise<void>;
}

/** Refuses an accepted stream (RST_STREAM REFUSED_STREAM: the client may retry elsewhere). */
export function refuseStream(stream: http2.Http2Stream): void {
  if (!stream.closed && !stream.destroyed) stream.close(NGHTTP2_REFUSED_STREAM);
}

interface SessionState {
  readonly peer: string;
  active: number;
  opened: number;
  /** Streams the client reset before they were answered. */
  premature: number;
  /** Already being torn down by the rapid-reset guard. */
  condemned: boolean;
  idle: NodeJS.Timeout | undefined;
}

export async function startTunnelServer(opts: TunnelServerOptions): Promise<TunnelServer> {
  const limits: TunnelServerLimits = { ...DEFAULT_SERVER_LIMITS, ...opts.limits };
  const reject = (reason: RejectReason, detail: Record<string, unknown> = {}): void => {
    log.debug({ reason, ...detail }, 'tunnel rejected');
    opts.metrics?.rejected(reason);
  };
  const contexts = new SecureContextCache();
  const unknownSni = new WeakSet<tls.TLSSocket>();

  const h2 = http2.createSecureServer({
    minVersion: 'TLSv1.3',
    ALPNProtocols: ['h2'],
    allowHTTP1: false,
    requestCert: true,
    rejectUnauthorized: true,
    ca: opts.rootPem(),
    handshakeTimeout: limits.handshakeTimeoutMs,
    // A client that got past TLS but did not negotiate h2 is dropped by our unknownProtocol handler.
    unknownProtocolTimeout: 1_000,
    peerMaxConcurrentStreams: limits.maxConcurrentStreams,
    settings: {
      enablePush: false,
      maxConcurrentStreams: limits.maxConcurrentStreams,
      maxHeaderListSize: limits.maxHeaderListSize,
    },
    // A function, not an arrow: node calls it with the TLS socket as `this`, which lets a refusal be
    // attributed to the right connection when it is counted.
    SNICallback: function (this: tls.TLSSocket, servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) {
      const identity = decodeSni(servername, opts.trustDomain);
      const kc = opts.certFor(identity);
      if (kc === undefined) {
        // No certificate for the named workload. node cannot send a TLS alert from here, so the
        // connection is closed; presenting another workload's certificate instead would only move
        // the failure to the client's identity check.
        unknownSni.add(this);
        cb(new Error(`no certificate for ${identity ?? `SNI ${servername}`}`));
        return;
      }
      try {
        cb(null, contexts.get(identity ?? '', kc, opts.rootPem()));
      } catch (e) {
        cb(e as Error);
      }
    },
  });

  // Clients without SNI get the default context. It has no per-handshake hook, so it is refreshed
  // (when the certificate or root changed) as each TCP connection arrives, before TLS starts.
  let defaultSeen = '';
  const refreshDefault = (): void => {
    const kc = opts.certFor(undefined);
    const root = opts.rootPem();
    const seen = `${kc?.cert ?? ''}\0${root}`;
    if (seen === defaultSeen) return;
    h2.setSecureContext({ ca: root, minVersion: 'TLSv1.3', ...(kc ? { key: kc.key, cert: kc.cert } : {}) });
    defaultSeen = seen;
  };

  h2.on('tlsClientError', (err: Error & { code?: string }, socket: tls.TLSSocket) => {
    // node verifies the client chain after the handshake and then destroys the socket without an
    // error, so a verification failure arrives here as a hang-up with `authorizationError` set.
    const verify = (socket as tls.TLSSocket & { authorizationError?: string | null }).authorizationError;
    const reason = unknownSni.has(socket) ? 'unknown_sni' : classifyTlsError(err, verify);
    reject(reason, { error: err.message, code: err.code, verify });
    socket.destroy();
  });

  h2.on('unknownProtocol', (socket: tls.TLSSocket) => {
    reject('no_alpn', { alpn: socket.alpnProtocol });
    socket.destroy();
  });

  const sessions = new Set<http2.ServerHttp2Session>();
  const states = new WeakMap<http2.Http2Session, SessionState>();

  const armIdle = (session: http2.ServerHttp2Session, st: SessionState): void => {
    if (st.idle !== undefined) clearTimeout(st.idle);
    st.idle = setTimeout(() => session.close(), limits.idleMs);
    st.idle.unref();
  };

  h2.on('session', (session: http2.ServerHttp2Session) => {
    const socket = session.socket as tls.TLSSocket;
    const peer = peerSpiffeId(socket);
    if (peer === undefined || !inTrustDomain(peer, opts.trustDomain)) {
      // Synchronous with session creation: no stream of this session has been read yet.
      reject(peer === undefined ? 'bad_identity' : 'wrong_trust_domain', { peer, subjectAltName: socket.getPeerX509Certificate()?.subjectAltName });
      session.destroy();
      return;
    }
    const st: SessionState = { peer, active: 0, opened: 0, premature: 0, condemned: false, idle: undefined };
    states.set(session, st);
    sessions.add(session);
    opts.metrics?.sessionOpened?.();
    // Envoy's 1 MiB connection window: with node's 64 KiB default, many streams would starve.
    session.setLocalWindowSize(CONNECTION_WINDOW);
    armIdle(session, st);
    session.on('error', (e) => log.debug({ err: e.message, peer }, 'tunnel session error'));
    session.on('close', () => {
      if (st.idle !== undefined) clearTimeout(st.idle);
      sessions.delete(session);
      opts.metrics?.sessionClosed?.();
    });
  });

  h2.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    const session = stream.session as http2.ServerHttp2Session | undefined;
    const st = session === undefined ? undefined : states.get(session);
    if (session === undefined || st === undefined) {
      stream.close(NGHTTP2_REFUSED_STREAM);
      return;
    }
    onStream(session, st, stream, headers);
  });

  const onStream = (session: http2.ServerHttp2Session, st: SessionState, stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void => {
    st.opened++;
    st.active++;
    if (st.idle !== undefined) clearTimeout(st.idle);
    st.idle = undefined;
    const localReset = trackLocalReset(stream);
    stream.on('error', (e) => log.debug({ err: e.message, peer: st.peer }, 'tunnel stream error'));
    stream.on('close', () => {
      st.active--;
      const code = stream.rstCode;
      if (!localReset() && code !== undefined && code !== NGHTTP2_NO_ERROR && !stream.headersSent) st.premature++;
      if (!st.condemned && st.opened >= limits.rapidResetMinStreams && st.premature * 2 >= st.opened && !session.destroyed) {
        st.condemned = true;
        reject('rapid_reset', { peer: st.peer, opened: st.opened, premature: st.premature });
        // GOAWAY(ENHANCE_YOUR_CALM) as nghttp2 does for floods; deferred because this listener runs
        // inside nghttp2's stream-close callback, where tearing the session down stalls it.
        setImmediate(() => session.destroy(undefined, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM));
        return;
      }
      if (st.active === 0 && !session.closed && !session.destroyed) armIdle(session, st);
    });

    const answer = (status: number): void => {
      if (stream.headersSent || stream.closed || stream.destroyed) return;
      stream.respond({ ':status': status }, { endStream: true });
      // Discard whatever the client sends on a refused stream so it can close cleanly.
      stream.resume();
    };
    if (headers[':method'] !== 'CONNECT') {
      reject('bad_method', { method: headers[':method'], peer: st.peer });
      answer(400);
      return;
    }
    const target = parseAuthority(headers[':authority']);
    if (target === undefined) {
      reject('bad_authority', { authority: headers[':authority'], peer: st.peer });
      answer(400);
      return;
    }
    if (!opts.isLocalTarget(target)) {
      reject('non_local_target', { target, peer: st.peer });
      answer(400);
      return;
    }
    const fwd = headers.forwarded;
    const ctx: TunnelStreamContext = {
      peerIdentity: st.peer,
      target,
      forwardedFor: parseForwarded(Array.isArray(fwd) ? fwd[0] : fwd),
      stream,
      headers,
      remote: { address: session.socket.remoteAddress ?? '', port: session.socket.remotePort ?? 0 },
      accept: () => {
        if (!stream.headersSent && !stream.closed && !stream.destroyed) stream.respond({ ':status': 200 });
      },
      reject: answer,
    };
    opts.metrics?.streamAccepted?.();
    const failed = (e: unknown): void => {
      log.warn({ err: (e as Error)?.message, peer: st.peer, target }, 'tunnel onStream failed');
      if (!stream.headersSent) answer(503);
      else if (!stream.closed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    };
    try {
      const r = opts.onStream(ctx);
      if (r instanceof Promise) r.then(ctx.accept, failed);
      else ctx.accept();
    } catch (e) {
      failed(e);
    }
  };

  // Our own listener in front of the TLS server, so the default context can be refreshed before each
  // handshake and every raw socket can be destroyed on close.
  const sockets = new Set<net.Socket>();
  const front = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    try {
      refreshDefault();
    } catch (e) {
      log.error({ err: (e as Error).message }, 'tunnel default certificate rejected; keeping the previous one');
    }
    h2.emit('connection', socket);
  });
  front.maxConnections = limits.maxConnections;
  refreshDefault();
  await new Promise<void>((resolve, rejectListen) => {
    front.once('error', rejectListen);
    // reusePort: the next agent binds beside this one while it drains (handover without a gap).
    front.listen({ port: opts.port, host: opts.host, reusePort: true }, () => {
      front.off('error', rejectListen);
      resolve();
    });
  });
  front.on('error', (e) => log.error({ err: e.message }, 'tunnel listener error'));
  const bound = front.address() as net.AddressInfo;

  return {
    address: () => ({ address: bound.address, port: bound.port }),
    close: async (graceMs = 0) => {
      const closed = new Promise<void>((resolve) => front.close(() => resolve()));
      for (const s of sessions) s.close();
      if (graceMs > 0 && sessions.size > 0) {
        const deadline = Date.now() + graceMs;
        while (sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      }
      for (const s of sessions) s.destroy();
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

/**
 * Whether a stream's reset came from our side (the agent closing or destroying it) rather than from
 * the client. node records only the code, so the stream's close/destroy are wrapped to remember
 * which side acted first; only client resets count towards the rapid-reset guard.
 */
function trackLocalReset(stream: http2.ServerHttp2Stream): () => boolean {
  let local = false;
  const close = stream.close.bind(stream);
  const destroy = stream.destroy.bind(stream);
  stream.close = (code?: number, cb?: () => void) => {
    if (!stream.closed) local = true;
    close(code, cb);
  };
  stream.destroy = (err?: Error) => {
    if (!stream.closed) local = true;
    return destroy(err);
  };
  return () => local;
}
