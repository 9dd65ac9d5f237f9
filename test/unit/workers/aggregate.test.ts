// One exposition from the registries of two worker threads: counters and histograms summed, gauges
// summed or their maximum as each declares.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { Counter, Gauge, Registry } from 'prom-client';
import { aggregateMetrics, type MetricsJSON } from '../../../src/telemetry/aggregate';

function fromWorker(data: { n: number; active: number; cap: number }): Promise<MetricsJSON> {
  const w = new Worker(path.join(__dirname, 'metrics-worker.js'), { workerData: data });
  return new Promise((resolve, reject) => {
    w.once('message', (m: MetricsJSON) => {
      resolve(m);
      void w.terminate();
    });
    w.once('error', reject);
  });
}

/** The value of one sample line of TEXT ("name{labels} value"). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('two workers: counters and histograms summed, gauges summed or max as declared', async () => {
  const [a, b] = await Promise.all([fromWorker({ n: 10, active: 3, cap: 7 }), fromWorker({ n: 25, active: 4, cap: 9 })]);
  // the main thread's own registry is one more part: its metrics are counted once
  const main = new Registry();
  new Gauge({ name: 'nm_test_main_only', help: 'main only', registers: [main] }).set(42);
  const text = await aggregateMetrics([a, b, await main.getMetricsAsJSON()]);
  // i in [0, n): code 503 when i % 5 == 0; duration 0.5 when i % 3 == 0, else 50
  const cases: [string, number][] = [
    ['nm_test_requests_total{code="200"}', 8 + 20],
    ['nm_test_requests_total{code="503"}', 2 + 5],
    ['nm_test_duration_ms_bucket{le="1"}', 4 + 9],
    ['nm_test_duration_ms_bucket{le="10"}', 4 + 9],
    ['nm_test_duration_ms_bucket{le="100"}', 10 + 25],
    ['nm_test_duration_ms_bucket{le="+Inf"}', 10 + 25],
    ['nm_test_duration_ms_count', 35],
    ['nm_test_duration_ms_sum', (4 + 9) * 0.5 + (6 + 16) * 50],
    ['nm_test_active', 7],
    ['nm_test_config_generation', 9],
    ['nm_test_main_only', 42],
  ];
  for (const [series, want] of cases) assert.equal(sample(text, series), want, series);
  assert.match(text, /# TYPE nm_test_duration_ms histogram/);
  assert.match(text, /# TYPE nm_test_requests_total counter/);
});

test('a metric with one name but two types is refused', async () => {
  const r1 = new Registry();
  const r2 = new Registry();
  new Counter({ name: 'nm_test_x', help: 'x', registers: [r1] }).inc();
  new Gauge({ name: 'nm_test_x', help: 'x', registers: [r2] }).set(1);
  const parts = [await r1.getMetricsAsJSON(), await r2.getMetricsAsJSON()];
  await assert.rejects(async () => aggregateMetrics(parts), /nm_test_x is a counter in one worker and a gauge/);
});

test('no workers yet: an empty exposition', async () => {
  assert.equal((await aggregateMetrics([])).trim(), '');
});
