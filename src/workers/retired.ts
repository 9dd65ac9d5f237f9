// What workers that exited had counted. A worker's counters live in its own registry, so when it
// exits and is replaced they would leave /metrics, and the sum over workers would go down: Prometheus
// reads a counter that goes down as a reset and counts the whole remaining value again as an increase.
// The main thread keeps each worker's last scrape; when a worker exits, its counters and histograms
// (never gauges: what it held open is gone) are folded in here and added to every later scrape, so the
// sums never go down. What a worker counted after its last scrape is lost. Pure.
import type { MetricsJSON } from '../telemetry/aggregate';

type Metric = MetricsJSON[number];
type Value = Metric['values'][number];

/** Metric types whose values only grow and add up across workers. */
// (prom-client's JSON carries the type as a string, whatever its typings say.)
const KEPT: ReadonlySet<string> = new Set(['counter', 'histogram']);

const keyOf = (v: Value): string => {
  const labels = Object.entries(v.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `${(v as { metricName?: string }).metricName ?? ''}\u0000${JSON.stringify(labels)}`;
};

export class RetiredCounters {
  private readonly metrics = new Map<string, { readonly head: Omit<Metric, 'values'>; readonly values: Map<string, Value> }>();

  /** Folds in the last scrape of a worker that exited. */
  add(part: MetricsJSON): void {
    for (const m of part) {
      if (!KEPT.has(String(m.type))) continue;
      let into = this.metrics.get(m.name);
      if (into === undefined) {
        const { values: _values, ...head } = m;
        into = { head, values: new Map() };
        this.metrics.set(m.name, into);
      } else if (into.head.type !== m.type) continue;
      for (const v of m.values) {
        const k = keyOf(v);
        const before = into.values.get(k);
        into.values.set(k, before === undefined ? { ...v, labels: { ...v.labels } } : { ...before, value: before.value + v.value });
      }
    }
  }

  /** Everything folded in so far, as one more part to aggregate (empty before any worker exited). */
  part(): MetricsJSON {
    return [...this.metrics.values()].map(({ head, values }) => ({ ...head, values: [...values.values()] }) as Metric);
  }
}
