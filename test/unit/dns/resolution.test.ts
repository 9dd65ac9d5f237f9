// ServiceEntry resolution: what the readers make of DNS, DNS_ROUND_ROBIN, NONE and MESH_EXTERNAL, and how
// resolved answers become endpoints (the config the agent then applies as any other).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { docs, mustLoad, serviceEntry } from '../config/helpers';
import { namesToResolve, refreshDelayMs, sameAddresses, withResolved } from '../../../src/dns/resolved';
import { ServiceIndex } from '../../../src/state/services';

const PORTS = [{ number: 443, name: 'tls', protocol: 'TLS' }];

test('DNS without endpoints resolves the hosts; with endpoints, the named ones', () => {
  const c = mustLoad(docs(
    serviceEntry('api', { hosts: ['api.example.com', 'API2.example.com'], ports: PORTS, resolution: 'DNS', location: 'MESH_EXTERNAL' }),
    serviceEntry('db', { hosts: ['db.internal'], addresses: ['10.96.9.9'], ports: [{ number: 5432, name: 'tcp' }], resolution: 'DNS', endpoints: [{ address: 'db-0.example.net', ports: { tcp: 6432 } }, { address: '10.1.2.3' }] }),
    serviceEntry('static', { hosts: ['s.example'], ports: PORTS, endpoints: [{ address: '10.1.0.1' }] }),
  ));
  const [api, db, st] = ['default/api', 'default/db', 'default/static'].map((k) => c.services.find((s) => s.key === k)!);
  assert.equal(api!.resolution, 'DNS');
  assert.equal(api!.location, 'MESH_EXTERNAL');
  assert.deepEqual(api!.endpoints, []);
  assert.deepEqual(api!.dnsEndpoints!.map((e) => [e.address, e.namespace]), [['api.example.com', 'default'], ['api2.example.com', 'default']]);
  assert.deepEqual(db!.endpoints.map((e) => e.address), ['10.1.2.3']);
  assert.deepEqual(db!.dnsEndpoints!.map((e) => [e.address, e.ports, e.namespace]), [['db-0.example.net', { tcp: 6432 }, 'default']]);
  assert.equal(st!.resolution, undefined);
  assert.equal(st!.dnsEndpoints, undefined);
  assert.deepEqual(namesToResolve(c), ['api.example.com', 'api2.example.com', 'db-0.example.net']);
});

test('answers become endpoints: DNS all addresses, DNS_ROUND_ROBIN the first; the hash follows the answers', () => {
  const c = mustLoad(docs(
    serviceEntry('all', { hosts: ['all.example.com'], ports: PORTS, resolution: 'DNS' }),
    serviceEntry('one', { hosts: ['one.example.com'], ports: PORTS, resolution: 'DNS_ROUND_ROBIN', endpoints: [{ address: 'lb.example.com', weight: 3 }] }),
  ));
  const answers = new Map([['all.example.com', ['10.0.0.1', '10.0.0.2']], ['lb.example.com', ['10.0.1.1', '10.0.1.2']]]);
  const r = withResolved(c, answers);
  const by = (k: string) => r.services.find((s) => s.key === k)!;
  assert.deepEqual(by('default/all').endpoints.map((e) => e.address), ['10.0.0.1', '10.0.0.2']);
  assert.deepEqual(by('default/one').endpoints.map((e) => [e.address, e.weight]), [['10.0.1.1', 3]]);
  // The same answers give the same config hash; another answer another one; none yet: no endpoints.
  assert.equal(withResolved(c, new Map(answers)).source.hash, r.source.hash);
  assert.notEqual(withResolved(c, new Map([...answers, ['all.example.com', ['10.0.0.3']]])).source.hash, r.source.hash);
  assert.deepEqual(withResolved(c, new Map()).services.find((s) => s.key === 'default/all')!.endpoints, []);
  // The index serves the resolved endpoints to the balancer.
  const svc = by('default/all');
  assert.deepEqual(new ServiceIndex(r).upstreams(svc, svc.ports[0]!).map((a) => `${a.address}:${a.port}`), ['10.0.0.1:443', '10.0.0.2:443']);
});

test('a config without DNS services is returned as is', () => {
  const c = mustLoad(docs(serviceEntry('s', { hosts: ['s.example'], ports: PORTS, endpoints: [{ address: '10.1.0.1' }] })));
  assert.equal(withResolved(c, new Map()), c);
});

test('NONE: no endpoints, connections go to their original destination', () => {
  const c = mustLoad(docs(serviceEntry('ext', { hosts: ['ext.example.com'], addresses: ['192.0.2.10'], ports: PORTS, resolution: 'NONE', location: 'MESH_EXTERNAL' })));
  const s = c.services[0]!;
  assert.equal(s.resolution, 'NONE');
  const index = new ServiceIndex(c);
  const dst = { address: '192.0.2.10', port: 443 };
  const a = index.upstreams(s, s.ports[0]!, dst);
  assert.deepEqual(a, [dst]);
  // The same list for the same destination (the balancer keys on it), none without one.
  assert.equal(index.upstreams(s, s.ports[0]!, { ...dst }), a);
  assert.deepEqual(index.upstreams(s, s.ports[0]!), []);
});

test('refresh delays respect the TTL within floor and ceiling', () => {
  const cases: [number[], number][] = [
    [[60, 30], 30_000],
    [[1], 5_000],
    [[], 5_000],
    [[86_400], 300_000],
  ];
  for (const [ttls, want] of cases) assert.equal(refreshDelayMs(ttls, 5_000, 300_000), want, String(ttls));
  assert.equal(sameAddresses(['a', 'b'], ['b', 'a']), true);
  assert.equal(sameAddresses(undefined, []), false);
  assert.equal(sameAddresses(['a'], ['a', 'b']), false);
});
