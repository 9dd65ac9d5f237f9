// The destination side of the mesh: a stream that arrived through the mTLS tunnel is authorized with
// the caller's verified identity (Istio order, src/policy/authz.ts) and delivered to the local pod from
// the agent's delivery address, which the pod's kernel policy trusts under STRICT. HTTP ports are served
// by the same adapters and L7 engine as the source side (HTTP/1 and h2, told apart by the first bytes;
// HTTP2/GRPC ports as h2), with the destination's own admission: authorization per request, then
// delivery to exactly the pod the stream names (proxy/destination.ts). Other ports are authorized
// per connection and spliced.
import * as net from 'node:net';
import * as http2 from 'node:http2';
import { Duplex } from 'node:stream';
import type { Addr } from '../capture/types';
import { BalancerSet } from '../balance/set';
import { endpointPort, type Endpoint, type RequestAuthn, type Service, type Workload } from '../config/model';
import type { JwksSource } from '../identity/jwks-mirror';
import { inlineKeys, jwtRulesFor } from '../policy/jwt';
import { securityMetrics } from '../telemetry/security';
import { detect } from './detect';
import { principalOf, tryParseSpiffeId } from '../identity/spiffe';
import { DESTINATION_LOOKUP, DestinationAdmission, DestinationContext, pinRoute } from '../proxy/destination';
import { L7Engine } from '../proxy/engine';
import { H2Downstream } from './h2/conn';
import { Http1Proxy } from './h1/conn';
import { logger } from '../log';
import type { MeshAuthz } from '../policy/authz';
import { authzRequestOf, type Caller } from '../policy/destination';
import { SharedRateLimiter } from '../policy/sharedratelimit';
import type { LocalPort, Topology } from '../state/topology';
import { AccessLog } from '../telemetry/accesslog';
import { destinationInfo, baseLabels, type SourceInfo } from '../telemetry/labels';
import { peerSource } from '../telemetry/peer';
import { securityPolicy } from '../telemetry/reporters';
import { HttpStats, TcpStats, type Metrics } from '../telemetry/metrics';
import { splice } from '../tunnel/splice';
import { UpstreamPool } from '../upstream/h1/pool';
import type { TunnelStreamContext } from '../tunnel/server';
import { attachContext } from '../conn/context';
import { Deadlines, tickFor } from '../conn/deadlines';
import { resolveTimeouts, type Timeouts } from '../conn/timeouts';

const log = logger('inbound');
const http2constants = http2.constants;
export { RBAC_DENIED } from '../policy/destination';

export interface InboundDeps {
  topology(): Topology;
  authz(): MeshAuthz;
  metrics: Metrics;
  /** Local source address for connections to pods (trusted by STRICT), when configured on this node. */
  deliveryAddress: string | undefined;
  connectTimeoutMs: number;
  /** This side's Envoy-style access log (one entry per request, as on the source side); default: on. */
  accessLog?: AccessLog;
  /** The config's RequestAuthentications, re-read per request; default: none. */
  requestAuthns?(): readonly RequestAuthn[];
  /** Keys fetched from jwksUri (the agent's one cache); without it only inline jwks verify. */
  jwks?: JwksSource;
  /** Proxies in front of clients, for remoteIpBlocks (--trusted-proxies); default 0. */
  trustedProxies?: number;
}

/** What one tunnel stream is: who called, which pod, and the labels its metrics carry. */
interface StreamInfo {
  readonly workload: Workload;
  readonly service: Service | undefined;
  readonly endpoint: Endpoint | undefined;
  readonly target: Addr;
  /** The client as the adapters see it: the believed workload's address, else the peer agent's. */
  readonly peer: Addr;
  readonly source: SourceInfo;
  readonly caller: Caller;
  /** The stats cache key without the protocol. */
  readonly statsKey: string;
}

export class InboundHandler {
  private readonly statsCache = new Map<string, HttpStats | TcpStats>();
  /** Bumped by configChanged(): a stream's own handles are looked up again after a reload. */
  private generation = 0;
  private readonly timeouts: Timeouts;
  private readonly deadlines: Deadlines;
  private readonly pool: UpstreamPool;
  private readonly engine: L7Engine;
  private readonly http1: Http1Proxy;
  private readonly h2: H2Downstream;
  private closing = false;

