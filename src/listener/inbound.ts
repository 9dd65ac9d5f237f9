// The destination side of the mesh: a stream that arrived through the mTLS tunnel is authorized with
// the caller's verified identity (Istio order, src/policy/authz.ts) and delivered to the local pod from
// the agent's delivery address, which the pod's kernel policy trusts under STRICT. HTTP ports are
// authorized per request (methods, paths, hosts, headers); other ports per connection.
import * as http from 'node:http';
import * as net from 'node:net';
import * as http2 from 'node:http2';
import { Duplex } from 'node:stream';
import type { Endpoint, Service, Workload } from '../config/model';
import { principalOf, tryParseSpiffeId } from '../identity/spiffe';
import { logger } from '../log';
import type { AuthzRequest, MeshAuthz } from '../policy/authz';
import type { Topology } from '../state/topology';
import { destinationInfo, sourceFromWorkload, UNKNOWN, UNKNOWN_SOURCE, baseLabels, type SourceInfo } from '../telemetry/labels';
import { HttpStats, TcpStats, type Metrics } from '../telemetry/metrics';
import { splice } from '../tunnel/splice';
import { InboundH2 } from './inbound-h2';
import type { TunnelStreamContext } from '../tunnel/server';
import type { Addr } from '../capture/types';

const log = logger('inbound');
const http2constants = http2.constants;
export const RBAC_DENIED = 'RBAC: access denied';

export interface InboundDeps {
  topology(): Topology;
  authz(): MeshAuthz;
  metrics: Metrics;
  /** Local source address for connections to pods (trusted by STRICT), when configured on this node. */
  deliveryAddress: string | undefined;
  connectTimeoutMs: number;
}

interface StreamInfo {
  readonly workload: Workload;
  readonly service: Service | undefined;
  readonly endpoint: Endpoint | undefined;
  readonly target: Addr;
  readonly source: SourceInfo;
  readonly principal: string;
  readonly sourceIp: string;
}

export class InboundHandler {
  private readonly httpServer: http.Server;
  private readonly info = new WeakMap<object, StreamInfo>();
  private readonly statsCache = new Map<string, HttpStats | TcpStats>();
  private readonly upstreamAgent: http.Agent;
  private readonly h2: InboundH2<StreamInfo>;

  constructor(private readonly deps: InboundDeps) {
    this.upstreamAgent = new http.Agent({ keepAlive: true, maxFreeSockets: 64, ...(deps.deliveryAddress ? { localAddress: deps.deliveryAddress } : {}) });
    this.httpServer = http.createServer({ maxHeaderSize: 60 * 1024, requireHostHeader: false, noDelay: true }, (req, res) => this.onRequest(req, res));
    this.httpServer.on('clientError', (_e, sock) => sock.destroy());
    this.httpServer.on('error', (e) => log.warn({ err: e }, 'inbound http server error'));
    this.h2 = new InboundH2<StreamInfo>({
      authorize: (info, http) => this.deps.authz().authorize(info.workload, this.request(info, http)).allowed,
      stats: (info, grpc) => this.stats(info, grpc ? 'grpc' : 'http', (b) => new HttpStats(this.deps.metrics, b)),
      target: (info) => info.target,
      deliveryAddress: deps.deliveryAddress,
      deniedBody: RBAC_DENIED,
    });
  }

  /** Entry point for the tunnel server. */
  async onStream(ctx: TunnelStreamContext): Promise<void> {
    const t = this.deps.topology();
    const workload = t.workloadByIp(ctx.target.address);
    if (!workload || !t.isLocalIp(workload.address)) return ctx.reject(404);
    const id = tryParseSpiffeId(ctx.peerIdentity);
    // `forwarded` is the peer agent's claim: believe it only for a workload of the verified identity.
    const claimed = ctx.forwardedFor ? t.workloadByIp(ctx.forwardedFor.address) : undefined;
    const srcWl = claimed && t.identityOf(claimed) === ctx.peerIdentity ? claimed : undefined;
    const sourceIp = srcWl?.address ?? ctx.remote.address;
    const principal = principalOf(ctx.peerIdentity);
    const source: SourceInfo = srcWl ? sourceFromWorkload(srcWl, this.deps.metrics.cluster, principal) : { ...UNKNOWN_SOURCE, principal, namespace: id?.namespace ?? UNKNOWN };
    const local = t.localPort(ctx.target.address, ctx.target.port);
    const info: StreamInfo = { workload, service: local?.service, endpoint: local?.endpoint, target: ctx.target, source, principal, sourceIp };
    if (local?.h2 === true) {
      ctx.accept();
      const conn = streamAsConnection(ctx.stream);
      this.h2.serve(conn, info);
      conn.resume();
      return;
    }
    if (local?.http === true) {
      ctx.accept();
      const conn = streamAsConnection(ctx.stream);
      // An HTTP port also takes h2 with prior knowledge (the source agent speaks the client's protocol).
      const h2 = await opensWithPreface(conn);
      if (h2 === undefined) return void conn.destroy();
      if (h2) this.h2.serve(conn, info);
      else {
        this.info.set(conn, info);
        this.httpServer.emit('connection', conn);
      }
      conn.resume();
      return;
    }
    await this.tcp(ctx, info);
  }

