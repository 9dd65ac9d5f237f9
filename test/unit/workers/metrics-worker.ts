// Worker side of the metrics aggregation test: counts into its own prom-client registry as the test
// thread says, then answers with getMetricsAsJSON().
import { parentPort, workerData } from 'node:worker_threads';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

const { n, active, cap } = workerData as { n: number; active: number; cap: number };
const registry = new Registry();
const requests = new Counter({ name: 'nm_test_requests_total', help: 'requests', labelNames: ['code'], registers: [registry] });
const duration = new Histogram({ name: 'nm_test_duration_ms', help: 'duration', buckets: [1, 10, 100], registers: [registry] });
const conns = new Gauge({ name: 'nm_test_active', help: 'open connections', registers: [registry] });
const config = new Gauge({ name: 'nm_test_config_generation', help: 'config generation', registers: [registry], aggregator: 'max' });
for (let i = 0; i < n; i++) {
  requests.inc({ code: i % 5 === 0 ? '503' : '200' });
  duration.observe(i % 3 === 0 ? 0.5 : 50);
}
conns.set(active);
config.set(cap);
void registry.getMetricsAsJSON().then((m) => parentPort!.postMessage(m));
