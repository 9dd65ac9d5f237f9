// Composition root of the main thread: config (file watch, Kubernetes discovery), the eBPF datapath
// and its maps, certificates, the DNS proxy, the admin, metrics and readiness ports, and the proxy
// workers (workers/pool.ts; each runs a DataPlane). Applies reloads to the kernel and then to every
// worker together, and owns start, handover and stop.
import * as path from 'node:path';
import { Counter, Registry } from './telemetry/promlite';
// The eBPF datapath's modules load only with capture (boot); --no-capture runs without them.
import type { BpfDatapath } from './capture/bpf';
import type { ListenerSlots } from './capture/listeners';
import { waitUntil, bindRetrying, enableListenerMigration } from './handover';
import { NoCapture } from './capture/none';
import type { Datapath } from './capture/types';
import type { MeshConfig } from './config/model';
import type { LoadResult } from './config/load';
import { logger } from './log';
import { MemoryReclaimer } from './state/reclaim';
import { startAdmin, type AdminServer } from './telemetry/admin';
import { serveAdminApi, type AdminApiHandle, type AdminSource } from './telemetry/admin-api';
import { concatSeries } from './telemetry/admin-stats';
import { aggregateMetrics, type MetricsJSON } from './telemetry/aggregate';
import { NodeMetrics } from './telemetry/node';
import { collectNodeFacts, registerProcessMetrics } from './telemetry/agentinfo';
import { MeshIdentity, resolveDelivery } from './meshidentity';
import { MeshSources } from './discovery/sources';
import { agentReserved } from './config/reserved';
import type { KPod } from './discovery/objects';
import { startDns, type AgentDns } from './dns/agent';
import { SharedRateLimiter, tableSlotsFor } from './policy/sharedratelimit';
import { WorkerPool } from './workers/pool';
import type { AgentOptions } from './options';

const log = logger('agent');

export class Agent {
  private current: MeshConfig | undefined;
  private datapath: Datapath | undefined;
  /** The datapath when it is the eBPF one (capture on). */
  private bpf: BpfDatapath | undefined;
  /** capture/names.ts's writer, loaded with capture. */
  private writeServiceNames: typeof import('./capture/names').writeServiceNames | undefined;
  private sources: MeshSources | undefined;
  private admin: AdminServer | undefined;
  private identity: MeshIdentity | undefined;
  private workers: WorkerPool | undefined;
  private listening = false;
  private draining = false;
  /** This agent's slots in nm_listeners (capture only): how connect4 and the next agent see it listen. */
  private slots: ListenerSlots | undefined;
  /** The main thread's metrics (process, kernel, config, DNS, discovery, certificates); workers have theirs. */
  readonly registry = new Registry();
  /** The rate limit table every worker takes tokens from; replaced by a larger one only when limits need it. */
  private rateSlots = tableSlotsFor([]);
  private rateTable = new SharedRateLimiter({ slots: this.rateSlots }).buffer;
  /** Gives a big config's memory back to the system once a much smaller one replaced it. */
  private readonly reclaimer = new MemoryReclaimer();
  private readonly node: NodeMetrics;
  /** ServiceEntry name resolution and the node's DNS proxy. */
  private dns: AgentDns | undefined;
  /** The admin API (nodemesh stat, nodemesh config), configs applied since start, and when it started. */
  private adminApi: AdminApiHandle | undefined;
  private generation = 0;
  private readonly startedAt = Date.now();

  private constructor(private readonly opts: AgentOptions) {
    registerProcessMetrics(this.registry);
    this.node = new NodeMetrics(this.registry, {
      datapath: () => this.datapath,
      serviceById: (id) => this.current?.services.find((s) => s.id === id),
      datapathEvents: () => this.bpf?.globals() ?? {},
    });
  }

  static async start(opts: AgentOptions): Promise<Agent> {
    const agent = new Agent(opts);
    await agent.boot();
    // Node facts once, after start: the read spawns a few short commands and must not delay serving.
    void collectNodeFacts(agent.registry);
    return agent;
  }

