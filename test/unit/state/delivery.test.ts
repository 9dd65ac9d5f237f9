import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Target } from '../../../src/balance/target';
import type { Endpoint, MeshConfig, Service, ServicePort, Workload } from '../../../src/config/model';
import { deliveryView } from '../../../src/state/delivery';
import { Topology } from '../../../src/state/topology';

const wl = (name: string, address: string, node: string | undefined, sa = name): Workload => ({ name, namespace: 'a', address, labels: { app: name }, serviceAccount: sa, node });
const ep = (address: string, node: string | undefined, sa: string): Endpoint => ({ address, ports: {}, labels: {}, namespace: 'a', serviceAccount: sa, workload: undefined, node, weight: 1 });
const port: ServicePort = { number: 80, name: 'http', protocol: 'HTTP', targetPort: 8080 };
const svc = { key: 'a/s', name: 's', namespace: 'a', hosts: ['s.a.svc.cluster.local'], ports: [port] } as unknown as Service;
const target = (e: Endpoint): Target => ({ addr: { address: e.address, port: 8080 }, key: `${e.address}:8080`, endpoint: e, service: svc, port });
const cfg = (nodes: boolean): MeshConfig => ({
  services: [],
  workloads: [wl('here', '10.1.1.2', 'node-0'), wl('there', '10.1.2.2', 'node-1'), wl('loose', '10.1.1.9', undefined)],
  nodes: nodes ? [{ name: 'node-0', addresses: ['10.1.0.1'] }, { name: 'node-1', addresses: ['10.1.0.2'] }] : [],
  peerAuthentications: [],
  authorizationPolicies: [],
  source: { files: [], hash: '' },
});

const HERE = ep('10.1.1.2', 'node-0', 'here');
const THERE = ep('10.1.2.2', 'node-1', 'there');
const LOOSE = ep('10.1.1.9', undefined, 'loose');
const EXTERNAL = ep('192.0.2.7', undefined, 'default');

const CASES: { name: string; nodes: boolean; tunnels: Endpoint[]; endpoint: Endpoint; want: { kind: string; principal: string; workload?: string } }[] = [
  { name: 'a mesh endpoint on another node: tunnel', nodes: true, tunnels: [HERE, THERE], endpoint: THERE, want: { kind: 'tunnel', principal: 'td/ns/a/sa/there', workload: 'there' } },
  { name: 'this node\'s pod served by the tunnel to itself: tunnel', nodes: true, tunnels: [HERE, THERE], endpoint: HERE, want: { kind: 'tunnel', principal: 'td/ns/a/sa/here', workload: 'here' } },
  { name: 'this node\'s pod that no tunnel serves: local', nodes: true, tunnels: [THERE], endpoint: HERE, want: { kind: 'local', principal: 'td/ns/a/sa/here', workload: 'here' } },
  { name: 'no Node documents, a workload of this node: local', nodes: false, tunnels: [], endpoint: HERE, want: { kind: 'local', principal: 'td/ns/a/sa/here', workload: 'here' } },
  { name: 'no Node documents, a workload of another node: direct', nodes: false, tunnels: [], endpoint: THERE, want: { kind: 'direct', principal: '' } },
  { name: 'a workload on no node: direct', nodes: true, tunnels: [], endpoint: LOOSE, want: { kind: 'direct', principal: '' } },
  { name: 'an unnamed endpoint at this node\'s pod (a ServiceEntry address): local, that workload', nodes: true, tunnels: [THERE], endpoint: ep('10.1.1.2', undefined, 'default'), want: { kind: 'local', principal: 'td/ns/a/sa/here', workload: 'here' } },
  { name: 'an address outside the mesh: direct', nodes: true, tunnels: [HERE, THERE], endpoint: EXTERNAL, want: { kind: 'direct', principal: '' } },
];

for (const c of CASES) {
  test(`deliveryView: ${c.name}`, () => {
    const topo = new Topology(cfg(c.nodes), 'node-0', 'td');
    const view = deliveryView(topo, new Map(c.tunnels.map((e) => [`${e.address}:8080`, { endpoint: e }])));
    const t = target(c.endpoint);
    const d = view.deliveryOf(t);
    assert.deepEqual({ kind: d.kind, principal: d.principal, ...(d.workload ? { workload: d.workload.name } : {}) }, c.want);
    assert.equal(view.deliveryOf(t), view.deliveryOf(t), 'one answer per target object');
  });
}
