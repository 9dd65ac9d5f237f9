import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Addr } from '../../../src/capture/types';
import type { Service, ServicePort } from '../../../src/config/model';
import { HealthTable } from '../../../src/balance/health';
import { pickRoundRobin } from '../../../src/balance/picker';
import { BalancerSet } from '../../../src/balance/set';

const CASES: { name: string; n: number; cursor: number; healthy?: boolean[]; want: ReturnType<typeof pickRoundRobin> }[] = [
  { name: 'empty list', n: 0, cursor: 0, want: { kind: 'none' } },
  { name: 'first pick', n: 3, cursor: 0, want: { kind: 'pick', index: 0, next: 1, panic: false } },
  { name: 'wraps', n: 3, cursor: 2, want: { kind: 'pick', index: 2, next: 0, panic: false } },
  { name: 'cursor beyond a shrunk list', n: 2, cursor: 5, want: { kind: 'pick', index: 1, next: 0, panic: false } },
  { name: 'skips unhealthy', n: 3, cursor: 0, healthy: [false, true, true], want: { kind: 'pick', index: 1, next: 2, panic: false } },
  { name: 'skips unhealthy across the wrap', n: 3, cursor: 2, healthy: [true, false, false], want: { kind: 'pick', index: 0, next: 1, panic: false } },
  { name: 'all unhealthy: panic picks the cursor', n: 3, cursor: 1, healthy: [false, false, false], want: { kind: 'pick', index: 1, next: 2, panic: true } },
  { name: 'single healthy', n: 1, cursor: 0, healthy: [true], want: { kind: 'pick', index: 0, next: 0, panic: false } },
];

for (const c of CASES) {
  test(`pickRoundRobin: ${c.name}`, () => {
    const h = c.healthy;
    assert.deepEqual(pickRoundRobin(c.n, c.cursor, h === undefined ? undefined : (i) => h[i]!), c.want);
  });
}

test('health: cooldown starts at base, doubles on repeat, caps at max, resets on success', () => {
  const h = new HealthTable({ baseMs: 5_000, maxMs: 60_000 });
  const k = '10.0.0.1:80';
  assert.equal(h.isHealthy(k, 0), true);
  assert.equal(h.markFailure(k, 0), true);
  assert.equal(h.isHealthy(k, 4_999), false);
  assert.equal(h.isHealthy(k, 5_000), true);
  // A failure during the cooldown (a request already in flight) does not extend it.
  assert.equal(h.markFailure(k, 1_000), false);
  assert.equal(h.remaining(k, 1_000), 4_000);
  const steps: number[] = [];
  let now = 5_000;
  for (let i = 0; i < 6; i++) {
    assert.equal(h.markFailure(k, now), true);
    steps.push(h.remaining(k, now));
    now += h.remaining(k, now);
  }
  assert.deepEqual(steps, [10_000, 20_000, 40_000, 60_000, 60_000, 60_000]);
  h.markSuccess(k);
  assert.equal(h.empty, true);
  h.markFailure(k, now);
  assert.equal(h.remaining(k, now), 5_000);
});

test('health: a failure long after the last cooldown starts over at base', () => {
  const h = new HealthTable({ baseMs: 1_000, maxMs: 8_000 });
  h.markFailure('a', 0);
  h.markFailure('a', 1_000);
  assert.equal(h.remaining('a', 1_000), 2_000);
  h.markFailure('a', 3_000 + 8_000);
  assert.equal(h.remaining('a', 11_000), 1_000);
});

function makeService(addrs: Addr[]): { service: Service; port: ServicePort } {
  const port: ServicePort = { number: 80, name: 'http', protocol: undefined, targetPort: 80 };
  const service: Service = {
    key: 'ns/svc',
    id: 1,
    name: 'svc',
    namespace: 'ns',
    hosts: ['svc.ns.svc.cluster.local'],
    addresses: ['10.96.0.1'],
    ports: [port],
    dataplane: 'proxy',
    endpoints: addrs.map((a) => ({ address: a.address, ports: {}, labels: {}, namespace: 'ns', serviceAccount: undefined, workload: a.address, node: undefined, weight: 1 })),
    labels: {},
  };
  return { service, port };
}

test('balancer set: round-robin, ejection skipped, panic, and health kept by address across reloads', () => {
  let now = 0;
  const set = new BalancerSet({ now: () => now });
  const addrs: Addr[] = [
    { address: '10.0.0.1', port: 80 },
    { address: '10.0.0.2', port: 80 },
    { address: '10.0.0.3', port: 80 },
  ];
  const { service, port } = makeService(addrs);
  const pick = (list: readonly Addr[] = addrs, svc = service): string => {
    const r = set.pick(svc, port, list);
    assert.equal(r.kind, 'pick');
    return r.kind === 'pick' ? `${r.target.key}${r.panic ? '!' : ''}` : '';
  };
  assert.deepEqual([pick(), pick(), pick(), pick()], ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.0.0.1:80']);
  const r = set.pick(service, port, addrs);
  assert.ok(r.kind === 'pick');
  assert.equal(r.target.endpoint?.workload, '10.0.0.2');
  assert.equal(set.reportFailure(r.target), true);
  assert.deepEqual([pick(), pick(), pick(), pick()], ['10.0.0.3:80', '10.0.0.1:80', '10.0.0.3:80', '10.0.0.1:80']);

  // Reload: a new list (new objects, one endpoint gone); the ejected endpoint stays ejected.
  const reloaded = makeService([addrs[1]!, addrs[2]!]);
  const list = reloaded.service.endpoints.map((e) => ({ address: e.address, port: 80 }));
  assert.deepEqual([pick(list, reloaded.service), pick(list, reloaded.service)], ['10.0.0.3:80', '10.0.0.3:80']);
  now = 5_000;
  assert.deepEqual(new Set([pick(list, reloaded.service), pick(list, reloaded.service)]), new Set(['10.0.0.2:80', '10.0.0.3:80']));

  // Every endpoint ejected: still pick (panic) rather than fail.
  for (const a of list) set.health.markFailure(`${a.address}:${a.port}`, now);
  assert.match(pick(list, reloaded.service), /!$/);
  assert.equal(set.pick(reloaded.service, port, []).kind, 'none');
});
