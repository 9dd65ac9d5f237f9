// Endpoint localities with Kubernetes discovery: the pod's istio-locality label, else its node's
// topology labels, else the EndpointSlice's zone; and the node's labels reach its MeshNode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KNode } from '../../../src/discovery/objects';
import { translate } from '../../../src/discovery/translate';
import { AMBIENT, ep, meta, ns, pod, slice, svc, view } from './fixtures';

const zoned = (name: string, ip: string, labels: Record<string, string>): KNode => ({ kind: 'Node', meta: meta(name, '', labels), internalIPs: [ip] });
const TOPO = (region: string, zone: string): Record<string, string> => ({ 'topology.kubernetes.io/region': region, 'topology.kubernetes.io/zone': zone });

test('endpoint locality: pod override, node labels, slice zone, unknown', () => {
  const out = translate(
    view({
      namespaces: [ns('shop', AMBIENT)],
      services: [svc('reviews')],
      slices: [slice('reviews-1', 'reviews', [ep('10.1.0.5', 'a'), ep('10.1.0.6', 'b'), ep('10.1.0.7', 'c'), ep('10.1.0.8', undefined, { zone: 'z9' }), ep('10.1.0.9', undefined)])],
      pods: [
        pod('a', '10.1.0.5', { node: 'node-a' }),
        pod('b', '10.1.0.6', { node: 'node-b' }),
        pod('c', '10.1.0.7', { node: 'node-a' }, { 'istio-locality': 'r7.z7.s7' }),
      ],
      nodes: [zoned('node-a', '192.168.1.10', TOPO('r1', 'z1')), zoned('node-b', '192.168.1.11', { ...TOPO('r1', 'z2'), 'topology.istio.io/subzone': 'rack3' })],
    }),
  );
  const eps = out.services[0]?.endpoints ?? [];
  assert.deepEqual(eps.map((e) => [e.address, e.locality]), [
    ['10.1.0.5', 'r1/z1'],
    ['10.1.0.6', 'r1/z2/rack3'],
    ['10.1.0.7', 'r7/z7/s7'],
    ['10.1.0.8', '/z9'],
    ['10.1.0.9', undefined],
  ]);
  assert.deepEqual(out.nodes.find((n) => n.node.name === 'node-a')?.node.labels, TOPO('r1', 'z1'));
});
