// One proxy worker's part of the agent: its outbound (or, without capture, VIP) listeners and its
// tunnel listener, all bound with SO_REUSEPORT beside the other workers'; the proxy engine's state
// (routes, balancers, health checks, upstream pools); its own metrics registry. The main thread
// (agent.ts) owns config, the kernel datapath and certificates and drives this through messages
// (workers/protocol.ts): a config is prepared (built, checked) and then committed (switched to).
import type * as net from 'node:net';
import { openOrigDst, type OrigDstReader } from './capture/origdst';
import { stripMapped } from './capture/layout';
import type { Addr } from './capture/types';
import type { MeshConfig, MeshNode } from './config/model';
import { deepFreeze } from './config/freeze';
import { BalancerSet, localityOfLabels, parseLocality, type SelfLocality, type SharedEjection } from './balance';
import { Prober } from './upstream/prober';
import { MeshError } from './errors';
import { createOutboundListener, type OutboundListener } from './downstream/outbound';
import { logger } from './log';
import { ServiceIndex } from './state/services';
import { AccessLog, DISABLED_ACCESS_LOG } from './telemetry/accesslog';
import { sourceResolver } from './telemetry/labels';
import { currentTracing, setProcessTracing, tracingFromEnv } from './telemetry/tracing';
import { Metrics } from './telemetry/metrics';
import { MeshPlane } from './meshplane';
import { CertMirror, type HeldCerts } from './identity/mirror';
import { JwksMirror } from './identity/jwks-mirror';
import { principalOf, workloadIdentity } from './identity/spiffe';
import { SharedRateLimiter } from './policy/sharedratelimit';
import type { WorkerInit } from './workers/protocol';

const log = logger('worker');

/** A config built and checked, waiting for its commit. */
interface Prepared {
  readonly gen: number;
  readonly config: MeshConfig;
  readonly partial: boolean;
  readonly index: ServiceIndex;
  readonly rateTable: SharedArrayBuffer;
}

export class DataPlane {
  private index: ServiceIndex | undefined;
  private prepared: Prepared | undefined;
  private readonly listeners = new Map<string, OutboundListener>();
  /** Listeners being bound, by key: a second listen or commit meanwhile waits for the same one. */
  private readonly opening = new Map<string, Promise<OutboundListener>>();
  readonly metrics: Metrics;
  readonly balancers: BalancerSet;
  private limiter: SharedRateLimiter;
  private readonly prober: Prober;
  private readonly certs = new CertMirror();
  /** The JWKS the main thread fetched; a request without keys asks it for a fetch. */
  readonly jwks: JwksMirror;
  private mesh: MeshPlane | undefined;
  private readonly origDst: OrigDstReader | undefined;
  private readonly accessLog: AccessLog;
  // Rebuilt per config so that each workload maps to one SourceInfo object (the metric caches key on it).
  private sourceOf: ReturnType<typeof sourceResolver> = sourceResolver(() => undefined);

  private constructor(
    private readonly init: WorkerInit,
    share: (e: SharedEjection) => void,
    askJwks: (uri: string) => void,
  ) {
    const o = init.opts;
    this.metrics = new Metrics({ cluster: o.clusterId });
    // Ejections are decided here and shared: the other workers stop picking the endpoint too.
    this.balancers = new BalancerSet({
      onEject: (e) => {
        this.metrics.outlierEjections.inc({ service: e.target.service.key, endpoint: e.target.key, reason: e.reason });
        share({ cluster: e.cluster, key: e.key, remainingMs: e.until - this.balancers.now(), count: e.multiplier });
      },
      onHealthEject: (key, remainingMs, streak) => share({ cluster: undefined, key, remainingMs, count: streak }),
      ...(o.locality !== undefined ? { self: { locality: parseLocality(o.locality), labels: {} } } : {}),
    });
    this.prober = new Prober({ health: this.balancers.health, registry: this.metrics.registry });
    this.limiter = new SharedRateLimiter({ buffer: init.rateTable });
    this.certs.set(init.certs);
    this.jwks = new JwksMirror(askJwks);
    this.jwks.setAll(init.jwks);
    this.origDst = o.capture ? openOrigDst(o.bpffs) : undefined;
    this.accessLog = o.accessLog ? new AccessLog() : DISABLED_ACCESS_LOG;
  }

