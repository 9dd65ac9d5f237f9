// The admin API's stats read from scrape answers: the Istio series of a registry's JSON (what a worker
// answers to /metrics, and the retired part of workers that exited) give the same per-service numbers
// as the live series they were exported from, and add up across parts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Service } from '../../../src/config/model';
import { UNKNOWN_SOURCE } from '../../../src/telemetry/labels';
import { DURATION_BUCKETS_MS, Metrics } from '../../../src/telemetry/metrics';
import { ISTIO_FAMILIES, istioSeriesOf } from '../../../src/telemetry/admin-series';
import { seriesOf, serviceStats, type IstioSeries } from '../../../src/telemetry/admin-stats';
import type { MetricsJSON } from '../../../src/telemetry/aggregate';
import { RetiredCounters } from '../../../src/workers/retired';

const svc = (name: string, id: number): Service =>
  ({ key: `shop/${name}`, id, name, namespace: 'shop', hosts: [`${name}.shop.svc.cluster.local`], addresses: [], ports: [], dataplane: 'proxy', endpoints: [], labels: {} }) as Service;
const CART = svc('cart', 1);
const DB = svc('db', 2);

const stats = (series: IstioSeries) =>
  serviceStats({ series, durationBounds: DURATION_BUCKETS_MS, kernel: [], serviceById: () => undefined, serviceByKey: (k) => [CART, DB].find((s) => s.key === k) });

function busy(scale: number): Metrics {
  const m = new Metrics();
  const http = m.http(UNKNOWN_SOURCE, CART, undefined);
  for (let i = 0; i < 10 * scale; i++) http.record(i % 5 === 0 ? 503 : 200, i % 5 === 0 ? 'UF' : '-', i * 7.5, 100 * i, 10 * i);
  const tcp = m.tcp(UNKNOWN_SOURCE, DB, undefined);
  for (let i = 0; i < scale; i++) {
    tcp.opened();
    tcp.sent(1000);
    tcp.received(70);
    tcp.closed('-');
  }
  return m;
}

const json = async (m: Metrics): Promise<MetricsJSON> => (await m.registry.getMetricsAsJSON()) as MetricsJSON;

test('admin series: the family names are those the metrics register', () => {
  const m = new Metrics();
  for (const [k, name] of Object.entries(ISTIO_FAMILIES)) assert.equal(m[k as keyof IstioSeries].name, name, k);
});

test('admin series: a scrape answer gives the same stats as the live series', async () => {
  const m = busy(3);
  const fromJson = stats(istioSeriesOf([await json(m)]));
  assert.deepEqual(fromJson, stats(seriesOf(m)));
  const cart = fromJson.find((r) => r.name === 'cart')!;
  assert.equal(cart.requests.total, 30);
  assert.equal(cart.requests.errors, 6);
  assert.equal(cart.requests.duration_buckets.reduce((a, b) => a + b, 0), 30);
  assert.equal(fromJson.find((r) => r.name === 'db')!.tcp.sent_bytes, 3000);
});

test('admin series: parts add up, the retired part of exited workers included; other metrics are left out', async () => {
  const [a, b, gone] = [busy(1), busy(2), busy(4)];
  const retired = new RetiredCounters();
  retired.add(await json(gone));
  const summed = stats(istioSeriesOf([await json(a), await json(b), retired.part()]));
  const cart = summed.find((r) => r.name === 'cart')!;
  assert.equal(cart.requests.total, 70);
  assert.deepEqual(cart.requests.by_class, { '2xx': 56, '5xx': 14 });
  const each = [a, b, gone].map((m) => stats(seriesOf(m)).find((r) => r.name === 'cart')!.requests.duration_buckets);
  assert.deepEqual(cart.requests.duration_buckets, each[0]!.map((_, i) => each.reduce((n, x) => n + x[i]!, 0)), 'buckets add up');
  assert.equal(cart.requests.request_bytes, 4500 + 19000 + 78000);
  assert.deepEqual(summed.find((r) => r.name === 'db')!.tcp, { opened: 7, closed: 7, active: 0, sent_bytes: 7000, received_bytes: 490 });
  assert.deepEqual(istioSeriesOf([[{ name: 'other_total', help: 'h', type: 'counter', aggregator: 'sum', values: [{ labels: {}, value: 3 }] }] as unknown as MetricsJSON]).requests, []);
});
