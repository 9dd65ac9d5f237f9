import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Endpoint, MeshConfig, PeerAuthn, Workload } from '../../../src/config/model';
import { Topology } from '../../../src/state/topology';

const wl = (name: string, address: string, node: string, labels: Record<string, string> = { app: name }): Workload => ({
  name, namespace: 'a', address, labels, serviceAccount: name, node,
});
const ep = (address: string, node: string | undefined): Endpoint => ({
  address, ports: {}, labels: {}, namespace: 'a', serviceAccount: 'x', workload: undefined, node, weight: 1,
});
const pa = (over: Partial<PeerAuthn>): PeerAuthn => ({ name: 'p', namespace: 'istio-system', selector: undefined, mode: 'PERMISSIVE', portLevel: {}, ...over });
const cfg = (over: Partial<MeshConfig>): MeshConfig => ({
  services: [], workloads: [wl('client', '10.1.1.2', 'node-0'), wl('server', '10.1.2.2', 'node-1')],
  nodes: [{ name: 'node-0', addresses: ['10.1.0.1'] }, { name: 'node-1', addresses: ['10.1.0.2'] }],
  peerAuthentications: [], authorizationPolicies: [], source: { files: [], hash: '' }, ...over,
});

test('placement: local, remote via the peer agent, direct without Node documents or node', () => {
  const t = new Topology(cfg({}), 'node-0', 'cluster.local');
  const cases: [Endpoint, unknown][] = [
    [ep('10.1.1.2', 'node-0'), { kind: 'local' }],
    [ep('10.1.2.2', 'node-1'), { kind: 'remote', node: 'node-1', agent: '10.1.0.2' }],
    [ep('10.1.3.2', 'node-9'), { kind: 'direct' }],
    [ep('10.1.3.3', undefined), { kind: 'direct' }],
  ];
  for (const [e, want] of cases) assert.deepEqual(t.placement(e), want, e.address);
  assert.deepEqual(new Topology(cfg({ nodes: [] }), 'node-0', 'cluster.local').placement(ep('10.1.2.2', 'node-1')), { kind: 'direct' });
});

test('identities and local workloads', () => {
  const t = new Topology(cfg({}), 'node-1', 'td.example');
  assert.deepEqual(t.localIdentities(), ['spiffe://td.example/ns/a/sa/server']);
  assert.ok(t.isLocalIp('10.1.2.2'));
  assert.ok(!t.isLocalIp('10.1.1.2'));
});

test('inbound modes: mesh, workload and port-level', () => {
  const table: { name: string; policies: PeerAuthn[]; want: unknown[] }[] = [
    { name: 'default permissive', policies: [], want: [{ ip: '10.1.2.2', port: 0, mode: 'PERMISSIVE' }] },
    { name: 'mesh strict', policies: [pa({ mode: 'STRICT' })], want: [{ ip: '10.1.2.2', port: 0, mode: 'STRICT' }] },
    {
      name: 'workload strict with a permissive port',
      policies: [pa({ namespace: 'a', name: 'w', selector: { app: 'server' }, mode: 'STRICT', portLevel: { '9000': 'PERMISSIVE' } })],
      want: [{ ip: '10.1.2.2', port: 0, mode: 'STRICT' }, { ip: '10.1.2.2', port: 9000, mode: 'PERMISSIVE' }],
    },
  ];
  for (const c of table) assert.deepEqual(new Topology(cfg({ peerAuthentications: c.policies }), 'node-1', 'cluster.local').inboundModes(), c.want, c.name);
});
