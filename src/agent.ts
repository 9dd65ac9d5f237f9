// Composition root: builds the modules in flow order (config → capture → listener → telemetry),
// applies reloads atomically, and owns start, drain and stop.
import * as net from 'node:net';
import * as path from 'node:path';
import { BpfDatapath } from './capture/bpf';
import { stripMapped } from './capture/layout';
import { NoCapture } from './capture/none';
import type { Addr, Datapath } from './capture/types';
import type { MeshConfig } from './config/model';
import { formatIssues, type LoadResult } from './config/load';
import { ConfigWatcher } from './config/watch';
import { BalancerSet } from './balance';
import { MeshError } from './errors';
import { createOutboundListener, type OutboundListener } from './listener/outbound';
import { logger } from './log';
import { ServiceIndex } from './state/services';
import { startAdmin, type AdminServer } from './telemetry/admin';
import { AccessLog, DISABLED_ACCESS_LOG } from './telemetry/accesslog';
import { sourceResolver } from './telemetry/labels';
import { Metrics } from './telemetry/metrics';
import { NodeMetrics } from './telemetry/node';
import { MeshPlane } from './meshplane';
import { principalOf, workloadIdentity } from './identity/spiffe';
import { LocalRateLimiter } from './policy/ratelimit';

const log = logger('agent');

export interface AgentOptions {
  config: string;
  capture: boolean;
  cgroup: string;
  bpffs: string;
  objects: string;
  node: string;
  nodeIp: string;
  outboundPort: number;
  adminHost: string;
  metricsPort: number;
  readyPort: number;
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
  accessLog: boolean;
  trustDomain: string;
  tunnelPort: number;
  ca?: { address: string; rootFile: string; tokenFile: string };
  deliveryAddress: string;
  certTtlSeconds?: number;
}

export const DEFAULTS = {
  cgroup: '/sys/fs/cgroup',
  bpffs: '/sys/fs/bpf/nodemesh',
  objects: path.resolve(__dirname, '../../build/bpf'),
  nodeIp: '127.0.0.1',
  outboundPort: 15001,
  adminHost: '0.0.0.0',
  metricsPort: 15020,
  readyPort: 15021,
  tunnelPort: 15008,
  trustDomain: 'cluster.local',
} as const;

export class Agent {
  private index: ServiceIndex | undefined;
  private current: MeshConfig | undefined;
  private datapath: Datapath | undefined;
  private watcher: ConfigWatcher | undefined;
  private readonly listeners = new Map<string, OutboundListener>();
  private admin: AdminServer | undefined;
  private mesh: MeshPlane | undefined;
  private draining = false;
  readonly metrics = new Metrics();
  readonly balancers = new BalancerSet({
    onEject: (e) => this.metrics.outlierEjections.inc({ service: e.target.service.key, endpoint: e.target.key, reason: e.reason }),
  });
  /** One limiter for every listener, so a LocalRateLimit's buckets survive reloads that keep it. */
  readonly rateLimiter = new LocalRateLimiter();
  private readonly node: NodeMetrics;

  private constructor(private readonly opts: AgentOptions) {
    this.node = new NodeMetrics(this.metrics.registry, {
      datapath: () => this.datapath,
      serviceById: (id) => this.index?.byId(id),
      datapathEvents: () => (this.datapath instanceof BpfDatapath ? this.datapath.globals() : {}),
    });
  }

  static async start(opts: AgentOptions): Promise<Agent> {
    const agent = new Agent(opts);
    await agent.boot();
    return agent;
  }