  static async start(init: WorkerInit, share: (e: SharedEjection) => void, askJwks: (uri: string) => void): Promise<DataPlane> {
    const dp = new DataPlane(init, share, askJwks);
    const o = init.opts;
    // Trace propagation always; spans only when OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT names a collector.
    setProcessTracing(tracingFromEnv(process.env, dp.metrics.registry, `nodemesh~${o.nodeIp}~${o.node}`, [['host.name', o.node], ['k8s.node.name', o.node]]));
    dp.mesh = await MeshPlane.start(
      {
        node: o.node,
        nodeIp: o.nodeIp,
        trustDomain: o.trustDomain,
        tunnelPort: init.tunnelPort,
        delivery: init.delivery,
        connectTimeoutMs: o.connectTimeoutMs ?? 5000,
        accessLog: dp.accessLog,
        ...(o.trustedProxies ? { trustedProxies: o.trustedProxies } : {}),
      },
      dp.certs,
      dp.jwks,
      dp.metrics,
      dp.metrics.registry,
    );
    return dp;
  }

  tunnelPort(): number {
    return this.mesh?.tunnelAddress()?.port ?? this.init.tunnelPort;
  }

  setCerts(h: HeldCerts): void {
    this.certs.set(h);
  }

  /** Builds what generation GEN needs; throws (the main thread aborts GEN everywhere) if it cannot. */
  prepare(gen: number, config: MeshConfig, partial: boolean, rateTable: SharedArrayBuffer): void {
    const cfg = deepFreeze(config);
    this.prepared = { gen, config: cfg, partial, index: new ServiceIndex(cfg), rateTable };
  }

  abort(gen: number): void {
    if (this.prepared?.gen === gen) this.prepared = undefined;
  }

  /** Switches to the prepared generation GEN (false: nothing prepared under that number). */
  commit(gen: number): boolean {
    const p = this.prepared;
    if (p === undefined || p.gen !== gen) return false;
    this.prepared = undefined;
    const cfg = p.config;
    if (p.rateTable !== this.limiter.buffer) this.limiter = new SharedRateLimiter({ buffer: p.rateTable });
    this.mesh?.apply(cfg);
    this.index = p.index;
    currentTracing().setPolicies(cfg.telemetry);
    const td = this.init.opts.trustDomain;
    const index = p.index;
    this.sourceOf = sourceResolver((ip) => index.workloadByIp(ip), this.init.opts.clusterId, (w) => principalOf(workloadIdentity(w, td)));
    // Security labels and same-node destination reports follow how endpoints are delivered now.
    this.metrics.setDelivery(this.mesh?.deliveries());
    this.balancers.retain(cfg.services);
    // The agent's locality: --locality, else its Node's topology labels (failoverPriority reads its labels).
    this.balancers.setSelf(selfOf(cfg.nodes.find((n) => n.name === this.init.opts.node), this.init.opts.locality));
    // A partial view (before discovery's first list) lacks services whose checks would restart, and
    // its missing services' series come back.
    if (!p.partial) this.prober.update(cfg);
    if (!p.partial) void this.metrics.retainServices(cfg.services).catch((e: unknown) => log.warn({ err: e }, 'dropping metric series failed'));
    if (!this.init.opts.capture) void this.syncVipListeners(cfg);
    return true;
  }

  /** Opens the outbound listener on nodeIp:PORT (capture); returns its fd for nm_listeners and its port. */
  async listen(port: number): Promise<{ fd: number | undefined; port: number }> {
    const o = this.init.opts;
    const key = `${o.nodeIp}:${port}`;
    const l = this.listeners.get(key) ?? (await this.open(key, o.nodeIp, port));
    return { fd: l.fd(), port: l.address().port };
  }

