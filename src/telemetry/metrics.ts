// Istio standard metrics plus nodemesh's own, over a private prom-client Registry (the agent adds its
// collectors to `registry`). Hot paths get cached stat handles: HttpStats per (source, endpoint) and
// TcpStats per connection, so a request costs a few map lookups and additions, not label hashing.
import { Counter, Gauge, Registry } from './promlite';
import { droppedLogLines } from '../log';
import type { Service } from '../config/model';
import type { Target } from '../balance/set';
import { httpLabels, tcpLabels, UNKNOWN, type Reporter, type SourceInfo } from './labels';
import { DIRECT, DIRECT_VIEW, reporterLabels, reportsDestinationHere, type DeliveryView } from './reporters';
import { CounterSeries, HistogramSeries, SeriesCounter, SeriesHistogram, type Labels } from './series';

/** Envoy's default histogram buckets (ms), which Istio's duration metric uses. */
export const DURATION_BUCKETS_MS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
] as const;

/** Body-size buckets: powers of ten from 1 B to 1 GB. */
export const BYTES_BUCKETS = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000] as const;

export type DetectOutcome = 'sniffed' | 'declared' | 'timeout' | 'ended';

export interface MetricsOptions {
  /** Defaults to a new Registry; pass one to share. */
  readonly registry?: Registry;
  /** destination_cluster / cluster id (Istio's default in a single cluster is "Kubernetes"). */
  readonly cluster?: string;
  readonly reporter?: Reporter;
}

interface HttpBundle {
  readonly requests: CounterSeries;
  readonly duration: HistogramSeries;
  readonly requestBytes: HistogramSeries;
  readonly responseBytes: HistogramSeries;
}

function keyOf(labels: Labels): string {
  return Object.values(labels).join('\u0001');
}

/** Request stats of one (source, destination endpoint) pair; bundles per (code, flags) cached inside. */
export class HttpStats {
  private readonly ok = new Map<number, HttpBundle>();
  private readonly flagged = new Map<string, HttpBundle>();
  /** The destination reporter's handle of the same requests, when this agent also delivers them (reporters.ts). */
  destination: HttpStats | undefined;

  constructor(private readonly m: Metrics, private readonly base: Labels) {}

  /**
   * One finished request. `flags` is "-" when none; `code` 0 when no response was sent; `grpcStatus`
   * the grpc-status of a gRPC response ("" for plain HTTP, as Istio reports it).
   */
  record(code: number, flags: string, durationMs: number, requestBytes: number, responseBytes: number, grpcStatus = ''): void {
    let b = flags === '-' && grpcStatus === '' ? this.ok.get(code) : this.flagged.get(`${code}|${flags}|${grpcStatus}`);
    // Retired: its service left the config (and may be back); the series is registered anew.
    if (b === undefined || b.requests.retired) b = this.bundle(code, flags, grpcStatus);
    b.requests.inc();
    b.duration.observe(durationMs);
    b.requestBytes.observe(requestBytes);
    b.responseBytes.observe(responseBytes);
    this.destination?.record(code, flags, durationMs, requestBytes, responseBytes, grpcStatus);
  }

  private bundle(code: number, flags: string, grpcStatus: string): HttpBundle {
    const labels = httpLabels(this.base, code, flags, grpcStatus);
    const key = keyOf(labels);
    const b: HttpBundle = {
      requests: this.m.requests.at(key, labels),
      duration: this.m.duration.at(key, labels),
      requestBytes: this.m.requestBytes.at(key, labels),
      responseBytes: this.m.responseBytes.at(key, labels),
    };
    if (flags === '-' && grpcStatus === '') this.ok.set(code, b);
    else this.flagged.set(`${code}|${flags}|${grpcStatus}`, b);
    return b;
  }
}

/**
 * TCP stats of one (source, destination endpoint) pair. Byte counts are deltas the caller adds as they become known
 * (periodically and at close), so long-lived connections show traffic before they end.
 */
export class TcpStats {
  private sentS!: CounterSeries;
  private receivedS!: CounterSeries;
  private openedS!: CounterSeries;
  private readonly closedS = new Map<string, CounterSeries>();
  /** The destination reporter's handle of the same connections, when this agent also delivers them. */
  destination: TcpStats | undefined;

