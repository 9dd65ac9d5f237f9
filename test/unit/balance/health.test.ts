import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Addr } from '../../../src/capture/types';
import type { Service, ServicePort } from '../../../src/config/model';
import { HealthTable } from '../../../src/balance/health';
import { BalancerSet } from '../../../src/balance/set';
import type { ResolvedDestination } from '../../../src/route/types';

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

/** The destination of a service port without VirtualService or DestinationRule (what the router resolves). */
function plain(service: Service, port: ServicePort): ResolvedDestination {
  return { service, port, subset: undefined, policy: NO_POLICY, subsetLabels: undefined, cluster: `outbound|${port.number}||${service.hosts[0]}` };
}

const NO_POLICY = {};

test('balancer set without a DestinationRule: round-robin, connect failures skipped, panic, and health kept by address across reloads', () => {
  let now = 0;
  const set = new BalancerSet({ now: () => now });
  const addrs: Addr[] = [
    { address: '10.0.0.1', port: 80 },
    { address: '10.0.0.2', port: 80 },
    { address: '10.0.0.3', port: 80 },
  ];
  const { service, port } = makeService(addrs);
  const pick = (list: readonly Addr[] = addrs, svc = service): string => {
    const r = set.for(plain(svc, port)).pick(list);
    assert.equal(r.kind, 'pick');
    return r.kind === 'pick' ? `${r.target.key}${r.panic ? '!' : ''}` : '';
  };
  assert.deepEqual([pick(), pick(), pick(), pick()], ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.0.0.1:80']);
  const r = set.for(plain(service, port)).pick(addrs);
  assert.ok(r.kind === 'pick');
  assert.equal(r.target.endpoint?.workload, '10.0.0.2');
  assert.equal(set.for(plain(service, port)).report(r.target, 'connect-failure'), true);
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
  assert.equal(set.for(plain(reloaded.service, port)).pick([]).kind, 'none');
});
