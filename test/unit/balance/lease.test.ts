import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Service } from '../../../src/config/model';
import type { OutlierDetection, TrafficPolicy } from '../../../src/config/traffic';
import type { ResolvedDestination } from '../../../src/route/types';
import { BalancerSet } from '../../../src/balance/set';
import type { OutlierResult } from '../../../src/balance/outlier';
import { addrs, makeService, PORT, upstreamsOf } from './helpers';

function dest(service: Service, policy: TrafficPolicy = {}): ResolvedDestination {
  return { service, port: PORT, subset: undefined, policy, subsetLabels: undefined, cluster: `outbound|${PORT.number}||${service.hosts[0]}` };
}

const OD: OutlierDetection = { intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 100, minHealthPercent: 0, consecutive5xxErrors: 1 } as OutlierDetection;

test('lease: load starts with the pick and ends once, however many times the caller settles or releases', () => {
  const set = new BalancerSet({ now: () => 0 });
  const svc = makeService(addrs(1));
  const cb = set.for(dest(svc, { loadBalancer: { simple: 'LEAST_REQUEST' } }));
  const l = cb.lease(upstreamsOf(svc), {}, 10)!;
  const active = (): number => cb.load(l.target.key)!.active;
  assert.equal(active(), 1);
  assert.equal(l.active, true);
  l.settle(200, 15);
  assert.equal(active(), 0);
  l.settle(503, 16);
  l.release(17);
  assert.equal(active(), 0);
  const r = cb.lease(upstreamsOf(svc), {}, 20)!;
  r.release(21);
  r.settle(500, 22);
  assert.equal(active(), 0);
  assert.equal(cb.isEjected(r.target, 22), false, 'a released lease judges nothing');
});

// One row per outcome: what settle() says and what it did to the endpoint.
const ROWS: readonly { name: string; policy: TrafficPolicy; result: OutlierResult; ejected: boolean; passive: boolean }[] = [
  { name: 'success, passive health', policy: {}, result: 200, ejected: false, passive: false },
  { name: 'connect failure, passive health', policy: {}, result: 'connect-failure', ejected: true, passive: true },
  { name: '503, passive health (only connect failures count)', policy: {}, result: 503, ejected: false, passive: false },
  { name: '503 with outlierDetection', policy: { outlierDetection: OD }, result: 503, ejected: true, passive: false },
  { name: '200 with outlierDetection', policy: { outlierDetection: OD }, result: 200, ejected: false, passive: false },
];

for (const row of ROWS) {
  test(`lease settle: ${row.name}`, () => {
    const set = new BalancerSet({ now: () => 0 });
    const svc = makeService(addrs(2));
    const cb = set.for(dest(svc, row.policy));
    const l = cb.lease(upstreamsOf(svc), {}, 0)!;
    const s = l.settle(row.result, 1);
    assert.deepEqual({ ejected: s.ejected, passive: s.passive }, { ejected: row.ejected, passive: row.passive });
    assert.equal(cb.isEjected(l.target, 1), row.ejected);
  });
}

test('lease: undefined when the cluster has no endpoint', () => {
  const set = new BalancerSet({ now: () => 0 });
  const svc = makeService([]);
  assert.equal(set.for(dest(svc)).lease([], {}, 0), undefined);
});

test('lease judge: the outcome is judged at the head while the load lasts until release, with the latency to the head', () => {
  const set = new BalancerSet({ now: () => 0 });
  const svc = makeService(addrs(1));
  const cb = set.for(dest(svc, { loadBalancer: { simple: 'LEAST_REQUEST' } }));
  const seen: { latency: number; now: number | undefined }[] = [];
  const onEnd = cb.onEnd.bind(cb);
  cb.onEnd = (target, latencyMs, now) => {
    seen.push({ latency: latencyMs, now });
    onEnd(target, latencyMs, now);
  };
  const l = cb.lease(upstreamsOf(svc), {}, 100)!;
  l.judge(200, 130);
  assert.equal(cb.load(l.target.key)!.active, 1, 'still active after the head');
  l.judge(503, 140);
  l.release(900);
  assert.equal(cb.load(l.target.key)!.active, 0);
  assert.deepEqual(seen, [{ latency: 30, now: 900 }]);
  assert.equal(cb.isEjected(l.target, 900), false);
});