  constructor(private readonly m: Metrics, private readonly base: Labels) {
    this.resolve();
  }

  /** Bytes and opens carry "-": flags are only known when the connection ends. */
  private resolve(): void {
    const labels = tcpLabels(this.base, '-');
    const key = keyOf(labels);
    this.sentS = this.m.tcpSent.at(key, labels);
    this.receivedS = this.m.tcpReceived.at(key, labels);
    this.openedS = this.m.tcpOpened.at(key, labels);
  }

  /** Retired series (the service left the config) are registered anew. */
  private live(): this {
    if (this.openedS.retired || this.sentS.retired || this.receivedS.retired) this.resolve();
    return this;
  }

  opened(): void {
    this.live().openedS.inc();
    this.destination?.opened();
  }

  /** Bytes sent to the client (the response direction, Istio's "sent"). */
  sent(n: number): void {
    if (n > 0) this.live().sentS.inc(n);
    this.destination?.sent(n);
  }

  /** Bytes received from the client (the request direction). */
  received(n: number): void {
    if (n > 0) this.live().receivedS.inc(n);
    this.destination?.received(n);
  }

  closed(flags: string): void {
    let s = this.closedS.get(flags);
    if (s === undefined || s.retired) {
      const labels = tcpLabels(this.base, flags);
      s = this.m.tcpClosed.at(keyOf(labels), labels);
      this.closedS.set(flags, s);
    }
    s.inc();
    this.destination?.closed(flags);
  }
}

export class Metrics {
  readonly registry: Registry;
  readonly cluster: string;
  readonly reporter: Reporter;

  readonly requests: SeriesCounter;
  readonly duration: SeriesHistogram;
  readonly requestBytes: SeriesHistogram;
  readonly responseBytes: SeriesHistogram;
  readonly tcpSent: SeriesCounter;
  readonly tcpReceived: SeriesCounter;
  readonly tcpOpened: SeriesCounter;
  readonly tcpClosed: SeriesCounter;

  readonly upstreamConnectFailures: Counter<'service' | 'endpoint'>;
  readonly endpointEjections: Counter<'service' | 'endpoint'>;
  readonly panicPicks: Counter<'service'>;
  readonly downstreamActive: Gauge;
  readonly downstreamRejected: Counter<'reason'>;
  readonly detections: Counter<'protocol' | 'outcome'>;
  readonly retries: Counter<'service' | 'outcome'>;
  readonly overflows: Counter<'service' | 'limit'>;
  readonly rateLimited: Counter<'service' | 'limit'>;
  readonly faults: Counter<'service' | 'kind'>;
  readonly mirrored: Counter<'service' | 'outcome'>;
  readonly outlierEjections: Counter<'service' | 'endpoint' | 'reason'>;

  private httpCache = new WeakMap<SourceInfo, WeakMap<object, HttpStats>>();
  private grpcCache = new WeakMap<SourceInfo, WeakMap<object, HttpStats>>();
  private tcpCache = new WeakMap<SourceInfo, WeakMap<object, TcpStats>>();
  private delivery: DeliveryView = DIRECT_VIEW;

