// What the DNS proxy answers from the mesh view: hosts, Kubernetes short forms, wildcards, allocated
// addresses (stable, distinct), AAAA without records, everything else forwarded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { docs, mustLoad, serviceEntry } from '../config/helpers';
import { DnsView, allocate, decide, withAllocated } from '../../../src/dns/view';
import { TYPE_A, TYPE_AAAA } from '../../../src/dns/wire';
import { ServiceIndex } from '../../../src/state/services';

const PORTS = [{ number: 80, name: 'http' }];
const CONFIG = mustLoad(docs(
  serviceEntry('web', { hosts: ['web.shop.svc.cluster.local'], addresses: ['10.96.0.10'], ports: PORTS, endpoints: [{ address: '10.1.0.1' }] }),
  serviceEntry('api', { hosts: ['api.example.com', 'api2.example.com'], ports: PORTS, resolution: 'DNS' }),
  serviceEntry('wild', { hosts: ['*.wild.example'], addresses: ['10.96.0.20'], ports: PORTS, endpoints: [{ address: '10.1.0.2' }] }),
  serviceEntry('none', { hosts: ['none.example.com'], ports: PORTS, resolution: 'NONE' }),
));

test('addresses are allocated from 240.240.0.0/16 for hosts of services without any', () => {
  const alloc = allocate(CONFIG);
  assert.deepEqual([...alloc.keys()], ['api.example.com', 'api2.example.com']);
  for (const a of alloc.values()) assert.match(a, /^240\.240\.\d+\.\d+$/);
  assert.notEqual(alloc.get('api.example.com'), alloc.get('api2.example.com'));
  // Stable: the same hosts give the same addresses, whatever else the config holds.
  const other = mustLoad(docs(serviceEntry('api', { hosts: ['api.example.com'], ports: PORTS, resolution: 'DNS' })));
  assert.equal(allocate(other).get('api.example.com'), alloc.get('api.example.com'));
  // They become the service's VIPs, so connects to them are captured and routed.
  const cfg = withAllocated(CONFIG, alloc);
  const api = cfg.services.find((s) => s.key === 'default/api')!;
  assert.deepEqual(api.addresses, [alloc.get('api.example.com'), alloc.get('api2.example.com')]);
  assert.equal(new ServiceIndex(cfg).byVip(alloc.get('api2.example.com')!, 80)?.service.key, 'default/api');
});

test('collisions are resolved deterministically, never shared', () => {
  const many = mustLoad(docs(serviceEntry('many', { hosts: Array.from({ length: 3000 }, (_, i) => `h${i}.example.com`), ports: PORTS, resolution: 'DNS' })));
  const a = allocate(many);
  assert.equal(new Set(a.values()).size, 3000);
  assert.deepEqual(allocate(many), a);
});

test('answers: A records, AAAA empty, short forms, wildcards; the rest is forwarded', () => {
  const alloc = allocate(CONFIG);
  const view = new DnsView(withAllocated(CONFIG, alloc), 'cluster.local');
  const cases: [string, number, string[] | 'forward'][] = [
    ['web.shop.svc.cluster.local', TYPE_A, ['10.96.0.10']],
    ['web.shop.svc', TYPE_A, ['10.96.0.10']],
    ['web.shop', TYPE_A, ['10.96.0.10']],
    ['web.shop.svc.cluster.local', TYPE_AAAA, []],
    ['api.example.com', TYPE_A, [alloc.get('api.example.com')!]],
    ['api2.example.com', TYPE_A, [alloc.get('api2.example.com')!]],
    ['x.wild.example', TYPE_A, ['10.96.0.20']],
    ['a.b.wild.example', TYPE_A, ['10.96.0.20']],
    ['wild.example', TYPE_A, 'forward'],
    ['none.example.com', TYPE_A, 'forward'],
    ['web', TYPE_A, 'forward'],
    ['example.org', TYPE_A, 'forward'],
  ];
  for (const [name, type, want] of cases) {
    const d = decide(view, { name, type, class: 1 });
    if (want === 'forward') assert.equal(d.kind, 'forward', name);
    else assert.deepEqual(d.kind === 'answer' ? [...d.answer.addresses] : d.kind, want, `${name} ${type}`);
  }
  // Another class than IN is not the mesh's.
  assert.equal(decide(view, { name: 'web.shop', type: TYPE_A, class: 3 }).kind, 'forward');
});
