// The outbound capture listener (:15001). Per connection: original destination → service by VIP:port →
// protocol (declared, or sniffed with a bounded wait) → HTTP/1 at L7 or opaque TCP. Every socket has an
// 'error' handler and every step is guarded: a bad connection costs itself, never the process.
import * as net from 'node:net';
import type { Addr } from '../capture/types';
import { CATALOG, MeshError, type ErrorName } from '../errors';
import { logger } from '../log';
import type { BalancerSet } from '../balance/set';
import { declaredProtocol, detect, pathFor, type DetectResult, type ListenerPath } from './detect';
import { helloOf, peekClientHello } from './sni';
import { L7Engine } from '../proxy/engine';
import { H2Downstream } from './h2/conn';
import { Http1Proxy } from './h1/conn';
import { AccessLog } from '../telemetry/accesslog';
import { UNKNOWN_SOURCE, type SourceInfo } from '../telemetry/labels';
import type { Metrics } from '../telemetry/metrics';
import type { RateLimiter } from '../proxy/deps';
import { SharedRateLimiter } from '../policy/sharedratelimit';
import { UpstreamPool } from '../upstream/h1/pool';
import { TcpProxy } from '../upstream/tcp';
import { attachContext, ConnContext, type ServiceLookup } from '../conn/context';
import { Deadlines, tickFor } from '../conn/deadlines';
import { resolveTimeouts, type Timeouts } from '../conn/timeouts';
import { processFdGuard, socketFd, type FdGuard } from '../conn/fdreserve';
import { processRefusalLog, type RefusalLog, type RefusalReason } from './refusals';

const log = logger('outbound');

export interface OutboundDeps {
  /** The destination the client asked for (the eBPF map lookup); undefined when unknown. */
  originalDst(socket: net.Socket): Addr | undefined;
  /** Current service state, swapped on reload (state/services.ts ServiceIndex satisfies ServiceLookup). */
  index(): ServiceLookup;
  readonly metrics: Metrics;
  readonly balancers: BalancerSet;
  readonly timeouts?: Partial<Timeouts>;
  /** Defaults to an enabled access log on the process logger; pass DISABLED_ACCESS_LOG to turn it off. */
  readonly accessLog?: AccessLog;
  /** Source workload of a client address; defaults to all-"unknown" until identity lands. Return interned objects. */
  sourceOf?(peer: Addr): SourceInfo;
  /** Upper bound of concurrent client connections (Envoy-style per-listener limit); unset = none. */
  readonly maxConnections?: number;
  /** Where to dial instead of `target` for this client (a mesh tunnel relay); undefined = the target. */
  dial?(client: Addr, target: Addr): Addr | undefined;
  /** LocalRateLimit buckets; defaults to one limiter per listener. */
  readonly rateLimiter?: RateLimiter;
  /** The descriptor reserve kept for the admin ports; defaults to the process's one. */
  readonly fdGuard?: FdGuard;
  /** Where refusals are logged (bounded); defaults to the process's one. */
  readonly refusals?: RefusalLog;
}

export interface OutboundListener {
  address(): Addr;
  /** Client connections currently open. */
  connections(): number;
  /** The listening socket's fd (for nm_listeners); undefined once closed. */
  fd(): number | undefined;
  /** Stops accepting, lets open connections finish for up to drainMs, then closes the rest. */
  close(drainMs?: number): Promise<void>;
}

/** Logs a given catalog error at most once per interval, so a flood of bad connections stays readable. */
function rateLimitedWarn(intervalMs: number): (name: ErrorName, fields: Record<string, unknown>) => void {
  const last = new Map<ErrorName, number>();
  let suppressed = 0;
  return (name, fields) => {
    const now = Date.now();
    if (now - (last.get(name) ?? -Infinity) < intervalMs) {
      suppressed++;
      return;
    }
    last.set(name, now);
    log.warn({ ...fields, code: CATALOG[name].code, suppressed }, CATALOG[name].message);
    suppressed = 0;
  };
}

