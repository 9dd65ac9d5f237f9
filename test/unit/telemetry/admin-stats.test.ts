// The admin API's Stats numbers: percentiles from buckets as Prometheus computes them, and the Istio
// series summed per (reporter, service) with the kernel's counters, named as /metrics names them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { histogramQuantile } from '../../../src/telemetry/quantile';
import { codeClass, serviceStats, type IstioSeries } from '../../../src/telemetry/admin-stats';
import { CounterSeries, HistogramSeries } from '../../../src/telemetry/series';
import type { Service } from '../../../src/config/model';

test('histogramQuantile: linear inside the bucket the rank falls in, as histogram_quantile()', () => {
  const bounds = [1, 5, 10];
  const cases: [number, number[], number | undefined][] = [
    [0.5, [0, 0, 0, 0], undefined], // empty
    [0.5, [10, 0, 0, 0], 0.5], // first bucket starts at 0
    [0.5, [0, 10, 0, 0], 3], // 1 + (5-1) * 5/10
    [0.99, [0, 10, 0, 0], 4.96],
    [0.5, [5, 5, 0, 0], 1], // rank 5 is the end of the first bucket
    [0.9, [5, 4, 1, 0], 5], // rank 9 is exactly the end of the second bucket (cumulative 5, 9, 10)
    [0.99, [0, 0, 0, 4], 10], // in the unbounded bucket: the highest finite bound
    [1, [1, 0, 1, 0], 10],
    [0.5, [0, 0, 3, 0], 7.5],
  ];
  for (const [q, counts, want] of cases) {
    const got = histogramQuantile(q, bounds, counts);
    if (want === undefined) assert.equal(got, undefined, `${q} ${counts}`);
    else assert.ok(Math.abs((got as number) - want) < 1e-9, `q=${q} counts=${counts}: got ${got}, want ${want}`);
  }
  assert.equal(histogramQuantile(1.5, bounds, [1, 0, 0, 0]), undefined, 'q outside 0..1');
});

test('codeClass: 2xx..5xx, and "0" when no response was sent', () => {
  const cases: [string | number, string][] = [['200', '2xx'], [204, '2xx'], ['301', '3xx'], ['404', '4xx'], ['503', '5xx'], ['0', '0'], ['', '0'], ['999', '0']];
  for (const [code, want] of cases) assert.equal(codeClass(code), want, String(code));
});

const BOUNDS = [1, 5, 10];

function labels(reporter: string, name: string, code?: string): Record<string, string> {
  return {
    reporter,
    destination_service: `${name}.shop.svc.cluster.local`,
    destination_service_name: name,
    destination_service_namespace: 'shop',
    ...(code !== undefined ? { response_code: code } : {}),
  };
}

function counter(l: Record<string, string>, v: number): CounterSeries {
  const c = new CounterSeries(l);
  c.inc(v);
  return c;
}

function histogram(l: Record<string, string>, values: number[]): HistogramSeries {
  const h = new HistogramSeries(l, BOUNDS);
  for (const v of values) h.observe(v);
  return h;
}

const svc = (name: string, id: number, dataplane: 'proxy' | 'kernel'): Service =>
  ({ key: `shop/${name}`, id, name, namespace: 'shop', hosts: [`${name}.shop.svc.cluster.local`], dataplane }) as unknown as Service;

test('serviceStats: series summed per reporter and service; success is not 5xx; kernel counters on the source row', () => {
  const series: IstioSeries = {
    requests: [counter(labels('source', 'cart', '200'), 8), counter(labels('source', 'cart', '503'), 2), counter(labels('source', 'cart', '0'), 1), counter(labels('destination', 'cart', '200'), 4)],
    duration: [histogram(labels('source', 'cart', '200'), [0.5, 2, 2, 20]), histogram(labels('source', 'cart', '503'), [7])],
    requestBytes: [histogram(labels('source', 'cart', '200'), [100, 50])],
    responseBytes: [histogram(labels('source', 'cart', '200'), [1000])],
    tcpOpened: [counter(labels('source', 'db'), 5)],
    tcpClosed: [counter(labels('source', 'db'), 3)],
    tcpSent: [counter(labels('source', 'db'), 700)],
    tcpReceived: [counter(labels('source', 'db'), 70)],
  };
  const services = [svc('cart', 1, 'proxy'), svc('db', 2, 'proxy'), svc('cache', 3, 'kernel')];
  const rows = serviceStats({
    series,
    durationBounds: BOUNDS,
    kernel: [
      { serviceId: 3, opened: 10, closed: 4, bytesSent: 100, bytesReceived: 200, redirected: 10, splicedBytes: 50 },
      { serviceId: 99, opened: 1, closed: 1, bytesSent: 0, bytesReceived: 0, redirected: 1, splicedBytes: 0 },
    ],
    serviceById: (id) => services.find((s) => s.id === id),
    serviceByKey: (key) => services.find((s) => s.key === key),
  });
  const at = (reporter: string, name: string) => rows.find((r) => r.reporter === reporter && r.name === name);
  assert.deepEqual(rows.map((r) => `${r.namespace}/${r.name}/${r.reporter}`), ['shop/cache/source', 'shop/cart/destination', 'shop/cart/source', 'shop/db/source', 'unknown/id-99/source']);

  const cart = at('source', 'cart')!;
  assert.equal(cart.host, 'cart.shop.svc.cluster.local');
  assert.equal(cart.dataplane, 'proxy');
  assert.deepEqual({ total: cart.requests.total, success: cart.requests.success, errors: cart.requests.errors }, { total: 11, success: 9, errors: 2 });
  assert.deepEqual(cart.requests.by_class, { '2xx': 8, '5xx': 2, '0': 1 });
  assert.deepEqual(cart.requests.duration_buckets, [1, 2, 1, 1]);
  assert.equal(cart.requests.duration_sum_ms, 31.5);
  assert.equal(cart.requests.p50_ms, 1 + 4 * (2.5 - 1) / 2);
  assert.equal(cart.requests.p99_ms, 10);
  assert.equal(cart.requests.request_bytes, 150);
  assert.equal(cart.requests.response_bytes, 1000);
  assert.equal(cart.kernel.present, false);
  assert.equal(at('destination', 'cart')!.requests.total, 4, 'the other side is its own row');

  assert.deepEqual(at('source', 'db')!.tcp, { opened: 5, closed: 3, active: 2, sent_bytes: 700, received_bytes: 70 });
  // A kernel-mode service that never reaches userspace still has its row, by name.
  const cache = at('source', 'cache')!;
  assert.equal(cache.dataplane, 'kernel');
  assert.equal(cache.host, 'cache.shop.svc.cluster.local');
  assert.deepEqual(cache.kernel, { present: true, opened: 10, closed: 4, active: 6, sent_bytes: 100, received_bytes: 200, redirected: 10, spliced_bytes: 50 });
  assert.equal(cache.requests.total, 0);
  // An id the config no longer has: named as nodemesh_kernel_* names it.
  assert.equal(at('source', 'id-99')!.host, 'unknown');
});
