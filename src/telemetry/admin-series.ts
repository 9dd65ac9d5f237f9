// The admin API's Istio series read from scrape answers (a registry's getMetricsAsJSON(), as each
// worker answers /metrics, and the part of the workers that exited: workers/retired.ts). The stats
// then sum exactly what /metrics sums, so a worker that is replaced does not make them go down. Pure.
import type { IstioSeries } from './admin-stats';
import type { MetricsJSON } from './aggregate';
import { CounterSeries, HistogramSeries, type Labels } from './series';

/** The metric name of each Istio family (telemetry/metrics.ts registers them under these names). */
export const ISTIO_FAMILIES: { readonly [K in keyof IstioSeries]: string } = {
  requests: 'istio_requests_total',
  duration: 'istio_request_duration_milliseconds',
  requestBytes: 'istio_request_bytes',
  responseBytes: 'istio_response_bytes',
  tcpSent: 'istio_tcp_sent_bytes_total',
  tcpReceived: 'istio_tcp_received_bytes_total',
  tcpOpened: 'istio_tcp_connections_opened_total',
  tcpClosed: 'istio_tcp_connections_closed_total',
};

type Value = MetricsJSON[number]['values'][number] & { readonly metricName?: string };

const stringLabels = (labels: Value['labels'], without?: string): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) if (k !== without && v !== undefined) out[k] = String(v);
  return out;
};

const keyOf = (labels: Labels): string => JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

function counters(values: readonly Value[]): CounterSeries[] {
  return values.map((v) => {
    const c = new CounterSeries(stringLabels(v.labels));
    c.value = v.value;
    return c;
  });
}

/** One histogram's exported values (cumulative `_bucket`s by `le`, `_sum`, `_count`) as series of non-cumulative counts. */
function histograms(name: string, values: readonly Value[]): HistogramSeries[] {
  const byLabels = new Map<string, { labels: Labels; buckets: [number, number][]; sum: number; count: number }>();
  const at = (labels: Labels): { labels: Labels; buckets: [number, number][]; sum: number; count: number } => {
    const k = keyOf(labels);
    let h = byLabels.get(k);
    if (h === undefined) byLabels.set(k, (h = { labels, buckets: [], sum: 0, count: 0 }));
    return h;
  };
  for (const v of values) {
    if (v.metricName === `${name}_bucket`) {
      const le = v.labels['le'];
      at(stringLabels(v.labels, 'le')).buckets.push([le === '+Inf' ? Infinity : Number(le), v.value]);
    } else if (v.metricName === `${name}_sum`) at(stringLabels(v.labels)).sum = v.value;
    else if (v.metricName === `${name}_count`) at(stringLabels(v.labels)).count = v.value;
  }
  return [...byLabels.values()].map((h) => {
    const sorted = h.buckets.sort((a, b) => a[0] - b[0]);
    const bounds = sorted.filter(([le]) => le !== Infinity).map(([le]) => le);
    const s = new HistogramSeries(h.labels, bounds);
    let below = 0;
    sorted.forEach(([, cumulative], i) => {
      if (i < s.counts.length) s.counts[i] = Math.max(0, cumulative - below);
      below = cumulative;
    });
    s.sum = h.sum;
    s.count = h.count;
    return s;
  });
}

/** The Istio series in PARTS (each a scrape answer), one series per part and label set; other metrics are left out. */
export function istioSeriesOf(parts: readonly MetricsJSON[]): IstioSeries {
  const out = { requests: [], duration: [], requestBytes: [], responseBytes: [], tcpSent: [], tcpReceived: [], tcpOpened: [], tcpClosed: [] } as {
    [K in keyof IstioSeries]: (K extends 'duration' | 'requestBytes' | 'responseBytes' ? HistogramSeries : CounterSeries)[];
  };
  const families = Object.entries(ISTIO_FAMILIES) as [keyof IstioSeries, string][];
  for (const part of parts)
    for (const m of part) {
      const family = families.find(([, name]) => name === m.name)?.[0];
      if (family === undefined) continue;
      const values = m.values as readonly Value[];
      if (family === 'duration' || family === 'requestBytes' || family === 'responseBytes') out[family].push(...histograms(m.name, values));
      else out[family].push(...counters(values));
    }
  return out;
}
