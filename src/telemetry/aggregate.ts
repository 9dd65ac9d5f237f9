// One /metrics for all workers: each worker answers a scrape with its registry's getMetricsAsJSON(),
// and the main thread merges them with prom-client's AggregatorRegistry.aggregate: per metric name and
// label set, values are combined by the metric's declared `aggregator` (counters and histograms 'sum',
// a gauge 'sum' unless it declares 'max', 'min', 'first' or 'omit'). Process-wide metrics (memory,
// CPU, event loop of the main thread) come from the main thread's own registry only, passed as one more
// part, so they are counted once.
import type { AggregatorRegistry as PromAggregatorRegistry, MetricObjectWithValues, MetricValue, Registry } from 'prom-client';

// The merge alone (prom-client/lib/cluster.js), not prom-client's index, which would also load the
// Pushgateway (http, https, zlib), Summary and the default metrics into the main thread.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const AggregatorRegistry = require('prom-client/lib/cluster') as typeof PromAggregatorRegistry;

/** One registry's metrics as getMetricsAsJSON() returns them (and postMessage carries them). */
export type MetricsJSON = readonly MetricObjectWithValues<MetricValue<string>>[];

/** The parts merged into one registry; metrics of the same name must agree on their type. */
export function aggregateRegistry(parts: readonly MetricsJSON[]): Registry {
  const types = new Map<string, MetricsJSON[number]['type']>();
  for (const part of parts)
    for (const m of part) {
      const t = types.get(m.name);
      if (t !== undefined && t !== m.type) throw new Error(`metric ${m.name} is a ${t} in one worker and a ${m.type} in another`);
      types.set(m.name, m.type);
    }
  return AggregatorRegistry.aggregate(parts.map((p) => [...p]) as Parameters<typeof AggregatorRegistry.aggregate>[0]);
}

/** The parts merged, as one Prometheus text exposition. */
export function aggregateMetrics(parts: readonly MetricsJSON[]): Promise<string> {
  return aggregateRegistry(parts).metrics();
}
