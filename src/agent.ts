// Composition root: builds the modules in flow order (config → capture → listener → telemetry),
// applies reloads atomically, and owns start, drain and stop.
import * as net from 'node:net';
import { BpfDatapath } from './capture/bpf';
import { ListenerSlots } from './capture/listeners';
import { waitUntil, bindRetrying, enableListenerMigration } from './handover';
import { stripMapped } from './capture/layout';
import { NoCapture } from './capture/none';
import type { Addr, Datapath } from './capture/types';
import type { MeshConfig, MeshNode } from './config/model';
import type { LoadResult } from './config/load';
import { BalancerSet, localityOfLabels, parseLocality, type SelfLocality } from './balance';
import { Prober } from './upstream/prober';
import { MeshError } from './errors';
import { createOutboundListener, type OutboundListener } from './downstream/outbound';
import { logger } from './log';
import { ServiceIndex } from './state/services';
import { MemoryReclaimer } from './state/reclaim';
import { startAdmin, type AdminServer } from './telemetry/admin';
import { serveAdminApi, type AdminApiHandle, type AdminSource } from './telemetry/admin-api';
import { AccessLog, DISABLED_ACCESS_LOG } from './telemetry/accesslog';
import { sourceResolver } from './telemetry/labels';
import { currentTracing, setProcessTracing, tracingFromEnv } from './telemetry/tracing';
import { Metrics } from './telemetry/metrics';
import { NodeMetrics } from './telemetry/node';
import { collectNodeFacts, registerProcessMetrics } from './telemetry/agentinfo';
import { MeshPlane } from './meshplane';
import { principalOf, workloadIdentity } from './identity/spiffe';
import { LocalRateLimiter } from './policy/ratelimit';
import { MeshSources } from './discovery/sources';
import { agentReserved } from './config/reserved';
import { meshedCgroups } from './capture/meshed';
import { writeServiceNames } from './capture/names';
import type { KPod } from './discovery/objects';
import { startDns, type AgentDns } from './dns/agent';

import type { AgentOptions } from './options';

const log = logger('agent');

export class Agent {
  private index: ServiceIndex | undefined;
  private current: MeshConfig | undefined;
  private datapath: Datapath | undefined;
  private sources: MeshSources | undefined;
  private readonly listeners = new Map<string, OutboundListener>();
  private admin: AdminServer | undefined;
  private mesh: MeshPlane | undefined;
  private draining = false;
  /** This agent's slot in nm_listeners (capture only): how connect4 and the next agent see it listen. */
  private slots: ListenerSlots | undefined;
  readonly metrics: Metrics;
  readonly balancers: BalancerSet;
  /** One limiter for every listener, so a LocalRateLimit's buckets survive reloads that keep it. */
  readonly rateLimiter = new LocalRateLimiter();
  /** Gives a big config's memory back to the system once a much smaller one replaced it. */
  private readonly reclaimer = new MemoryReclaimer();
  private readonly node: NodeMetrics;
  /** ServiceEntry name resolution and the node's DNS proxy. */
  private dns: AgentDns | undefined;
  /** Active health checks (HealthCheck); verdicts go to the balancers' health table. */
  private readonly prober: Prober;
  /** The admin API (nodemesh stat, nodemesh config), configs applied since start, and when it started. */
  private adminApi: AdminApiHandle | undefined;
  private generation = 0;
  private readonly startedAt = Date.now();

  private constructor(private readonly opts: AgentOptions) {
    this.metrics = new Metrics({ cluster: opts.clusterId });
    registerProcessMetrics(this.metrics.registry);
    this.balancers = new BalancerSet({
      onEject: (e) => this.metrics.outlierEjections.inc({ service: e.target.service.key, endpoint: e.target.key, reason: e.reason }),
      ...(opts.locality !== undefined ? { self: { locality: parseLocality(opts.locality), labels: {} } } : {}),
    });
    this.prober = new Prober({ health: this.balancers.health, registry: this.metrics.registry });
    this.node = new NodeMetrics(this.metrics.registry, {
      datapath: () => this.datapath,
      serviceById: (id) => this.index?.byId(id),
      datapathEvents: () => (this.datapath instanceof BpfDatapath ? this.datapath.globals() : {}),
    });
  }

  static async start(opts: AgentOptions): Promise<Agent> {
    const agent = new Agent(opts);
    await agent.boot();
    // Node facts once, after start: the read spawns a few short commands and must not delay serving.
    void collectNodeFacts(agent.metrics.registry);
    return agent;
  }

