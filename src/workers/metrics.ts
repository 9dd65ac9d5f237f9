// A proxy worker's own gauges and counters, labelled by worker. prom-client's default metrics
// (nodejs_heap_*, nodejs_eventloop_lag_*, GC) describe the thread that registers them, and only the
// main thread does; the proxying happens in the workers, so each reports its event loop and heap here.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { Counter, Gauge, type Registry } from '../telemetry/promlite';

export interface WorkerMetrics {
  /** Stops the event-loop delay sampler. */
  close(): void;
}

/** Registers worker INDEX's metrics on REGISTRY; REQUESTS reads how many requests it handled. */
export function registerWorkerMetrics(registry: Registry, index: number, requests: () => number): WorkerMetrics {
  const worker = String(index);
  // Requests per worker: how evenly the kernel spreads connections over the reuseport group.
  new Counter({
    name: 'nodemesh_worker_requests_total',
    help: 'HTTP and gRPC requests a proxy worker handled (all services), by worker',
    labelNames: ['worker'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ worker }, requests());
    },
  });
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  new Gauge({
    name: 'nodemesh_worker_eventloop_lag_p99_seconds',
    help: "99th percentile of a proxy worker's event-loop delay since the previous scrape, by worker",
    labelNames: ['worker'],
    registers: [registry],
    collect() {
      // Before any sample (a scrape right after start) the histogram reports 0.
      this.set({ worker }, delay.count > 0 ? delay.percentile(99) / 1e9 : 0);
      delay.reset();
    },
  });
  new Gauge({
    name: 'nodemesh_worker_heap_used_bytes',
    help: "V8 heap a proxy worker's isolate uses, by worker",
    labelNames: ['worker'],
    registers: [registry],
    collect() {
      this.set({ worker }, getHeapStatistics().used_heap_size);
    },
  });
  return { close: () => delay.disable() };
}
