import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Addr } from '../../../src/capture/types';
import type { Service } from '../../../src/config/model';
import type { OutlierDetection, TrafficPolicy } from '../../../src/config/traffic';
import type { ResolvedDestination } from '../../../src/route/types';
import type { EjectionEvent } from '../../../src/balance/cluster';
import { BalancerSet } from '../../../src/balance/set';
import type { PickInput } from '../../../src/balance/algorithm';
import { addrs, makeService, PORT, scripted, upstreamsOf } from './helpers';

function dest(service: Service, policy: TrafficPolicy = {}, subset?: { name: string; labels: Record<string, string> }): ResolvedDestination {
  return { service, port: PORT, subset: subset?.name, policy, subsetLabels: subset?.labels, cluster: `outbound|${PORT.number}|${subset?.name ?? ''}|${service.hosts[0]}` };
}

const OD: OutlierDetection = { intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 100, minHealthPercent: 0 };

function picker(set: BalancerSet, d: ResolvedDestination, up: readonly Addr[]) {
  return (input: PickInput = {}): string => {
    const r = set.for(d).pick(up, input);
    if (r.kind === 'none') return 'none';
    return `${r.target.addr.address}${r.panic ? '!' : ''}`;
  };
}

test('cluster: cached per cluster and policy; a reload keeps the cursor, breaker and ejections', () => {
  let now = 0;
  const set = new BalancerSet({ now: () => now });
  const svc = makeService(addrs(3));
  const policy: TrafficPolicy = { outlierDetection: OD, connectionPool: { http2MaxRequests: 7 } };
  const d = dest(svc, policy);
  const cb = set.for(d);
  assert.equal(set.for({ ...d }), cb, 'an equal destination object hits the cache');
  const up = upstreamsOf(svc);
  const pick = picker(set, d, up);
  assert.deepEqual([pick(), pick()], ['10.0.0.1', '10.0.0.2']);
  const t3 = cb.list()[2]!;
  for (let i = 0; i < 5; i++) cb.report(t3, 500);
  assert.equal(cb.isEjected(t3), true);

  const reloaded = dest(svc, { ...policy });
  const cb2 = set.for(reloaded);
  assert.notEqual(cb2, cb);
  assert.equal(cb2.breaker, cb.breaker);
  assert.equal(cb2.isEjected(t3), true);
  assert.deepEqual([picker(set, reloaded, up)(), picker(set, reloaded, up)()], ['10.0.0.1', '10.0.0.2'], 'cursor kept, ejected skipped');
  now = 30_000;
  assert.equal(cb2.isEjected(t3), false);
});

test('cluster: subset labels select endpoints', () => {
  const set = new BalancerSet();
  const svc = makeService([
    { address: '10.0.0.1', labels: { version: 'v1', app: 'x' } },
    { address: '10.0.0.2', labels: { version: 'v2', app: 'x' } },
    { address: '10.0.0.3', labels: { version: 'v1' } },
  ]);
  const up = upstreamsOf(svc);
  const v1 = picker(set, dest(svc, {}, { name: 'v1', labels: { version: 'v1' } }), up);
  assert.deepEqual([v1(), v1(), v1()], ['10.0.0.1', '10.0.0.3', '10.0.0.1']);
  const v1x = picker(set, dest(svc, {}, { name: 'v1x', labels: { version: 'v1', app: 'x' } }), up);
  assert.deepEqual([v1x(), v1x()], ['10.0.0.1', '10.0.0.1']);
  assert.equal(picker(set, dest(svc, {}, { name: 'v3', labels: { version: 'v3' } }), up)(), 'none');
});

test('cluster: retries avoid endpoints already tried while another healthy one exists', () => {
  const set = new BalancerSet();
  const svc = makeService(addrs(3));
  const up = upstreamsOf(svc);
  const pick = picker(set, dest(svc), up);
  const tried = (...a: string[]) => ({ exclude: new Set(a.map((x) => `${x}:8080`)) });
  assert.deepEqual([pick(tried('10.0.0.1')), pick(tried('10.0.0.2', '10.0.0.3'))], ['10.0.0.2', '10.0.0.1']);
  assert.notEqual(pick(tried('10.0.0.1', '10.0.0.2', '10.0.0.3')), 'none', 'all tried: pick anyway');
});