  private async boot(): Promise<void> {
    const o = this.opts;
    // Capture first: a missing privilege or mount must stop the agent before it binds anything.
    this.datapath = o.capture
      ? BpfDatapath.open({ cgroup: o.cgroup, bpffs: o.bpffs, objects: o.objects, agent: { address: o.nodeIp, port: o.outboundPort } })
      : new NoCapture();
    this.admin = await startAdmin({
      host: o.adminHost,
      metricsPort: o.metricsPort,
      readyPort: o.readyPort,
      registry: this.metrics.registry,
      ready: () => this.readiness(),
    });
    const dp = this.datapath;
    this.mesh = await MeshPlane.start(
      {
        node: o.node,
        nodeIp: o.nodeIp,
        trustDomain: o.trustDomain,
        tunnelPort: o.tunnelPort,
        deliveryAddress: o.deliveryAddress,
        connectTimeoutMs: o.connectTimeoutMs ?? 5000,
        ...(o.certTtlSeconds ? { certTtlSeconds: o.certTtlSeconds } : {}),
        ...(o.ca ? { ca: o.ca } : {}),
      },
      this.metrics,
      this.metrics.registry,
      { syncInbound: (modes, trusted) => (dp instanceof BpfDatapath ? dp.syncInbound(modes, trusted) : undefined) },
    );
    if (o.capture) await this.listen(`${o.nodeIp}:${o.outboundPort}`, o.nodeIp, o.outboundPort);
    // The watcher hands over the first load too, then every change (ConfigMap ..data swaps included).
    this.watcher = new ConfigWatcher(o.config, (r) => void this.apply(r));
    await this.watcher.start();
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

  /** Parse → validate (done by the loader) → sync kernel maps → swap. Any failure keeps the last good. */
  /** Reloads are applied one after another, in the order the watcher reported them. */
  private applying: Promise<void> = Promise.resolve();

  private apply(result: LoadResult): Promise<void> {
    this.applying = this.applying.then(() => this.applyNow(result));
    return this.applying;
  }

  private async applyNow(result: LoadResult): Promise<void> {
    if (!result.ok) {
      log.error({ code: 'NM_E_CONFIG_SCHEMA', issues: result.issues }, `config rejected, the previous config keeps serving:\n${formatIssues(result.issues)}`);
      this.node.reloaded(false);
      return;
    }
    const cfg = result.config;
    try {
      this.datapath?.sync(cfg);
      await this.mesh?.apply(cfg);
    } catch (e) {
      log.error({ err: e }, 'config rejected: it could not be applied to the kernel maps or the mesh plane; the previous config keeps serving');
      this.node.reloaded(false);
      if (this.current) {
        const last = this.current;
        try {
          this.datapath?.sync(last);
          await this.mesh?.apply(last);
        } catch (e2) {
          log.error({ err: e2 }, 'restoring the previous config failed');
        }
      }
      return;
    }
    const index = new ServiceIndex(cfg);
    this.index = index;
    this.current = cfg;
    const td = this.opts.trustDomain;
    this.sourceOf = sourceResolver((ip) => index.workloadByIp(ip), undefined, (w) => principalOf(workloadIdentity(w, td)));
    this.balancers.retain(cfg.services);
    this.rateLimiter.retain(cfg.traffic?.rateLimits ?? []);
    this.node.reloaded(true);
    log.info({ services: cfg.services.length, hash: cfg.source.hash.slice(0, 12) }, 'config applied');
    if (!this.opts.capture) void this.syncVipListeners(cfg);
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

  readiness(): { ready: boolean; reasons: string[] } {
    const reasons: string[] = [];
    if (this.draining) reasons.push('draining');
    if (!this.index) reasons.push('no valid config loaded');
    if (!this.datapath?.attached()) reasons.push('eBPF programs not attached');
    reasons.push(...(this.mesh?.pending() ?? []));
    return { ready: reasons.length === 0, reasons };
  }

  /** Stop accepting, let in-flight connections finish (bounded), release fds. Pins stay. */
  async stop(drainMs = 5000): Promise<void> {
    this.draining = true;
    this.watcher?.stop();
    await Promise.all([...this.listeners.values()].map((l) => l.close(drainMs)));
    this.listeners.clear();
    await this.mesh?.close();
    await this.admin?.close();
    this.datapath?.close();
    log.info('agent stopped');
  }
}