  constructor(private readonly deps: InboundDeps) {
    // Connects are bounded as before; no route or request timeout of this side (the source side's hold).
    const timeouts = (this.timeouts = resolveTimeouts({ connectMs: deps.connectTimeoutMs, requestMs: 0 }));
    const { metrics } = deps;
    const accessLog = deps.accessLog ?? new AccessLog();
    // The destination admission neither routes nor limits: this balancer set and rate limiter are
    // never asked (the engine's deps are the source side's shape).
    const balancers = new BalancerSet();
    this.deadlines = new Deadlines(tickFor(timeouts));
    // One HTTP/1.1 pool to the pods: the engine's own.
    this.pool = new UpstreamPool({ idleMs: timeouts.upstreamIdleMs, connectTimeoutMs: timeouts.connectMs }, this.deadlines);
    this.engine = new L7Engine(
      {
        metrics,
        accessLog,
        timeouts,
        balancers,
        index: () => DESTINATION_LOOKUP,
        rateLimiter: new SharedRateLimiter(),
        pool: this.pool,
        // Every upstream connection of this engine leaves from the delivery address.
        ...(deps.deliveryAddress !== undefined ? { localAddress: deps.deliveryAddress } : {}),
      },
      new DestinationAdmission(),
    );
    this.http1 = new Http1Proxy({
      metrics,
      balancers,
      timeouts,
      accessLog,
      pool: this.pool,
      deadlines: this.deadlines,
      index: () => DESTINATION_LOOKUP,
      draining: () => this.closing,
      engine: this.engine,
      noRouting: true,
    });
    this.h2 = new H2Downstream(this.engine, { metrics, timeouts });
  }

  /** Entry point for the tunnel server. */
  async onStream(ctx: TunnelStreamContext): Promise<void> {
    const t = this.deps.topology();
    const workload = t.workloadByIp(ctx.target.address);
    if (!workload || !t.isLocalIp(workload.address)) return ctx.reject(404);
    const id = tryParseSpiffeId(ctx.peerIdentity);
    // `forwarded` is the peer agent's claim: believed only for a workload of the verified identity
    // (telemetry/peer.ts, which also names the source when it is not).
    const { client: srcWl, source } = peerSource(t, ctx.peerIdentity, ctx.forwardedFor, this.deps.metrics.cluster);
    const peer: Addr = srcWl ? { address: srcWl.address, port: ctx.forwardedFor?.port ?? 0 } : ctx.remote;
    const principal = principalOf(ctx.peerIdentity);
    const local = t.localPort(ctx.target.address, ctx.target.port);
    const info: StreamInfo = {
      workload,
      service: local?.service,
      endpoint: local?.endpoint,
      target: ctx.target,
      peer,
      source,
      caller: { principal, namespace: id?.namespace, ip: peer.address },
      statsKey: `${principal}|${source.workload}|${workload.namespace}/${workload.name}|${local?.service.key ?? ''}`,
    };
    const dctx = local !== undefined && (local.h2 || local.http) ? this.context(info, local) : undefined;
    if (local === undefined || dctx === undefined) return this.tcp(ctx, info);
    ctx.accept();
    const conn = streamAsConnection(ctx.stream);
    attachContext(conn, dctx);
    // An HTTP port also takes h2 with prior knowledge (the source agent chose the upstream protocol,
    // upstream/protocol.ts, and the pod gets the request in it): the first bytes tell, as for captured
    // connections. A stream that ends first carried no request.
    const h2 = local.h2 || (await this.opensWithH2(conn));
    if (h2 === undefined || conn.destroyed) return void conn.destroy();
    if (h2) {
      this.h2.serve(conn, dctx);
      conn.resume();
    } else this.http1.serve(conn);
  }

  private async opensWithH2(conn: Duplex): Promise<boolean | undefined> {
    const r = await detect(conn, this.timeouts.headersMs);
    if (r.outcome === 'closed' || r.outcome === 'ended') return undefined;
    return r.protocol === 'h2';
  }

  /** The connection context of an HTTP stream: its pod, caller, policies and destination stats. */
  private context(info: StreamInfo, local: LocalPort): DestinationContext | undefined {
    const port = local.service.ports.find((p) => endpointPort(local.endpoint, p) === info.target.port);
    if (port === undefined) return undefined;
    const make = (b: Record<string, string>): HttpStats => new HttpStats(this.deps.metrics, b);
    let seen = this.generation;
    let http: HttpStats | undefined;
    let rpc: HttpStats | undefined;
    return new DestinationContext({
      target: info.target,
      peer: info.peer,
      source: info.source,
      caller: info.caller,
      route: pinRoute(local.service, port, local.endpoint, info.target),
      authorize: (r) => this.deps.authz().authorize(info.workload, r),
      stats: (grpc) => {
        // Asked once per request: the stream keeps its two handles until the next config.
        if (seen !== this.generation) {
          seen = this.generation;
          http = rpc = undefined;
        }
        return grpc ? (rpc ??= this.stats(info, 'grpc', make)) : (http ??= this.stats(info, 'http', make));
      },
      security: {
        jwtRules: () => jwtRulesFor(info.workload, this.deps.requestAuthns?.() ?? [], undefined, local.service.key),
        keysFor: (r) => (r.jwksUri === undefined ? inlineKeys(r) : this.deps.jwks?.keys(r.jwksUri)),
        refresh: (r) => (r.jwksUri === undefined || this.deps.jwks === undefined ? Promise.resolve() : this.deps.jwks.refresh(r.jwksUri)),
        trustedProxies: this.deps.trustedProxies ?? 0,
      },
    });
  }

