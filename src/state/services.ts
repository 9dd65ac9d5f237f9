// Lookups over one MeshConfig: VIP:port and host:port to a service port, service port to upstream
// addresses, pod IP to workload. Built once per config (the index is replaced with the config).
import type { Addr } from '../capture/types';
import { endpointPort, type MeshConfig, type Service, type ServicePort, type Workload } from '../config/model';
import { createRouter } from '../route/router';
import type { Router } from '../route/types';

export interface ServiceMatch {
  readonly service: Service;
  readonly port: ServicePort;
}

export class ServiceIndex {
  private readonly vips = new Map<string, ServiceMatch>();
  private readonly hosts = new Map<string, ServiceMatch>();
  private readonly ids = new Map<number, Service>();
  private readonly workloads = new Map<string, Workload>();
  private readonly upstreamCache = new WeakMap<ServicePort, readonly Addr[]>();
  private readonly originals = new Map<string, readonly Addr[]>();
  private routerOf: Router | undefined;

  constructor(readonly config: MeshConfig) {
    for (const service of config.services) {
      this.ids.set(service.id, service);
      for (const port of service.ports) {
        const match = Object.freeze({ service, port });
        for (const ip of service.addresses) this.vips.set(claim(ip, port.number), match);
        for (const host of service.hosts) this.hosts.set(claim(host, port.number), match);
      }
    }
    for (const w of config.workloads) this.workloads.set(w.address, w);
  }

  /** The router over this config, built on first use (once per reload). */
  get router(): Router {
    return (this.routerOf ??= createRouter(this.config));
  }

  byVip(ip: string, port: number): ServiceMatch | undefined {
    return this.vips.get(claim(ip, port));
  }

  /**
   * By host name (case-insensitive, without the port) and port: the exact host first, then wildcard
   * hosts `*.suffix` from the most specific suffix to the least.
   */
  byHost(host: string, port: number): ServiceMatch | undefined {
    const h = host.toLowerCase();
    const exact = this.hosts.get(claim(h, port));
    if (exact !== undefined) return exact;
    for (let dot = h.indexOf('.'); dot >= 0; dot = h.indexOf('.', dot + 1)) {
      const found = this.hosts.get(claim(`*${h.slice(dot)}`, port));
      if (found !== undefined) return found;
    }
    return undefined;
  }

  /** The service whose kernel id is ID (kernel counters are keyed by it). */
  byId(id: number): Service | undefined {
    return this.ids.get(id);
  }

  /**
   * Where a connection to PORT of SERVICE may go: each endpoint with its port for that service port. A
   * service of resolution NONE has no endpoints: the connection goes where it was dialled (DST).
   */
  upstreams(service: Service, port: ServicePort, dst?: Addr): readonly Addr[] {
    if (service.resolution === 'NONE') return dst === undefined ? [] : this.passthrough(dst);
    let addrs = this.upstreamCache.get(port);
    if (addrs === undefined) {
      addrs = Object.freeze(
        service.endpoints.map((e) => Object.freeze({ address: e.address, port: endpointPort(e, port) })),
      );
      this.upstreamCache.set(port, addrs);
    }
    return addrs;
  }

  /** One frozen list per original destination, so the balancer sees the same targets each time. */
  private passthrough(dst: Addr): readonly Addr[] {
    const k = claim(dst.address, dst.port);
    let list = this.originals.get(k);
    if (list === undefined) {
      if (this.originals.size >= 4096) this.originals.clear();
      this.originals.set(k, (list = Object.freeze([Object.freeze({ address: dst.address, port: dst.port })])));
    }
    return list;
  }

  services(): readonly Service[] {
    return this.config.services;
  }

  workloadByIp(ip: string): Workload | undefined {
    return this.workloads.get(ip);
  }
}

function claim(hostOrIp: string, port: number): string {
  return `${hostOrIp}:${port}`;
}