  constructor(opts: MetricsOptions = {}) {
    const r = (this.registry = opts.registry ?? new Registry());
    this.cluster = opts.cluster ?? UNKNOWN;
    this.reporter = opts.reporter ?? 'source';

    this.requests = new SeriesCounter('istio_requests_total', 'Requests handled by the proxy').register(r);
    this.duration = new SeriesHistogram('istio_request_duration_milliseconds', 'Request duration', DURATION_BUCKETS_MS).register(r);
    this.requestBytes = new SeriesHistogram('istio_request_bytes', 'Request body size', BYTES_BUCKETS).register(r);
    this.responseBytes = new SeriesHistogram('istio_response_bytes', 'Response body size', BYTES_BUCKETS).register(r);
    this.tcpSent = new SeriesCounter('istio_tcp_sent_bytes_total', 'Bytes sent to the client on TCP connections').register(r);
    this.tcpReceived = new SeriesCounter('istio_tcp_received_bytes_total', 'Bytes received from the client on TCP connections').register(r);
    this.tcpOpened = new SeriesCounter('istio_tcp_connections_opened_total', 'TCP connections opened').register(r);
    this.tcpClosed = new SeriesCounter('istio_tcp_connections_closed_total', 'TCP connections closed').register(r);

    const registers = [r];
    this.upstreamConnectFailures = new Counter({
      name: 'nodemesh_upstream_connect_failures_total',
      help: 'Upstream connect failures (refused, unreachable, connect timeout) per endpoint',
      labelNames: ['service', 'endpoint'],
      registers,
    });
    this.endpointEjections = new Counter({
      name: 'nodemesh_endpoint_ejections_total',
      help: 'Times an endpoint was marked unhealthy by passive health checking',
      labelNames: ['service', 'endpoint'],
      registers,
    });
    this.panicPicks = new Counter({
      name: 'nodemesh_upstream_panic_picks_total',
      help: 'Picks made while every endpoint of the service was unhealthy (panic mode)',
      labelNames: ['service'],
      registers,
    });
    this.downstreamActive = new Gauge({
      name: 'nodemesh_downstream_connections_active',
      help: 'Captured client connections currently open on the outbound listener',
      registers,
    });
    this.downstreamRejected = new Counter({
      name: 'nodemesh_downstream_rejected_total',
      help: 'Captured connections closed before proxying (no_original_dst, no_route, fd_exhausted, max_connections, draining)',
      labelNames: ['reason'],
      registers,
    });
    this.detections = new Counter({
      name: 'nodemesh_protocol_detections_total',
      help: 'Protocol decisions for captured connections (outcome: sniffed, declared, timeout, ended)',
      labelNames: ['protocol', 'outcome'],
      registers,
    });
    this.retries = new Counter({
      name: 'nodemesh_retries_total',
      help: 'Request retries (outcome: sent, or why one was not: budget, limit)',
      labelNames: ['service', 'outcome'],
      registers,
    });
    this.overflows = new Counter({
      name: 'nodemesh_upstream_overflow_total',
      help: 'Requests refused by a DestinationRule connectionPool limit (503 UO), by the limit hit',
      labelNames: ['service', 'limit'],
      registers,
    });
    this.rateLimited = new Counter({
      name: 'nodemesh_rate_limited_total',
      help: 'Requests refused by a LocalRateLimit (429 RL)',
      labelNames: ['service', 'limit'],
      registers,
    });
    this.faults = new Counter({
      name: 'nodemesh_faults_injected_total',
      help: 'Faults injected by VirtualService fault rules (kind: delay, abort)',
      labelNames: ['service', 'kind'],
      registers,
    });
    this.mirrored = new Counter({
      name: 'nodemesh_mirror_requests_total',
      help: 'Mirrored requests (outcome: sent, failed, dropped when the mirror could not keep up)',
      labelNames: ['service', 'outcome'],
      registers,
    });
    this.outlierEjections = new Counter({
      name: 'nodemesh_outlier_ejections_total',
      help: 'Endpoints ejected by DestinationRule outlierDetection (reason: 5xx, gateway)',
      labelNames: ['service', 'endpoint', 'reason'],
      registers,
    });
    new Counter({
      name: 'nodemesh_log_dropped_lines_total',
      help: 'Log and access-log lines dropped because stdout did not keep up (64 MiB buffered)',
      registers,
      collect(this: Counter) {
        this.reset();
        this.inc(droppedLogLines());
      },
    });
  }

  /**
   * How picked endpoints are delivered under the current config (the mesh plane's view): decides the
   * security labels and whether a request is also reported with reporter="destination" here. Handles
   * made under the previous view are dropped from the caches (connections holding one keep it).
   */
  setDelivery(view: DeliveryView | undefined): void {
    this.delivery = view ?? DIRECT_VIEW;
    this.httpCache = new WeakMap();
    this.grpcCache = new WeakMap();
    this.tcpCache = new WeakMap();
  }

  /**
   * Stats handle for requests from `source` to `target` (or to `service` when no endpoint was picked).
   * Cached per (source object, target object): keep SourceInfo objects interned.
   */
  http(source: SourceInfo, service: Service | undefined, target: Target | undefined): HttpStats {
    return this.cached(this.httpCache, source, service, target, (base, dst) => withDestination(new HttpStats(this, base), dst && new HttpStats(this, dst)), 'http');
  }