export async function createOutboundListener(opts: { host: string; port: number; deps: OutboundDeps }): Promise<OutboundListener> {
  const { deps } = opts;
  const timeouts = resolveTimeouts(deps.timeouts);
  const accessLog = deps.accessLog ?? new AccessLog();
  const deadlines = new Deadlines(tickFor(timeouts));
  // One HTTP/1.1 pool for every try of this listener's engine (tries time their own connects).
  const pool = new UpstreamPool({ idleMs: timeouts.upstreamIdleMs, connectTimeoutMs: timeouts.connectMs }, deadlines);
  const sockets = new Set<net.Socket>();
  const warn = rateLimitedWarn(10_000);
  const fdGuard = deps.fdGuard ?? processFdGuard();
  const refusals = deps.refusals ?? processRefusalLog();
  const refuse = (reason: RefusalReason, fds?: Parameters<RefusalLog['note']>[1]): void => {
    deps.metrics.downstreamRejected.inc({ reason });
    refusals.note(reason, fds);
  };
  let closing = false;
  let onEmpty: (() => void) | undefined;

  const common = { metrics: deps.metrics, balancers: deps.balancers, timeouts, accessLog, deadlines, index: () => deps.index(), ...(deps.dial ? { dial: deps.dial } : {}) };
  const engine = new L7Engine({
    metrics: deps.metrics,
    accessLog,
    timeouts,
    balancers: deps.balancers,
    index: () => deps.index(),
    rateLimiter: deps.rateLimiter ?? new SharedRateLimiter(),
    pool,
    deadlines,
    ...(deps.dial ? { dial: deps.dial } : {}),
  });
  const http1 = new Http1Proxy({ ...common, pool, draining: () => closing, engine });
  const h2 = new H2Downstream(engine, { metrics: deps.metrics, timeouts });
  const tcp = new TcpProxy(common);

  // TLS passed through: when a VirtualService routes the service by SNI, the ClientHello is read (and
  // put back) first; a hello incomplete after the detection wait, or malformed, counts as no SNI.
  const serveTls = (socket: net.Socket, ctx: ConnContext, head: Buffer | undefined): void => {
    if (deps.index().router.hasTlsRoutes?.(ctx.service) !== true) return tcp.serve(socket, ctx, head);
    if (head !== undefined) return tcp.serve(socket, ctx, head, helloOf(head));
    peekClientHello(socket, timeouts.detectMs).then(
      (r) => {
        if (r.outcome === 'closed') return void socket.destroy();
        if (r.outcome === 'invalid' || r.outcome === 'timeout') log.debug({ peer: ctx.peerText, outcome: r.outcome }, 'no ClientHello to route by');
        if (!socket.destroyed) tcp.serve(socket, ctx, r.head, r.sni);
      },
    ).catch((err: unknown) => {
      log.error({ err }, 'connection handling failed');
      socket.destroy();
    });
  };

  const dispatch = (socket: net.Socket, ctx: ConnContext, path: ListenerPath, head?: Buffer, tls = false): void => {
    if (socket.destroyed) return;
    if (path === 'http1') http1.serve(socket);
    else if (path === 'h2' && head === undefined) h2.serve(socket, ctx);
    else if (tls) serveTls(socket, ctx, head);
    else tcp.serve(socket, ctx, head);
  };

  const onConnection = (socket: net.Socket): void => {
    socket.on('error', (err) => log.debug({ err: err.message }, 'client socket error'));
    // First, before it costs anything: past the reserve's ceiling the client gets a clean close, and
    // the admin ports keep the descriptors they need to answer probes and scrapes.
    const short = fdGuard.check(socketFd(socket));
    if (short !== undefined) {
      refuse('fd_exhausted', short);
      socket.destroy();
      return;
    }
    sockets.add(socket);
    deps.metrics.downstreamActive.inc();
    socket.once('close', () => {
      sockets.delete(socket);
      deps.metrics.downstreamActive.dec();
      if (sockets.size === 0) onEmpty?.();
    });
    if (closing) {
      refuse('draining');
      socket.destroy();
      return;
    }
    const peer: Addr = { address: socket.remoteAddress ?? 'unknown', port: socket.remotePort ?? 0 };
    let dst: Addr | undefined;
    try {
      dst = deps.originalDst(socket);
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'original destination lookup failed');
    }
    if (dst === undefined) {
      deps.metrics.downstreamRejected.inc({ reason: 'no_original_dst' });
      warn('NO_ORIGINAL_DST', { peer: `${peer.address}:${peer.port}` });
      socket.destroy();
      return;
    }
    let index: ServiceLookup | undefined;
    let route: ReturnType<ServiceLookup['byVip']>;
    try {
      index = deps.index();
      route = index.byVip(dst.address, dst.port);
    } catch (err) {
      // No config loaded yet (the agent's index throws until the first good config): same as no route.
      log.debug({ err: (err as Error).message }, 'service lookup failed');
    }
    if (index === undefined || route === undefined) {
      deps.metrics.downstreamRejected.inc({ reason: 'no_route' });
      warn('NO_ROUTE', { peer: `${peer.address}:${peer.port}`, destination: `${dst.address}:${dst.port}`, flag: 'NR' });
      socket.destroy();
      return;
    }
    const source = deps.sourceOf?.(peer) ?? UNKNOWN_SOURCE;
    const ctx = new ConnContext(dst, peer, source, index, route);
    attachContext(socket, ctx);
    const declared = declaredProtocol(route.port.protocol);
    if (declared === 'http1') {
      // An HTTP port takes HTTP/1.1 and HTTP/2 with prior knowledge (Envoy's AUTO codec, as Istio sets
      // it): the first bytes, which the request needs anyway, tell them apart. No detection timeout
      // applies (an idle keep-alive client stays HTTP/1); a client that never sends is the head timeout's.
      detect(socket, timeouts.headersMs).then(
        (r: DetectResult) => {
          if (r.outcome === 'closed') return void socket.destroy();
          const h2 = r.protocol === 'h2';
          deps.metrics.detections.inc({ protocol: h2 ? 'h2' : 'http1', outcome: 'declared' });
          if (r.outcome === 'ended') dispatch(socket, ctx, 'tcp', r.head);
          else dispatch(socket, ctx, h2 ? 'h2' : 'http1');
        },
      ).catch((err: unknown) => {
        log.error({ err }, 'connection handling failed');
        socket.destroy();
      });
      return;
    }
    if (declared !== undefined) {
      deps.metrics.detections.inc({ protocol: declared, outcome: 'declared' });
      dispatch(socket, ctx, pathFor(declared), undefined, route.port.protocol === 'TLS' || route.port.protocol === 'HTTPS');
      return;
    }
    detect(socket, timeouts.detectMs).then(
      (r: DetectResult) => {
        if (r.outcome === 'closed') {
          socket.destroy();
          return;
        }
        deps.metrics.detections.inc({ protocol: r.protocol, outcome: r.outcome === 'decided' ? 'sniffed' : r.outcome });
        dispatch(socket, ctx, pathFor(r.protocol), r.head, r.protocol === 'tls');
      },
    ).catch((err: unknown) => {
      log.error({ err }, 'connection handling failed');
      socket.destroy();
    });
  };

  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    try {
      onConnection(socket);
    } catch (err) {
      log.error({ err }, 'connection handling failed');
      socket.destroy();
    }
  });
  if (deps.maxConnections !== undefined) server.maxConnections = deps.maxConnections;
  // Node closes a connection past maxConnections itself and says so only by this event.
  server.on('drop', () => refuse('max_connections'));

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new MeshError('LISTEN', `${opts.host}:${opts.port}: ${err.message}`, { host: opts.host, port: opts.port }, { cause: err })));
    // reusePort: the next agent binds beside this one while it drains (handover without a gap).
    server.listen({ host: opts.host, port: opts.port, reusePort: true }, () => {
      server.on('error', (err: NodeJS.ErrnoException) => {
        // accept() out of descriptors with libuv's own spare one gone: counted and logged bounded.
        if (err.code === 'EMFILE' || err.code === 'ENFILE') refuse('fd_exhausted');
        else log.error({ err }, 'outbound listener error');
      });
      resolve();
    });
  }).catch((err: unknown) => {
    tcp.close();
    h2.close();
    engine.close();
    http1.close();
    pool.close();
    deadlines.close();
    throw err;
  });
  const bound = server.address() as net.AddressInfo;
  const address: Addr = { address: bound.address, port: bound.port };
  log.info({ address: `${address.address}:${address.port}` }, 'outbound listener ready');

  let closed: Promise<void> | undefined;
  const close = async (drainMs = 0): Promise<void> => {
    closing = true;
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    // HTTP/2 clients get GOAWAY and retry what was not taken; an HTTP/1 keep-alive connection gets
    // "connection: close" on its next response (closing it while idle would race the client's next
    // request). Whatever is still open at the deadline is closed then.
    h2.drain();
    if (drainMs <= 0) http1.drain();
    if (sockets.size > 0 && drainMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, drainMs);
        onEmpty = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    for (const s of sockets) s.destroy();
    http1.close();
    h2.close();
    engine.close();
    tcp.close();
    pool.close();
    deadlines.close();
    await stopped;
  };

  return {
    address: () => address,
    connections: () => sockets.size,
    // libuv's own descriptor: Node exposes no public accessor for a listening socket's fd.
    fd: () => (server.listening ? (server as unknown as { _handle?: { fd?: number } })._handle?.fd : undefined),
    close: (drainMs?: number) => (closed ??= close(drainMs)),
  };
}