test('cluster: ejected endpoints get no traffic; an event per ejection; success resets', () => {
  const events: EjectionEvent[] = [];
  const set = new BalancerSet({ now: () => 0, onEject: (e) => events.push(e) });
  const svc = makeService(addrs(2));
  const d = dest(svc, { outlierDetection: OD });
  const up = upstreamsOf(svc);
  const pick = picker(set, d, up);
  pick();
  const cb = set.for(d);
  const [a, b] = cb.list() as [never, never];
  for (let i = 0; i < 4; i++) assert.equal(cb.report(a, 502), false);
  cb.report(a, 200);
  for (let i = 0; i < 4; i++) cb.report(a, 502);
  assert.equal(cb.report(a, 502), true);
  assert.deepEqual(events.map((e) => [e.cluster, e.target.key, e.reason, e.until]), [[d.cluster, '10.0.0.1:8080', '5xx', 30_000]]);
  assert.deepEqual([pick(), pick(), pick()], ['10.0.0.2', '10.0.0.2', '10.0.0.2']);
  // The other one too: none healthy → panic among all.
  for (let i = 0; i < 5; i++) cb.report(b, 500);
  assert.deepEqual(new Set([pick(), pick()]), new Set(['10.0.0.1!', '10.0.0.2!']));
  assert.equal(cb.panicPicks, 2);
});

test('cluster: below minHealthPercent ejections are ignored (panic)', () => {
  const set = new BalancerSet({ now: () => 0 });
  const svc = makeService(addrs(4));
  const d = dest(svc, { outlierDetection: { ...OD, minHealthPercent: 50 } });
  const up = upstreamsOf(svc);
  const pick = picker(set, d, up);
  pick();
  const cb = set.for(d);
  const eject = (i: number) => {
    for (let k = 0; k < 5; k++) cb.report(cb.list()[i]!, 500);
  };
  eject(0);
  eject(1);
  // 50% healthy is not below 50%: ejections hold.
  assert.deepEqual([pick(), pick(), pick()].sort(), ['10.0.0.3', '10.0.0.3', '10.0.0.4']);
  eject(2);
  // 25% healthy: panic, round robin over all four.
  const got = [pick(), pick(), pick(), pick()];
  assert.ok(got.every((g) => g.endsWith('!')), `${got}`);
  assert.equal(new Set(got).size, 4);
});

test('cluster: without outlierDetection only connect failures count (shared passive health)', () => {
  const set = new BalancerSet({ now: () => 0 });
  const svc = makeService(addrs(2));
  const d = dest(svc);
  const up = upstreamsOf(svc);
  const pick = picker(set, d, up);
  pick();
  const cb = set.for(d);
  const a = cb.list()[0]!;
  for (let i = 0; i < 10; i++) assert.equal(cb.report(a, 503), false);
  assert.equal(cb.isEjected(a), false);
  assert.equal(cb.report(a, 'connect-failure'), true);
  assert.equal(set.health.isHealthy(a.key, 0), false, 'the shared passive-health table');
  assert.deepEqual([pick(), pick()], ['10.0.0.2', '10.0.0.2']);
  cb.report(a, 'success');
  assert.equal(set.health.empty, true);
});

test('cluster: least request picks the less loaded of two (onStart/onEnd)', () => {
  const set = new BalancerSet({ now: () => 0, random: scripted(0, 0) });
  const svc = makeService(addrs(3));
  const d = dest(svc, { loadBalancer: { simple: 'LEAST_REQUEST' } });
  const up = upstreamsOf(svc);
  const pick = picker(set, d, up);
  pick();
  const cb = set.for(d);
  const [a, b] = cb.list();
  // Candidates are always 0 and 1 with this script.
  cb.onStart(a!);
  cb.onStart(a!);
  cb.onStart(b!);
  assert.equal(pick(), '10.0.0.2');
  cb.onEnd(b!, 5);
  assert.equal(pick(), '10.0.0.2');
  cb.onEnd(a!, 5);
  cb.onEnd(a!, 5);
  assert.equal(cb.load(a!.key)?.active, 0);
  assert.equal(pick(), '10.0.0.1', 'tie: the first candidate');
});

