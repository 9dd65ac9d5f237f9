// The admin API's Stats answer: the series /metrics exports, summed per (reporter, service), plus the
// kernel's per-service counters (what nodemesh_kernel_* exports), with the same names and fallbacks as
// the labels. Pure: the agent passes its live series and counters in.
import type { KernelCounters } from '../capture/types';
import type { Service } from '../config/model';
import type { KernelStats, RequestStats, ServiceStats, TcpStats } from './admin-proto';
import { histogramQuantile } from './quantile';
import type { CounterSeries, HistogramSeries, Labels } from './series';
import { UNKNOWN } from './labels';

/** The Istio families of Metrics, as series. */
export interface IstioSeries {
  readonly requests: Iterable<CounterSeries>;
  readonly duration: Iterable<HistogramSeries>;
  readonly requestBytes: Iterable<HistogramSeries>;
  readonly responseBytes: Iterable<HistogramSeries>;
  readonly tcpSent: Iterable<CounterSeries>;
  readonly tcpReceived: Iterable<CounterSeries>;
  readonly tcpOpened: Iterable<CounterSeries>;
  readonly tcpClosed: Iterable<CounterSeries>;
}

/** The series of all workers as one set (the stats sum series per service, so a concatenation does). */
export function concatSeries(parts: readonly IstioSeries[]): IstioSeries {
  const all = <K extends keyof IstioSeries>(k: K): IstioSeries[K] => parts.flatMap((p) => [...p[k]]) as unknown as IstioSeries[K];
  return {
    requests: all('requests'), duration: all('duration'), requestBytes: all('requestBytes'), responseBytes: all('responseBytes'),
    tcpSent: all('tcpSent'), tcpReceived: all('tcpReceived'), tcpOpened: all('tcpOpened'), tcpClosed: all('tcpClosed'),
  };
}

/** The Istio series of one Metrics (live iterators). */
export function seriesOf(m: {
  readonly [K in keyof IstioSeries]: { all(): IstioSeries[K] };
}): IstioSeries {
  return {
    requests: m.requests.all(), duration: m.duration.all(), requestBytes: m.requestBytes.all(), responseBytes: m.responseBytes.all(),
    tcpSent: m.tcpSent.all(), tcpReceived: m.tcpReceived.all(), tcpOpened: m.tcpOpened.all(), tcpClosed: m.tcpClosed.all(),
  };
}

export interface StatsInput {
  readonly series: IstioSeries;
  readonly durationBounds: readonly number[];
  readonly kernel: readonly KernelCounters[];
  readonly serviceById: (id: number) => Service | undefined;
  /** By "namespace/name" (Service.key), for the dataplane column. */
  readonly serviceByKey: (key: string) => Service | undefined;
}

export function emptyRequests(buckets: number): RequestStats {
  return { total: 0, by_class: {}, success: 0, errors: 0, duration_buckets: new Array<number>(buckets).fill(0), duration_sum_ms: 0, p50_ms: 0, p99_ms: 0, request_bytes: 0, response_bytes: 0 };
}

const emptyTcp = (): TcpStats => ({ opened: 0, closed: 0, active: 0, sent_bytes: 0, received_bytes: 0 });
const emptyKernel = (): KernelStats => ({ present: false, opened: 0, closed: 0, active: 0, sent_bytes: 0, received_bytes: 0, redirected: 0, spliced_bytes: 0 });

/** "2xx" for 200..299, "0" when no response was sent. */
export function codeClass(code: string | number): string {
  const n = Number(code);
  return n >= 100 && n < 600 ? `${Math.floor(n / 100)}xx` : '0';
}

export function serviceStats(input: StatsInput): ServiceStats[] {
  const rows = new Map<string, ServiceStats>();
  const nBuckets = input.durationBounds.length + 1;
  const row = (reporter: string, host: string, name: string, namespace: string): ServiceStats => {
    const key = `${reporter}\u0001${namespace}\u0001${name}\u0001${host}`;
    let r = rows.get(key);
    if (r === undefined) {
      const dataplane = input.serviceByKey(`${namespace}/${name}`)?.dataplane ?? '';
      r = { host, name, namespace, reporter, dataplane, requests: emptyRequests(nBuckets), tcp: emptyTcp(), kernel: emptyKernel() };
      rows.set(key, r);
    }
    return r;
  };
  const of = (l: Labels): ServiceStats =>
    row(l['reporter'] ?? UNKNOWN, l['destination_service'] ?? UNKNOWN, l['destination_service_name'] ?? UNKNOWN, l['destination_service_namespace'] ?? UNKNOWN);
  const s = input.series;
  for (const c of s.requests) {
    const r = of(c.labels).requests;
    const cls = codeClass(c.labels['response_code'] ?? '0');
    r.total += c.value;
    r.by_class[cls] = (r.by_class[cls] ?? 0) + c.value;
    if (cls === '5xx') r.errors += c.value;
    else r.success += c.value;
  }
  for (const h of s.duration) {
    const r = of(h.labels).requests;
    for (let i = 0; i < nBuckets; i++) r.duration_buckets[i]! += h.counts[i] ?? 0;
    r.duration_sum_ms += h.sum;
  }
  for (const h of s.requestBytes) of(h.labels).requests.request_bytes += h.sum;
  for (const h of s.responseBytes) of(h.labels).requests.response_bytes += h.sum;
  for (const c of s.tcpOpened) of(c.labels).tcp.opened += c.value;
  for (const c of s.tcpClosed) of(c.labels).tcp.closed += c.value;
  for (const c of s.tcpSent) of(c.labels).tcp.sent_bytes += c.value;
  for (const c of s.tcpReceived) of(c.labels).tcp.received_bytes += c.value;
  for (const k of input.kernel) {
    // The same names nodemesh_kernel_* carries; the kernel counts this node's clients: the source side.
    const svc = input.serviceById(k.serviceId);
    const kr = row('source', svc?.hosts[0] ?? UNKNOWN, svc?.name ?? `id-${k.serviceId}`, svc?.namespace ?? UNKNOWN).kernel;
    kr.present = true;
    kr.opened += k.opened;
    kr.closed += k.closed;
    kr.sent_bytes += k.bytesSent;
    kr.received_bytes += k.bytesReceived;
    kr.redirected += k.redirected;
    kr.spliced_bytes += k.splicedBytes;
  }
  for (const r of rows.values()) {
    r.tcp.active = Math.max(0, r.tcp.opened - r.tcp.closed);
    r.kernel.active = Math.max(0, r.kernel.opened - r.kernel.closed);
    r.requests.p50_ms = histogramQuantile(0.5, input.durationBounds, r.requests.duration_buckets) ?? 0;
    r.requests.p99_ms = histogramQuantile(0.99, input.durationBounds, r.requests.duration_buckets) ?? 0;
  }
  return [...rows.values()].sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name) || a.host.localeCompare(b.host) || a.reporter.localeCompare(b.reporter));
}