  private async boot(): Promise<void> {
    const o = this.opts;
    // Capture first: a missing privilege or mount must stop the agent before it binds anything.
    this.datapath = o.capture
      ? BpfDatapath.open({ cgroup: o.cgroup, bpffs: o.bpffs, objects: o.objects, agent: { address: o.nodeIp, port: o.outboundPort }, capacity: o.mapCapacity ?? {} })
      : new NoCapture();
    if (o.capture) {
      enableListenerMigration();
      this.slots = ListenerSlots.open(o.bpffs);
    }
    this.admin = await bindRetrying('admin', () => startAdmin({
      host: o.adminHost,
      metricsPort: o.metricsPort,
      readyPort: o.readyPort,
      registry: this.metrics.registry,
      ready: () => this.readiness(),
    }));
    if (o.adminPort !== undefined) this.adminApi = serveAdminApi(o.adminPort, this.adminSource());
    const dp = this.datapath;
    // Trace propagation always; spans only when OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT names a collector.
    setProcessTracing(tracingFromEnv(process.env, this.metrics.registry, `nodemesh~${o.nodeIp}~${o.node}`, [['host.name', o.node], ['k8s.node.name', o.node]]));
    this.mesh = await MeshPlane.start(
      {
        node: o.node,
        nodeIp: o.nodeIp,
        trustDomain: o.trustDomain,
        tunnelPort: o.tunnelPort,
        deliveryAddress: o.deliveryAddress,
        connectTimeoutMs: o.connectTimeoutMs ?? 5000,
        accessLog: o.accessLog ? new AccessLog() : DISABLED_ACCESS_LOG,
        ...(o.certTtlSeconds ? { certTtlSeconds: o.certTtlSeconds } : {}),
        ...(o.trustedProxies ? { trustedProxies: o.trustedProxies } : {}),
        ...(o.ca ? { ca: o.ca } : {}),
      },
      this.metrics,
      this.metrics.registry,
      { syncInbound: (modes, trusted) => (dp instanceof BpfDatapath ? dp.syncInbound(modes, trusted) : undefined) },
    );
    // The ConfigMap and Kubernetes discovery, composed into one view; the first ConfigMap read is
    // applied before start() returns, discovery follows as it syncs.
    let sources: MeshSources | undefined;
    const reserved = agentReserved(o);
    // The client library is loaded only when discovery is on (it takes a while to load).
    const discovery = o.kubernetes ? (await import('./discovery/start')).startDiscovery({ ...o.kubernetes, node: o.node, clusterDomain: o.clusterDomain, registry: this.metrics.registry, reserved, onChange: () => sources?.changed() }) : undefined;
    const cgroups = o.capture && discovery ? meshedCgroups<KPod>(o.cgroup) : undefined;
    this.dns = startDns(o, this.metrics.registry, () => sources?.changed());
    const dns = this.dns;
    sources = new MeshSources({
      config: o.config,
      reserved,
      complete: (cfg) => dns.complete(cfg),
      discovery,
      hooks: {
        apply: (r, partial) => this.apply(r, partial),
        reloaded: (ok) => this.node.reloaded(ok),
        readFailed: (e) => this.node.configReadFailed(typeof e.details.errno === 'string' ? e.details.errno : undefined),
        syncMeshed: (pods) => {
          // Without discovery the kernel's opt-in table is left as it is (the agent does not own it).
          if (!(this.datapath instanceof BpfDatapath) || cgroups === undefined) return [];
          const found = cgroups.resolve(pods);
          this.datapath.syncMeshed(found.ids);
          discovery?.metrics.meshedPods.set(found.ids?.length ?? 0);
          return found.pending;
        },
      },
    });
    this.sources = sources;
    await sources.start();
    await dns.listen();
    // Meshed pods' DNS over UDP port 53 goes to the proxy (the kernel rewrites it) while it listens.
    // --no-dns clears it; a proxy that could not bind leaves it to the agent that holds the port.
    const dnsAt = dns.address();
    if (this.datapath instanceof BpfDatapath && (dnsAt !== undefined || o.dnsProxy === false)) this.datapath.setDnsRedirect(dnsAt);
    if (o.capture) await this.listenOutbound();
    // What start-up left behind (module loading, compilation, the first config) is given back once.
    this.reclaimer.started();
  }