  private async boot(): Promise<void> {
    const o = this.opts;
    // Capture first: a missing privilege or mount must stop the agent before it binds anything.
    if (o.capture) {
      const { BpfDatapath } = await import('./capture/bpf');
      this.datapath = this.bpf = BpfDatapath.open({ cgroup: o.cgroup, bpffs: o.bpffs, objects: o.objects, agent: { address: o.nodeIp, port: o.outboundPort }, capacity: o.mapCapacity ?? {} });
      enableListenerMigration();
      this.slots = (await import('./capture/listeners')).ListenerSlots.open(o.bpffs);
      this.writeServiceNames = (await import('./capture/names')).writeServiceNames;
    } else this.datapath = new NoCapture();
    this.admin = await bindRetrying('admin', () => startAdmin({
      host: o.adminHost,
      metricsPort: o.metricsPort,
      readyPort: o.readyPort,
      scrape: () => this.scrape(),
      ready: () => this.readiness(),
    }));
    if (o.adminPort !== undefined) this.adminApi = serveAdminApi(o.adminPort, this.adminSource());
    const bpf = this.bpf;
    const delivery = resolveDelivery(o.deliveryAddress);
    const identity = await MeshIdentity.start(
      { node: o.node, trustDomain: o.trustDomain, delivery, ...(o.ca ? { ca: o.ca } : {}), ...(o.certTtlSeconds ? { certTtlSeconds: o.certTtlSeconds } : {}) },
      this.registry,
      { syncInbound: (modes, trusted) => bpf?.syncInbound(modes, trusted) },
    );
    this.identity = identity;
    // Certificates are issued here once; every worker gets a copy after each change.
    const workers = new WorkerPool({
      count: o.workers ?? 1,
      script: path.join(__dirname, 'worker.js'),
      init: { opts: o, delivery, tunnelPort: o.tunnelPort },
      certs: () => identity.held(),
      jwks: () => identity.jwks.all(),
      // Answered by the fetch's post (onJwks below; at once when one was made just now).
      onJwksRefresh: (uri) => void identity.jwks.refresh(uri),
      rateTable: () => this.rateTable,
      onListeners: (fds) => this.slots?.sync(fds),
    });
    this.workers = workers;
    new Counter({
      name: 'nodemesh_worker_restarts_total',
      help: 'Proxy workers that exited while the agent ran (each was replaced by a new one)',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(workers.restarts());
      },
    });
    identity.onChange(() => workers.postCerts(identity.held()));
    identity.onJwks((uri, keys) => workers.postJwks(uri, keys));
    // The workers load and bind while the config is read; each gets the running config as it joins.
    const booted = workers.start().then(() => log.info({ workers: workers.size(), ca: o.ca?.address ?? 'embedded', delivery: delivery ?? 'none' }, 'proxy workers up'));
    booted.catch(() => undefined);
    // The ConfigMap and Kubernetes discovery, composed into one view; the first ConfigMap read is
    // applied before start() returns, discovery follows as it syncs.
    let sources: MeshSources | undefined;
    const reserved = agentReserved(o);
    // The client library is loaded only when discovery is on (it takes a while to load).
    const discovery = o.kubernetes ? (await import('./discovery/start')).startDiscovery({ ...o.kubernetes, node: o.node, clusterDomain: o.clusterDomain, registry: this.registry, reserved, onChange: () => sources?.changed() }) : undefined;
    const cgroups = o.capture && discovery ? (await import('./capture/meshed')).meshedCgroups<KPod>(o.cgroup) : undefined;
    this.dns = startDns(o, this.registry, () => sources?.changed());
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
          if (this.bpf === undefined || cgroups === undefined) return [];
          const found = cgroups.resolve(pods);
          this.bpf.syncMeshed(found.ids);
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
    if (this.bpf && (dnsAt !== undefined || o.dnsProxy === false)) this.bpf.setDnsRedirect(dnsAt);
    await booted;
    if (o.capture) await this.listenOutbound();
    // What start-up left behind (module loading, compilation, the first config) is given back once.
    this.reclaimer.started();
  }

  /**
   * The outbound listeners open once the config is applied (and discovery synced, or 10 s passed):
   * until then connect4 sends pods to an agent that is still draining, or, with none listening, to an
   * endpoint directly, rather than to an agent that would answer "no route".
   */
  private async listenOutbound(): Promise<void> {
    const synced = await waitUntil(() => this.current !== undefined && (this.sources?.pending().length ?? 0) === 0, 10_000);
    if (!synced) log.warn({ pending: this.sources?.pending() ?? [] }, 'opening the outbound listener before the mesh view is complete');
    await bindRetrying('outbound', () => this.workers!.listen(this.opts.outboundPort));
    this.listening = true;
  }

  /**
   * Sync kernel maps → certificates and the inbound table → every worker (prepare, then commit); the
   * composer validated the config and calls this one config at a time. Any failure restores the last
   * good config; false tells the composer so.
   */
  private async apply(result: LoadResult, partial = false): Promise<boolean> {
    if (!result.ok) return false;
    const cfg = result.config;
    const limits = cfg.traffic?.rateLimits ?? [];
    const slots = tableSlotsFor(limits);
    // A table too small for the new limits is replaced (their buckets start full); a larger one stays.
    if (slots > this.rateSlots) {
      this.rateSlots = slots;
      this.rateTable = new SharedRateLimiter({ slots }).buffer;
    }
    try {
      this.datapath?.sync(cfg, { prune: !partial });
      this.identity?.apply(cfg, { partial });
      const out = await this.workers!.publish(cfg, partial);
      if (!out.ok) throw new Error(out.error);
    } catch (e) {
      log.error({ err: e }, 'config rejected: it could not be applied to the kernel maps or the proxy workers; the previous config keeps serving');
      if (this.current) {
        const last = this.current;
        try {
          this.datapath?.sync(last);
          this.identity?.apply(last);
        } catch (e2) {
          log.error({ err: e2 }, 'restoring the previous config failed');
        }
      }
      return false;
    }
    this.current = cfg;
    this.generation++;
    this.dns?.applied(cfg);
    this.reclaimer.applied(cfg);
    // `nodemesh stat` names services from this file (bpffs holds only pins); a failure costs only names.
    const namesProblem = this.writeServiceNames?.(this.opts.bpffs, cfg.services);
    if (namesProblem) log.warn(namesProblem);
    log.info({ services: cfg.services.length, workloads: cfg.workloads.length, hash: cfg.source.hash.slice(0, 12), workers: this.workers?.size() }, 'config applied');
    return true;
  }

  /** One exposition: every worker's registry and the main thread's, merged (aggregate.ts). */
  private async scrape(): Promise<{ text: string; contentType: string }> {
    const parts = ((await this.workers?.collect('scrape')) ?? []) as MetricsJSON[];
    const main = (await this.registry.getMetricsAsJSON()) as MetricsJSON;
    return { text: await aggregateMetrics([...parts, main]), contentType: this.registry.contentType };
  }

  /** What the admin API reads, at call time. */
  private adminSource(): AdminSource {
    return {
      node: this.opts.node, trustDomain: this.opts.trustDomain, startedAt: this.startedAt,
      series: async () => (await this.workers?.stats()) ?? concatSeries([]),
      config: () => this.current, generation: () => this.generation, datapath: () => this.datapath,
      datapathEvents: () => this.bpf?.globals() ?? {},
      certificates: () => this.identity?.held() ?? { root: undefined, held: [] },
    };
  }

  readiness(): { ready: boolean; reasons: string[] } {
    const reasons: string[] = [];
    if (this.draining) reasons.push('draining');
    if (!this.current) reasons.push('no valid config loaded');
    else if (this.workers && !this.workers.ready()) reasons.push('proxy workers are switching to the new config');
    if (!this.datapath?.attached()) reasons.push('eBPF programs not attached');
    if (this.opts.capture && !this.listening) reasons.push('outbound listener not open yet');
    reasons.push(...(this.sources?.pending() ?? []));
    reasons.push(...(this.identity?.pending() ?? []));
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
    const slots = this.slots;
    let successor = false;
    if (slots && this.listening) {
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
    if (this.bpf && dnsWasOn && !successor) this.bpf.setDnsRedirect(undefined);
    await this.workers?.close(drainMs);
    this.identity?.close();
    await this.admin?.close();
    await this.adminApi?.close();
    this.datapath?.close();
    slots?.close();
    log.info('agent stopped');
  }
}
