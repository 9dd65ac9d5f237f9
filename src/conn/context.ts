// Per-connection state shared by the listener and the HTTP/TCP paths: where the client wanted to go,
// which service that is, and who the client is. HTTP requests re-resolve the route when the config
// was swapped since the last request, so long keep-alive connections follow reloads.
import type { Addr } from '../capture/types';
import type { Service, ServicePort } from '../config/model';
import type { Target } from '../balance/set';
import type { Router } from '../route/types';
import type { SourceInfo } from '../telemetry/labels';
import type { HttpStats, Metrics } from '../telemetry/metrics';
import { upstreamCluster } from '../telemetry/accesslog';

/** What the proxy needs from the service state (state/services.ts ServiceIndex satisfies it). */
export interface ServiceLookup {
  byVip(ip: string, port: number): { service: Service; port: ServicePort } | undefined;
  /** DST: the connection's original destination (where a resolution NONE service sends it). */
  upstreams(service: Service, port: ServicePort, dst?: Addr): readonly Addr[];
  /** VirtualService/DestinationRule routing over the same config (a pass-through without them). */
  readonly router: Router;
}

export class ConnContext {
  /** Date.now() at accept; for the access log's start_time of TCP connections. */
  readonly startedAt = Date.now();
  service: Service;
  port: ServicePort;
  /** Envoy's cluster name for the access log: outbound|PORT||HOST. */
  cluster: string;
  /** Requests of this connection currently in flight (HTTP pipelining makes it more than one). */
  inflight = 0;
  /** The client broke HTTP framing mid-request (e.g. a bad chunk): in-flight requests end as DPE, not DC. */
  protocolError = false;
  // Last request stats handle: a keep-alive connection mostly talks to the same few endpoints.
  private statsTarget: Target | undefined;
  private statsService: Service | undefined;
  private stats: HttpStats | undefined;

  constructor(
    readonly vip: Addr,
    readonly peer: Addr,
    readonly source: SourceInfo,
    private index: ServiceLookup,
    route: { service: Service; port: ServicePort },
  ) {
    this.service = route.service;
    this.port = route.port;
    this.cluster = upstreamCluster(route.port.number, route.service.hosts[0]);
  }

  /**
   * The upstream list under the current config. When the index was swapped since this connection
   * last looked, re-resolve the VIP; if the service is gone, keep the old route (the connection
   * predates the change; new connections get NR).
   */
  upstreams(current: ServiceLookup): readonly Addr[] {
    if (current !== this.index) {
      this.index = current;
      const route = current.byVip(this.vip.address, this.vip.port);
      if (route !== undefined && (route.service !== this.service || route.port !== this.port)) {
        this.service = route.service;
        this.port = route.port;
        this.cluster = upstreamCluster(route.port.number, route.service.hosts[0]);
      }
    }
    return this.index.upstreams(this.service, this.port);
  }

  /**
   * The stats handle a finished request of this connection is recorded on: gRPC or HTTP, to SERVICE and
   * the picked TARGET (none: the service's). The source reporter's labels here; the destination side's
   * context (proxy/destination.ts) overrides it with its own, so every record path asks the context.
   * A request this agent also delivers (a pod of this node reached without the tunnel) is recorded by
   * the same handle on both reporters: it carries the destination side's (telemetry/reporters.ts).
   */
  requestStats(metrics: Metrics, grpc: boolean, service: Service | undefined, target: Target | undefined): HttpStats {
    return grpc ? metrics.grpc(this.source, service, target) : metrics.http(this.source, service, target);
  }

  /** "ip:port" of the address the client dialled and of the client, made once per connection (access log). */
  get vipText(): string {
    return (this.vipStr ??= `${this.vip.address}:${this.vip.port}`);
  }

  get peerText(): string {
    return (this.peerStr ??= `${this.peer.address}:${this.peer.port}`);
  }

  private vipStr: string | undefined;
  private peerStr: string | undefined;

  /** Request stats for this connection's source and `target` (the service's when none was picked). */
  httpStats(metrics: Metrics, target: Target | undefined): HttpStats {
    if (this.stats === undefined || target !== this.statsTarget || this.service !== this.statsService) {
      this.stats = metrics.http(this.source, this.service, target);
      this.statsTarget = target;
      this.statsService = this.service;
    }
    return this.stats;
  }
}

const CTX = Symbol('nodemesh.conn');

interface WithCtx {
  [CTX]?: ConnContext;
}

/** A client connection: a captured socket, or a tunnel stream seen as one (listener/inbound.ts). */
export function attachContext(socket: object, ctx: ConnContext): void {
  (socket as WithCtx)[CTX] = ctx;
}

export function contextOf(socket: object | null | undefined): ConnContext | undefined {
  return socket == null ? undefined : (socket as WithCtx)[CTX];
}