  /**
   * The outbound listener opens once the config is applied (and discovery synced, or 10 s passed):
   * until then connect4 sends pods to an agent that is still draining, or, with none listening, to an
   * endpoint directly, rather than to an agent that would answer "no route".
   */
  private async listenOutbound(): Promise<void> {
    const o = this.opts;
    const synced = await waitUntil(() => this.index !== undefined && (this.sources?.pending().length ?? 0) === 0, 10_000);
    if (!synced) log.warn({ pending: this.sources?.pending() ?? [] }, 'opening the outbound listener before the mesh view is complete');
    const key = `${o.nodeIp}:${o.outboundPort}`;
    await bindRetrying('outbound', () => this.listen(key, o.nodeIp, o.outboundPort));
    const fd = this.listeners.get(key)?.fd();
    if (this.slots && fd !== undefined) this.slots.register(fd);
  }

  private async listen(key: string, host: string, port: number): Promise<void> {
    const dp = (): Datapath | undefined => this.datapath;
    const listener = await createOutboundListener({
      host,
      port,
      deps: {
        originalDst: (s: net.Socket): Addr | undefined =>
          s.remoteAddress && s.localAddress && s.remotePort !== undefined && s.localPort !== undefined
            ? dp()?.originalDst({ address: s.remoteAddress, port: s.remotePort }, { address: stripMapped(s.localAddress), port: s.localPort })
            : undefined,
        index: () => this.currentIndex(),
        sourceOf: (peer: Addr) => this.sourceOf(peer),
        dial: (client: Addr, target: Addr) => this.mesh?.upstreamFor(client.address, target),
        accessLog: this.opts.accessLog ? new AccessLog() : DISABLED_ACCESS_LOG,
        metrics: this.metrics,
        balancers: this.balancers,
        rateLimiter: this.rateLimiter,
        timeouts: {
          ...(this.opts.connectTimeoutMs !== undefined ? { connectMs: this.opts.connectTimeoutMs } : {}),
          ...(this.opts.requestTimeoutMs !== undefined ? { requestMs: this.opts.requestTimeoutMs } : {}),
          ...(this.opts.headerTimeoutMs !== undefined ? { headersMs: this.opts.headerTimeoutMs } : {}),
          ...(this.opts.idleTimeoutMs !== undefined ? { downstreamIdleMs: this.opts.idleTimeoutMs } : {}),
        },
      },
    });
    this.listeners.set(key, listener);
  }

  // Rebuilt per config so that each workload maps to one SourceInfo object (the metric caches key on it).
  private sourceOf: (peer: Addr) => ReturnType<ReturnType<typeof sourceResolver>> = sourceResolver(() => undefined);

  private currentIndex(): ServiceIndex {
    if (!this.index) throw new MeshError('NO_ROUTE', 'no config loaded yet');
    return this.index;
  }

  /**
   * Sync kernel maps → mesh plane → swap (validation was done by the composer, which calls this one
   * config at a time). Any failure restores the last good config; false tells the composer so.
   */
  private async apply(result: LoadResult, partial = false): Promise<boolean> {
    if (!result.ok) return false;
    const cfg = result.config;
    try {
      this.datapath?.sync(cfg, { prune: !partial });
      await this.mesh?.apply(cfg, { partial });
    } catch (e) {
      log.error({ err: e }, 'config rejected: it could not be applied to the kernel maps or the mesh plane; the previous config keeps serving');
      if (this.current) {
        const last = this.current;
        try {
          this.datapath?.sync(last);
          await this.mesh?.apply(last);
        } catch (e2) {
          log.error({ err: e2 }, 'restoring the previous config failed');
        }
      }
      return false;
    }
    const index = new ServiceIndex(cfg);
    this.index = index;
    this.current = cfg;
    this.generation++;
    this.dns?.applied(cfg);
    currentTracing().setPolicies(cfg.telemetry);
    const td = this.opts.trustDomain;
    this.sourceOf = sourceResolver((ip) => index.workloadByIp(ip), this.opts.clusterId, (w) => principalOf(workloadIdentity(w, td)));
    // Security labels and same-node destination reports follow how endpoints are delivered now.
    this.metrics.setDelivery(this.mesh?.deliveries());
    this.balancers.retain(cfg.services);
    // The agent's locality: --locality, else its Node's topology labels (failoverPriority reads its labels).
    this.balancers.setSelf(selfOf(cfg.nodes.find((n) => n.name === this.opts.node), this.opts.locality));
    // A partial view (before discovery's first list) lacks services whose checks would restart.
    if (!partial) this.prober.update(cfg);
    // Series of services that left go too (not on a partial view, whose missing services come back).
    if (!partial) void this.metrics.retainServices(cfg.services).catch((e: unknown) => log.warn({ err: e }, 'dropping metric series failed'));
    this.reclaimer.applied(cfg);
    this.rateLimiter.retain(cfg.traffic?.rateLimits ?? []);
    // `nodemesh stat` names services from this file (bpffs holds only pins); a failure costs only names.
    const namesProblem = this.opts.capture ? writeServiceNames(this.opts.bpffs, cfg.services) : undefined;
    if (namesProblem) log.warn(namesProblem);
    log.info({ services: cfg.services.length, workloads: cfg.workloads.length, hash: cfg.source.hash.slice(0, 12) }, 'config applied');
    if (!this.opts.capture) void this.syncVipListeners(cfg);
    return true;
  }