test('cluster: peak EWMA prefers the faster endpoint', () => {
  let now = 0;
  const set = new BalancerSet({ now: () => now, random: scripted(0, 0) });
  const svc = makeService(addrs(2));
  const d = dest(svc, { loadBalancer: { simple: 'PEAK_EWMA' } });
  const up = upstreamsOf(svc);
  const pick = picker(set, d, up);
  pick();
  const cb = set.for(d);
  const [a, b] = cb.list();
  for (const [t, ms] of [[a!, 80], [b!, 10]] as const) {
    cb.onStart(t);
    cb.onEnd(t, ms);
  }
  assert.equal(pick(), '10.0.0.2');
  // The slow one's estimate decays while it is not used; after long enough it is tried again.
  now = 30_000;
  cb.onStart(b!);
  cb.onEnd(b!, 10);
  now = 60_000;
  assert.equal(pick(), '10.0.0.1');
});

test('cluster: ring hash keeps a key on one endpoint, moves it when ejected, honours retries', () => {
  const set = new BalancerSet({ now: () => 0 });
  const svc = makeService(addrs(5));
  const d = dest(svc, { loadBalancer: { consistentHash: { key: { header: 'x-user' }, algorithm: 'RING_HASH', size: 1024 } }, outlierDetection: OD });
  const up = upstreamsOf(svc);
  const pick = picker(set, d, up);
  const first = pick({ hashKey: 'alice' });
  assert.deepEqual([pick({ hashKey: 'alice' }), pick({ hashKey: 'alice' })], [first, first]);
  const cb = set.for(d);
  const t = cb.list().find((x) => x.addr.address === first)!;
  for (let i = 0; i < 5; i++) cb.report(t, 500);
  const moved = pick({ hashKey: 'alice' });
  assert.notEqual(moved, first);
  assert.equal(pick({ hashKey: 'alice' }), moved);
  const retry = pick({ hashKey: 'alice', exclude: new Set([`${moved}:8080`]) });
  assert.ok(retry !== moved && retry !== first, retry);
});

test('cluster: passthrough picks the dialled endpoint', () => {
  const set = new BalancerSet({ random: scripted(0.99) });
  const svc = makeService(addrs(3));
  const pick = picker(set, dest(svc, { loadBalancer: { simple: 'PASSTHROUGH' } }), upstreamsOf(svc));
  assert.deepEqual([pick({ originalDst: '10.0.0.2' }), pick({ originalDst: '10.96.0.1' })], ['10.0.0.2', '10.0.0.3']);
});

test('balancer set: retain drops clusters of gone services and of names no longer live', () => {
  const set = new BalancerSet();
  const a = makeService(addrs(1), 'ns/a');
  const b = makeService(addrs(1), 'ns/b');
  const da = dest(a);
  const dv1 = dest(a, {}, { name: 'v1', labels: {} });
  const db = dest(b);
  for (const d of [da, dv1, db]) set.for(d);
  set.retain([a, b]);
  assert.ok(set.clusterBalancer(dv1.cluster) && set.clusterBalancer(db.cluster));
  set.retain([a, b], [da.cluster, db.cluster]);
  assert.equal(set.clusterBalancer(dv1.cluster), undefined);
  assert.equal(set.breakers.get(dv1.cluster), undefined);
  set.retain([a]);
  assert.equal(set.clusterBalancer(db.cluster), undefined);
  assert.ok(set.clusterBalancer(da.cluster));
  assert.equal(set.breakers.size, 1);
});

test('cluster: the all-healthy round robin path allocates no pick objects', () => {
  const set = new BalancerSet();
  const svc = makeService(addrs(2));
  const d = dest(svc);
  const up = upstreamsOf(svc);
  const cb = set.for(d);
  const p1 = cb.pick(up);
  cb.pick(up);
  assert.equal(cb.pick(up), p1);
});
