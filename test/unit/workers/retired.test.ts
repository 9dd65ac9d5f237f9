// What exited workers counted stays in /metrics: counters and histograms of their last scrape are
// folded together and added to later scrapes; gauges are not kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RetiredCounters } from '../../../src/workers/retired';
import { aggregateRegistry, type MetricsJSON } from '../../../src/telemetry/aggregate';

const counter = (name: string, values: [Record<string, string>, number][]): MetricsJSON[number] =>
  ({ name, help: 'h', type: 'counter', aggregator: 'sum', values: values.map(([labels, value]) => ({ labels, value })) }) as unknown as MetricsJSON[number];
const gauge = (name: string, value: number): MetricsJSON[number] =>
  ({ name, help: 'h', type: 'gauge', aggregator: 'sum', values: [{ labels: {}, value }] }) as unknown as MetricsJSON[number];
const histogram = (name: string, le1: number, inf: number, sum: number): MetricsJSON[number] =>
  ({
    name, help: 'h', type: 'histogram', aggregator: 'sum',
    values: [
      { labels: { le: 1, svc: 'a' }, value: le1, metricName: `${name}_bucket` },
      { labels: { le: '+Inf', svc: 'a' }, value: inf, metricName: `${name}_bucket` },
      { labels: { svc: 'a' }, value: sum, metricName: `${name}_sum` },
      { labels: { svc: 'a' }, value: inf, metricName: `${name}_count` },
    ],
  }) as unknown as MetricsJSON[number];

const valueOf = async (parts: MetricsJSON[], name: string, labels: Record<string, string | number> = {}): Promise<number | undefined> => {
  const all = await aggregateRegistry(parts).getMetricsAsJSON();
  const m = all.find((x) => x.name === name);
  return m?.values.find((v) => JSON.stringify(v.labels) === JSON.stringify(labels))?.value;
};

test('retired counters: nothing before an exit', () => {
  assert.deepEqual(new RetiredCounters().part(), []);
});

test('retired counters: counters of exited workers add up, per label set, in any label order', async () => {
  const r = new RetiredCounters();
  r.add([counter('req_total', [[{ a: '1', b: '2' }, 5], [{ a: '9' }, 1]])]);
  r.add([counter('req_total', [[{ b: '2', a: '1' }, 7]])]);
  const live = [counter('req_total', [[{ a: '1', b: '2' }, 3]])];
  assert.equal(await valueOf([live, r.part()], 'req_total', { a: '1', b: '2' }), 15);
  assert.equal(await valueOf([live, r.part()], 'req_total', { a: '9' }), 1);
});

test('retired counters: histograms keep buckets, sum and count; gauges are dropped', async () => {
  const r = new RetiredCounters();
  r.add([histogram('dur', 2, 3, 1.5), gauge('open', 4)]);
  r.add([histogram('dur', 1, 1, 0.25)]);
  const part = r.part();
  assert.deepEqual(part.map((m) => m.name), ['dur']);
  const values = part[0]!.values.map((v) => [(v as { metricName?: string }).metricName, v.value]);
  assert.deepEqual(values, [['dur_bucket', 3], ['dur_bucket', 4], ['dur_sum', 1.75], ['dur_count', 4]]);
});

test('retired counters: the sum over workers never goes down when a worker is replaced', async () => {
  const r = new RetiredCounters();
  const w0 = counter('req_total', [[{}, 10]]);
  const w1 = counter('req_total', [[{}, 6]]);
  const before = await valueOf([[w0], [w1]], 'req_total');
  // worker 1 exits after that scrape; its replacement starts from zero
  r.add([w1]);
  const after = await valueOf([[w0], [counter('req_total', [[{}, 0]])], r.part()], 'req_total');
  assert.equal(before, 16);
  assert.equal(after, 16);
});