  /** --no-capture: listen on every proxy-mode VIP:port so clients can dial the VIPs directly. */
  private async syncVipListeners(cfg: MeshConfig): Promise<void> {
    const want = new Set<string>();
    for (const s of cfg.services) for (const a of s.addresses) for (const p of s.ports) want.add(`${a}:${p.number}`);
    for (const [key, l] of this.listeners) if (!want.has(key)) (this.listeners.delete(key), void l.close(0));
    for (const key of want) {
      if (this.listeners.has(key)) continue;
      const i = key.lastIndexOf(':');
      try {
        await this.listen(key, key.slice(0, i), Number(key.slice(i + 1)));
      } catch (e) {
        log.warn({ err: e, vip: key }, 'cannot listen on VIP (only loopback VIPs work without capture)');
      }
    }
  }

  /** What the admin API reads, at call time. */
  private adminSource(): AdminSource {
    return {
      node: this.opts.node, trustDomain: this.opts.trustDomain, startedAt: this.startedAt, metrics: this.metrics,
      config: () => this.current, generation: () => this.generation, datapath: () => this.datapath,
      datapathEvents: () => (this.datapath instanceof BpfDatapath ? this.datapath.globals() : {}),
      certificates: () => this.mesh?.certificates() ?? { root: undefined, held: [] },
    };
  }

  readiness(): { ready: boolean; reasons: string[] } {
    const reasons: string[] = [];
    if (this.draining) reasons.push('draining');
    if (!this.index) reasons.push('no valid config loaded');
    if (!this.datapath?.attached()) reasons.push('eBPF programs not attached');
    if (this.opts.capture && this.listeners.size === 0) reasons.push('outbound listener not open yet');
    reasons.push(...(this.sources?.pending() ?? []));
    reasons.push(...(this.mesh?.pending() ?? []));
    return { ready: reasons.length === 0, reasons };
  }

  /**
   * Hand over and stop: keep accepting until the next agent listens (or the drain time is up), then stop
   * accepting, let in-flight requests finish (bounded), release fds. Pins stay.
   */
  async stop(drainMs = this.opts.drainTimeoutMs ?? 5000): Promise<void> {
    this.draining = true;
    this.sources?.stop();
    this.reclaimer.close();
    this.prober.stop();
    const slots = this.slots;
    let successor = false;
    if (slots && this.listeners.size > 0) {
      successor = await waitUntil(() => slots.othersListening() > 0, drainMs);
      log.info({ successor }, successor ? 'the next agent listens: handing over' : 'no next agent within the drain time: closing the listener');
      // The successor answers probes and scrapes from now on.
      if (successor) {
        await this.admin?.close();
        this.admin = undefined;
        await this.adminApi?.close();
      }
      slots.unregister();
    }
    // A next agent's DNS proxy shares the port (SO_REUSEPORT) and keeps the redirect; without one, pods
    // use their own resolver again.
    const dnsWasOn = this.dns?.address() !== undefined;
    this.dns?.stop();
    if (this.datapath instanceof BpfDatapath && dnsWasOn && !successor) this.datapath.setDnsRedirect(undefined);
    await Promise.all([...this.listeners.values()].map((l) => l.close(drainMs)));
    this.listeners.clear();
    await this.mesh?.close();
    await this.admin?.close();
    await this.adminApi?.close();
    this.datapath?.close();
    slots?.close();
    currentTracing().close();
    log.info('agent stopped');
  }
}

/** The agent's place: FLAG (--locality), else its Node's labels (topology.kubernetes.io/region, zone; topology.istio.io/subzone). */
function selfOf(node: MeshNode | undefined, flag: string | undefined): SelfLocality | undefined {
  const labels = node?.labels ?? {};
  const locality = parseLocality(flag ?? localityOfLabels(labels));
  return locality === undefined && node?.labels === undefined ? undefined : { locality, labels };
}
