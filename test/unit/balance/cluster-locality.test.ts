// The cluster balancer with locality: picks stay in the preferred locality while it has a healthy
// endpoint, move on when it is ejected (outlier detection) or checked down (active health), and come
// back when it recovers; distribute splits by weight.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint, Service } from '../../../src/config/model';
import type { OutlierDetection, TrafficPolicy } from '../../../src/config/traffic';
import type { ResolvedDestination } from '../../../src/route/types';
import { BalancerSet } from '../../../src/balance/set';
import { parseLocality } from '../../../src/balance/locality';
import { PORT, prng, upstreamsOf } from './helpers';

const OD: OutlierDetection = { consecutive5xxErrors: 1, intervalMs: 1_000, baseEjectionTimeMs: 10_000, maxEjectionPercent: 100, minHealthPercent: 0 };

function service(eps: [string, string][]): Service {
  const endpoints: Endpoint[] = eps.map(([address, locality]) => ({ address, ports: {}, labels: {}, namespace: 'ns', serviceAccount: undefined, workload: address, node: undefined, weight: 1, locality }));
  return { key: 'ns/svc', id: 1, name: 'svc', namespace: 'ns', hosts: ['svc.ns.svc.cluster.local'], addresses: ['10.96.0.1'], ports: [PORT], dataplane: 'proxy', endpoints, labels: {} };
}

function dest(svc: Service, policy: TrafficPolicy): ResolvedDestination {
  return { service: svc, port: PORT, subset: undefined, policy, subsetLabels: undefined, cluster: 'outbound|80||svc.ns.svc.cluster.local' };
}

const SVC = service([['10.0.0.1', 'r1/z1'], ['10.0.0.2', 'r1/z2'], ['10.0.0.3', 'r1/z2']]);

function picks(set: BalancerSet, d: ResolvedDestination, n: number, now: number): string[] {
  const up = upstreamsOf(SVC);
  const out = new Set<string>();
  for (let i = 0; i < n; i++) {
    const p = set.for(d).pick(up, {}, now);
    out.add(p.kind === 'pick' ? p.target.addr.address : 'none');
  }
  return [...out].sort();
}

test('failover: local zone preferred, other zone after an ejection, back after it ends', () => {
  const set = new BalancerSet({ self: { locality: parseLocality('r1/z1'), labels: {} } });
  const d = dest(SVC, { outlierDetection: OD });
  assert.deepEqual(picks(set, d, 6, 0), ['10.0.0.1']);
  const cb = set.for(d);
  const local = cb.list().find((t) => t.addr.address === '10.0.0.1')!;
  assert.ok(cb.report(local, 503, 1));
  assert.deepEqual(picks(set, d, 6, 2), ['10.0.0.2', '10.0.0.3']);
  assert.deepEqual(picks(set, d, 6, 10_002), ['10.0.0.1']);
});

test('failover: an active health check taking the local endpoint down moves traffic, up brings it back', () => {
  const set = new BalancerSet({ self: { locality: parseLocality('r1/z1'), labels: {} } });
  const d = dest(SVC, { outlierDetection: OD });
  set.health.setChecked('10.0.0.1:8080', false);
  assert.deepEqual(picks(set, d, 6, 0), ['10.0.0.2', '10.0.0.3']);
  set.health.setChecked('10.0.0.1:8080', true);
  assert.deepEqual(picks(set, d, 6, 0), ['10.0.0.1']);
});

test('active health without outlierDetection: the checked-down endpoint is skipped (no locality)', () => {
  const set = new BalancerSet({ self: { locality: parseLocality('r1/z1'), labels: {} } });
  const d = dest(SVC, {});
  assert.deepEqual(picks(set, d, 9, 0), ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
  set.health.setChecked('10.0.0.2:8080', false);
  assert.deepEqual(picks(set, d, 9, 0), ['10.0.0.1', '10.0.0.3']);
});

test('no outlierDetection: failover is not applied (every zone gets traffic)', () => {
  const set = new BalancerSet({ self: { locality: parseLocality('r1/z1'), labels: {} } });
  const d = dest(SVC, { loadBalancer: { simple: 'ROUND_ROBIN', locality: { failover: [], failoverPriority: [], distribute: [] } } });
  assert.deepEqual(picks(set, d, 9, 0), ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
});

test('the agent learning its locality later re-plans', () => {
  const set = new BalancerSet();
  const d = dest(SVC, { outlierDetection: OD });
  assert.deepEqual(picks(set, d, 9, 0), ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
  set.setSelf({ locality: parseLocality('r1/z2'), labels: {} });
  assert.deepEqual(picks(set, d, 9, 0), ['10.0.0.2', '10.0.0.3']);
});

test('distribute: 75/25 between zones', () => {
  const set = new BalancerSet({ random: prng(7), self: { locality: parseLocality('r1/z1'), labels: {} } });
  const policy: TrafficPolicy = { loadBalancer: { simple: 'ROUND_ROBIN', locality: { failover: [], failoverPriority: [], distribute: [{ from: 'r1/z1', to: { 'r1/z1': 75, 'r1/z2': 25 } }] } } };
  const d = dest(SVC, policy);
  const up = upstreamsOf(SVC);
  const counts = new Map<string, number>();
  for (let i = 0; i < 4000; i++) {
    const p = set.for(d).pick(up, {}, 0);
    assert.equal(p.kind, 'pick');
    if (p.kind === 'pick') counts.set(p.target.addr.address, (counts.get(p.target.addr.address) ?? 0) + 1);
  }
  const local = counts.get('10.0.0.1') ?? 0;
  assert.ok(local > 2800 && local < 3200, JSON.stringify([...counts]));
  assert.ok((counts.get('10.0.0.2') ?? 0) > 300 && (counts.get('10.0.0.3') ?? 0) > 300);
});

test('a retry goes to another endpoint of the chosen zone first, then another zone', () => {
  const set = new BalancerSet({ self: { locality: parseLocality('r1/z2'), labels: {} } });
  const d = dest(SVC, { outlierDetection: OD });
  const up = upstreamsOf(SVC);
  const p1 = set.for(d).pick(up, { exclude: new Set(['10.0.0.2:8080']) }, 0);
  assert.equal(p1.kind === 'pick' && p1.target.addr.address, '10.0.0.3');
  const p2 = set.for(d).pick(up, { exclude: new Set(['10.0.0.2:8080', '10.0.0.3:8080']) }, 0);
  assert.equal(p2.kind === 'pick' && p2.target.addr.address, '10.0.0.1');
});
