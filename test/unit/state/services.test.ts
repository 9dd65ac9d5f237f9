// ServiceIndex over a config: VIP and host lookups, upstream addresses, workloads by IP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { buildConfig } from '../../../src/config/load';
import type { MeshConfig } from '../../../src/config/model';
import { ServiceIndex } from '../../../src/state/services';
import { fixture } from '../config/helpers';

function load(text: string): MeshConfig {
  const r = buildConfig({ files: [{ path: 'mesh.yaml', name: 'mesh.yaml', content: text }], issues: [], warnings: [] });
  assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.issues));
  return r.config;
}

const basic = (): ServiceIndex => new ServiceIndex(load(readFileSync(fixture('basic.yaml'), 'utf8')));

test('byVip finds the service and port; other ports and addresses miss', () => {
  const idx = basic();
  const m = idx.byVip('127.0.10.1', 80);
  assert.equal(m?.service.key, 'default/echo');
  assert.equal(m?.port.name, 'http-web');
  assert.equal(idx.byVip('127.0.10.1', 9000)?.port.name, 'tcp-raw');
  assert.equal(idx.byVip('127.0.10.2', 6379)?.service.dataplane, 'kernel');
  assert.equal(idx.byVip('127.0.10.1', 81), undefined);
  assert.equal(idx.byVip('127.0.10.9', 80), undefined);
});

test('byHost: exact (case-insensitive), then the most specific wildcard', () => {
  const idx = new ServiceIndex(
    load(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: exact}
spec:
  hosts: [api.example.com]
  ports: [{number: 80, name: http}]
  endpoints: [{address: 10.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: wild}
spec:
  hosts: ["*.example.com"]
  ports: [{number: 80, name: http}]
  endpoints: [{address: 10.0.0.2}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: wilder}
spec:
  hosts: ["*.com"]
  ports: [{number: 80, name: http}]
  endpoints: [{address: 10.0.0.3}]
`),
  );
  assert.equal(idx.byHost('API.example.com', 80)?.service.name, 'exact');
  assert.equal(idx.byHost('web.example.com', 80)?.service.name, 'wild');
  assert.equal(idx.byHost('a.b.example.com', 80)?.service.name, 'wild');
  assert.equal(idx.byHost('other.com', 80)?.service.name, 'wilder');
  assert.equal(idx.byHost('example.org', 80), undefined);
  assert.equal(idx.byHost('api.example.com', 443), undefined);
});

test('upstreams: endpoint port override, else targetPort; the same array each time', () => {
  const idx = new ServiceIndex(
    load(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: s}
spec:
  hosts: [s]
  addresses: [127.0.10.1]
  ports:
  - {number: 80, name: http, targetPort: 8080}
  - {number: 90, name: tcp}
  endpoints:
  - {address: 127.0.0.2}
  - {address: 127.0.0.3, ports: {http: 9999}}
`),
  );
  const m = idx.byVip('127.0.10.1', 80);
  assert.ok(m);
  const ups = idx.upstreams(m.service, m.port);
  assert.deepEqual(ups, [
    { address: '127.0.0.2', port: 8080 },
    { address: '127.0.0.3', port: 9999 },
  ]);
  assert.equal(idx.upstreams(m.service, m.port), ups);
  assert.ok(Object.isFrozen(ups));
  const tcp = idx.byVip('127.0.10.1', 90);
  assert.ok(tcp);
  assert.deepEqual(idx.upstreams(tcp.service, tcp.port), [
    { address: '127.0.0.2', port: 90 },
    { address: '127.0.0.3', port: 90 },
  ]);
});

test('services, byId and workloadByIp', () => {
  const idx = basic();
  assert.deepEqual(idx.services().map((s) => s.key), ['default/echo', 'default/kv']);
  const kv = idx.services()[1];
  assert.ok(kv);
  assert.equal(idx.byId(kv.id), kv);
  assert.equal(idx.workloadByIp('127.0.0.4')?.name, 'kv-0');
  assert.equal(idx.workloadByIp('127.0.0.4')?.node, 'node-a');
  assert.equal(idx.workloadByIp('127.0.0.2'), undefined);
});

test('an empty config answers nothing', () => {
  const idx = new ServiceIndex({ services: [], workloads: [], nodes: [], peerAuthentications: [], authorizationPolicies: [], source: { files: [], hash: '' } });
  assert.equal(idx.byVip('127.0.10.1', 80), undefined);
  assert.equal(idx.byHost('a', 80), undefined);
  assert.deepEqual(idx.services(), []);
});