  private open(key: string, host: string, port: number): Promise<OutboundListener> {
    const running = this.opening.get(key);
    if (running !== undefined) return running;
    const p = this.bind(key, host, port).finally(() => this.opening.delete(key));
    this.opening.set(key, p);
    return p;
  }

  private async bind(key: string, host: string, port: number): Promise<OutboundListener> {
    const o = this.init.opts;
    const reader = this.origDst;
    const listener = await createOutboundListener({
      host,
      port,
      deps: {
        originalDst: (s: net.Socket): Addr | undefined => {
          if (s.remoteAddress === undefined || s.localAddress === undefined || s.remotePort === undefined || s.localPort === undefined) return undefined;
          const local = { address: stripMapped(s.localAddress), port: s.localPort };
          // Without capture clients dial the VIP listeners themselves: the local address is the destination.
          return reader ? reader.lookup({ address: s.remoteAddress, port: s.remotePort }, local) : local;
        },
        index: () => this.currentIndex(),
        sourceOf: (peer: Addr) => this.sourceOf(peer),
        dial: (client: Addr, target: Addr) => this.mesh?.upstreamFor(client.address, target),
        accessLog: this.accessLog,
        metrics: this.metrics,
        balancers: this.balancers,
        rateLimiter: { takeAll: (limits, req, now) => this.limiter.takeAll(limits, req, now) },
        timeouts: {
          ...(o.connectTimeoutMs !== undefined ? { connectMs: o.connectTimeoutMs } : {}),
          ...(o.requestTimeoutMs !== undefined ? { requestMs: o.requestTimeoutMs } : {}),
          ...(o.headerTimeoutMs !== undefined ? { headersMs: o.headerTimeoutMs } : {}),
          ...(o.idleTimeoutMs !== undefined ? { downstreamIdleMs: o.idleTimeoutMs } : {}),
        },
      },
    });
    this.listeners.set(key, listener);
    return listener;
  }

  private currentIndex(): ServiceIndex {
    if (!this.index) throw new MeshError('NO_ROUTE', 'no config loaded yet');
    return this.index;
  }

  /** --no-capture: listen on every proxy-mode VIP:port so clients can dial the VIPs directly. */
  private async syncVipListeners(cfg: MeshConfig): Promise<void> {
    const want = new Set<string>();
    for (const s of cfg.services) for (const a of s.addresses) for (const p of s.ports) want.add(`${a}:${p.number}`);
    for (const [key, l] of this.listeners) if (!want.has(key)) (this.listeners.delete(key), void l.close(0));
    for (const key of want) {
      if (this.listeners.has(key) || this.opening.has(key)) continue;
      const i = key.lastIndexOf(':');
      try {
        await this.open(key, key.slice(0, i), Number(key.slice(i + 1)));
      } catch (e) {
        log.warn({ err: e, vip: key }, 'cannot listen on VIP (only loopback VIPs work without capture)');
      }
    }
  }

  /** Requests this worker handled (all services), for the per-worker counter. */
  requestCount(): number {
    let n = 0;
    for (const s of this.metrics.requests.all()) n += s.value;
    return n;
  }

  /** Stops accepting, lets in-flight requests finish (bounded by DRAIN_MS), releases everything. */
  async close(drainMs: number): Promise<void> {
    this.prober.stop();
    await Promise.all([...this.listeners.values()].map((l) => l.close(drainMs)));
    this.listeners.clear();
    await this.mesh?.close();
    this.origDst?.close();
    currentTracing().close();
  }
}

/** The agent's place: FLAG (--locality), else its Node's labels (topology.kubernetes.io/region, zone; topology.istio.io/subzone). */
function selfOf(node: MeshNode | undefined, flag: string | undefined): SelfLocality | undefined {
  const labels = node?.labels ?? {};
  const locality = parseLocality(flag ?? localityOfLabels(labels));
  return locality === undefined && node?.labels === undefined ? undefined : { locality, labels };
}