  private stats<T extends HttpStats | TcpStats>(info: StreamInfo, protocol: 'http' | 'grpc' | 'tcp', make: (base: Record<string, string>) => T): T {
    const key = `${protocol}|${info.statsKey}`;
    let s = this.statsCache.get(key) as T | undefined;
    if (!s) {
      const t = this.deps.topology();
      const dst = { ...destinationInfo(info.service, info.endpoint, this.deps.metrics.cluster), principal: principalOf(t.identityOf(info.workload)) };
      s = make(baseLabels('destination', info.source, dst, protocol, securityPolicy('destination', 'tunnel')));
      this.statsCache.set(key, s);
    }
    return s;
  }

  private async tcp(ctx: TunnelStreamContext, info: StreamInfo): Promise<void> {
    const stats = this.stats(info, 'tcp', (b) => new TcpStats(this.deps.metrics, b));
    const decision = this.deps.authz().authorize(info.workload, authzRequestOf(info.caller, info.target));
    for (const d of decision.dryRun ?? []) {
      securityMetrics(this.deps.metrics.registry).dryRun.inc({ policy: d.policy, result: d.result });
      log.info({ policy: d.policy, action: d.action, matched: d.matched, result: d.result, principal: info.caller.principal, target: info.target }, 'dry-run policy evaluated');
    }
    stats.opened();
    if (!decision.allowed) {
      log.info({ principal: info.caller.principal, target: info.target, policy: decision.policy, reason: decision.reason }, 'tcp connection denied');
      stats.closed('DENY');
      return ctx.reject(401); // ztunnel's answer to an RBAC denial on CONNECT
    }
    const sock = net.connect({ host: info.target.address, port: info.target.port, allowHalfOpen: true, noDelay: true, ...(this.deps.deliveryAddress ? { localAddress: this.deps.deliveryAddress } : {}) });
    const connected = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => (sock.destroy(), resolve(false)), this.deps.connectTimeoutMs);
      sock.once('connect', () => (clearTimeout(timer), resolve(true)));
      sock.once('error', () => (clearTimeout(timer), resolve(false)));
    });
    if (!connected) {
      stats.closed('UF');
      return ctx.reject(503);
    }
    ctx.accept();
    const r = await splice(ctx.stream as http2.Http2Stream, sock);
    stats.received(r.fromStream);
    stats.sent(r.fromSocket);
    stats.closed(r.reset === 'none' ? '-' : 'UC');
  }

  /** New config: metric handles are rebuilt on demand, so removed workloads leave no cached handle. */
  configChanged(): void {
    this.statsCache.clear();
    this.generation++;
  }

  /** Idle connections close now, busy ones after their response; the pod connections are closed. */
  close(): void {
    this.closing = true;
    this.http1.drain();
    this.h2.drain();
    this.http1.close();
    this.engine.close();
    this.pool.close();
    this.deadlines.close();
  }
}

/**
 * A tunnel stream as a plain connection for the adapters (HTTP/1 and node's http2 server): a clean close
 * ends the stream, an error resets it, as a socket's FIN and RST would. Strings are encoded before they
 * reach the stream; backpressure is kept.
 */
function streamAsConnection(stream: http2.ServerHttp2Stream): Duplex {
  const d = new Duplex({
    read: () => void stream.resume(),
    // The next write need not wait for this one to reach the socket (a response head and its body go
    // out in the same turn); only a full stream holds the writer, until it drains.
    write: (chunk: Buffer, _enc, cb) => {
      if (stream.destroyed || stream.write(chunk)) cb();
      else stream.once('drain', () => cb());
    },
    final: (cb) => void stream.end(cb),
    // A clean close (keep-alive timeout, Connection: close) ends the stream, which the source side turns
    // into a FIN for its pooled connection; only an error resets it.
    destroy: (err, cb) => {
      if (err) {
        if (!stream.destroyed) stream.close(http2constants.NGHTTP2_CANCEL);
      } else if (!stream.writableEnded) stream.end();
      cb(err);
    },
  });
  stream.on('data', (c: Buffer) => {
    if (!d.push(c)) stream.pause();
  });
  stream.on('end', () => d.push(null));
  stream.on('error', (e) => d.destroy(e));
  stream.on('close', () => d.destroy());
  // The adapters hear a failed stream as its 'close'; an unheard 'error' would be thrown.
  d.on('error', (err) => log.debug({ err: err.message }, 'tunnel stream error'));
  return d;
}