  private request(info: StreamInfo, http?: AuthzRequest['http']): AuthzRequest {
    const id = tryParseSpiffeId(`spiffe://${info.principal}`);
    return {
      source: { principal: info.principal, ...(id ? { namespace: id.namespace } : {}), ip: info.sourceIp },
      destination: { ip: info.target.address, port: info.target.port },
      ...(http ? { http } : {}),
    };
  }

  private stats<T extends HttpStats | TcpStats>(info: StreamInfo, protocol: 'http' | 'grpc' | 'tcp', make: (base: Record<string, string>) => T): T {
    const key = `${protocol}|${info.principal}|${info.source.workload}|${info.workload.namespace}/${info.workload.name}|${info.service?.key ?? ''}`;
    let s = this.statsCache.get(key) as T | undefined;
    if (!s) {
      const t = this.deps.topology();
      const dst = { ...destinationInfo(info.service, info.endpoint, this.deps.metrics.cluster), principal: principalOf(t.identityOf(info.workload)) };
      s = make(baseLabels('destination', info.source, dst, protocol, 'mutual_tls'));
      this.statsCache.set(key, s);
    }
    return s;
  }

  private async tcp(ctx: TunnelStreamContext, info: StreamInfo): Promise<void> {
    const stats = this.stats(info, 'tcp', (b) => new TcpStats(this.deps.metrics, b));
    const decision = this.deps.authz().authorize(info.workload, this.request(info));
    stats.opened();
    if (!decision.allowed) {
      log.info({ principal: info.principal, target: info.target, policy: decision.policy, reason: decision.reason }, 'tcp connection denied');
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

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const info = this.info.get(req.socket);
    const started = performance.now();
    if (!info) return void res.writeHead(500).end();
    const stats = this.stats(info, 'http', (b) => new HttpStats(this.deps.metrics, b));
    const path = req.url ?? '/';
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
    const decision = this.deps.authz().authorize(info.workload, this.request(info, { method: req.method ?? 'GET', path, host: req.headers.host ?? '', headers }));
    if (!decision.allowed) {
      req.resume();
      res.writeHead(403, { 'content-type': 'text/plain', 'content-length': RBAC_DENIED.length }).end(RBAC_DENIED);
      stats.record(403, 'DENY', performance.now() - started, 0, RBAC_DENIED.length);
      return;
    }
    let reqBytes = 0;
    let respBytes = 0;
    req.on('data', (d: Buffer) => (reqBytes += d.length));
    const up = http.request(
      { host: info.target.address, port: info.target.port, method: req.method, path, headers: req.headers, agent: this.upstreamAgent, timeout: this.deps.connectTimeoutMs },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.on('data', (d: Buffer) => (respBytes += d.length));
        ur.pipe(res);
        ur.on('end', () => stats.record(ur.statusCode ?? 0, '-', performance.now() - started, reqBytes, respBytes));
      },
    );
    // Bounded, and cancelled when the caller goes away (its stream reset closes our response).
    up.on('timeout', () => up.destroy(Object.assign(new Error('upstream timeout'), { code: 'ETIMEDOUT' })));
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(503).end('upstream connect error or disconnect/reset before headers');
      else res.destroy();
      stats.record(503, 'UF', performance.now() - started, reqBytes, 0);
    });
    req.pipe(up);
  }

  /** New config: metric handles are rebuilt on demand, so removed workloads leave no cached handle. */
  configChanged(): void {
    this.statsCache.clear();
  }

  close(): void {
    this.upstreamAgent.destroy();
    this.httpServer.close();
    this.h2.close();
  }
}

/**
 * An HTTP/2 stream as a plain Duplex for node's http.Server (handed an Http2Stream directly, it writes
 * a corrupt status line). Strings are encoded before they reach the stream; backpressure is kept.
 */
function streamAsConnection(stream: http2.ServerHttp2Stream): Duplex {
  const d = new Duplex({
    read: () => void stream.resume(),
    write: (chunk: Buffer, _enc, cb) => void stream.write(chunk, cb),
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
  return d;
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * Whether a connection opens with the h2 preface: reads until its first bytes differ from it or hold
 * all of it, then puts them back (paused). undefined when the stream ended or failed first.
 */
function opensWithPreface(conn: Duplex): Promise<boolean | undefined> {
  return new Promise((resolve) => {
    let buf: Buffer = Buffer.alloc(0);
    const done = (v: boolean | undefined): void => {
      conn.removeListener('data', onData);
      conn.removeListener('end', onEnd);
      conn.removeListener('close', onEnd);
      conn.pause();
      if (v !== undefined && buf.length > 0) conn.unshift(buf);
      resolve(v);
    };
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const n = Math.min(buf.length, PREFACE.length);
      if (!buf.subarray(0, n).equals(PREFACE.subarray(0, n))) done(false);
      else if (n === PREFACE.length) done(true);
    };
    // Nothing can be put back after the end: a connection that ended this early carried no request.
    const onEnd = (): void => done(undefined);
    conn.on('data', onData);
    conn.once('end', onEnd);
    conn.once('close', onEnd);
  });
}