  /** Like http(), for gRPC requests (request_protocol="grpc"). */
  grpc(source: SourceInfo, service: Service | undefined, target: Target | undefined): HttpStats {
    return this.cached(this.grpcCache, source, service, target, (base, dst) => withDestination(new HttpStats(this, base), dst && new HttpStats(this, dst)), 'grpc');
  }

  /** Stats handle for TCP connections from `source` to `target`; cached the same way. */
  tcp(source: SourceInfo, service: Service | undefined, target: Target | undefined): TcpStats {
    return this.cached(this.tcpCache, source, service, target, (base, dst) => withDestination(new TcpStats(this, base), dst && new TcpStats(this, dst)), 'tcp');
  }

  private cached<T extends object>(
    cache: WeakMap<SourceInfo, WeakMap<object, T>>,
    source: SourceInfo,
    service: Service | undefined,
    target: Target | undefined,
    make: (base: Labels, destination: Labels | undefined) => T,
    protocol: string,
  ): T {
    let bySource = cache.get(source);
    if (bySource === undefined) {
      bySource = new WeakMap();
      cache.set(source, bySource);
    }
    const key: object = target ?? service ?? NO_SERVICE;
    let stats = bySource.get(key);
    if (stats === undefined) {
      // The security labels follow the delivery (reporters.ts); a pod on this node reached without the
      // tunnel is reported by this agent on both sides, through one more handle linked to this one.
      const delivery = target === undefined ? DIRECT : this.delivery.deliveryOf(target);
      const base = reporterLabels(this.reporter, source, service, target, delivery, protocol, this.cluster);
      const dst = this.reporter === 'source' && reportsDestinationHere(delivery.kind) ? reporterLabels('destination', source, service, target, delivery, protocol, this.cluster) : undefined;
      stats = make(base, dst);
      bySource.set(key, stats);
    }
    return stats;
  }

  /**
   * Drops every series of services that are not in `services` (prom-client and the Istio series keep a
   * label set until restart: a config that shrinks would otherwise keep its big one's series in memory
   * and in every scrape). Series of no service ("unknown") stay. Holders of a dropped series register
   * it anew if their service comes back, so nothing is counted into a dropped one.
   */
  async retainServices(services: readonly Service[]): Promise<number> {
    const keys = new Set<string>();
    const named = new Set<string>();
    for (const s of services) {
      keys.add(s.key);
      named.add(`${s.namespace || UNKNOWN}\u0001${s.name || UNKNOWN}`);
    }
    const keepIstio = (l: Labels): boolean => {
      const name = l['destination_service_name'];
      return name === undefined || name === UNKNOWN || named.has(`${l['destination_service_namespace']}\u0001${name}`);
    };
    let dropped = 0;
    for (const m of [this.requests, this.duration, this.requestBytes, this.responseBytes, this.tcpSent, this.tcpReceived, this.tcpOpened, this.tcpClosed]) {
      dropped += m.retain(keepIstio);
    }
    for (const c of this.byService) dropped += await dropLabelSets(c, (l) => typeof l['service'] !== 'string' || keys.has(l['service']));
    return dropped;
  }

  /** The prom-client families labelled by service key. */
  private get byService(): readonly Counter<string>[] {
    return [this.upstreamConnectFailures, this.endpointEjections, this.panicPicks, this.retries, this.overflows, this.rateLimited, this.faults, this.mirrored, this.outlierEjections];
  }

  connectFailure(target: Target, ejected: boolean): void {
    const labels = { service: target.service.key, endpoint: target.key };
    this.upstreamConnectFailures.inc(labels);
    if (ejected) this.endpointEjections.inc(labels);
  }
}

const NO_SERVICE = {};

function withDestination<T extends { destination: T | undefined }>(stats: T, destination: T | undefined): T {
  stats.destination = destination;
  return stats;
}

type LabelsOf = Partial<Record<string, string | number>>;

/** Removes the label sets of a prom-client counter that `keep` refuses. */
async function dropLabelSets(c: Counter<string>, keep: (labels: LabelsOf) => boolean): Promise<number> {
  const { values } = await c.get();
  let dropped = 0;
  for (const { labels } of values) {
    if (keep(labels)) continue;
    c.remove(labels as Record<string, string | number>);
    dropped++;
  }
  return dropped;
}
