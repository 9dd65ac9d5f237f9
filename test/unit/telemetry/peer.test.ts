// The destination reporter's source labels for a tunnel stream: the forwarded client when the verified
// identity backs it, else the identity's one workload, else the identity's namespace alone.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Addr } from '../../../src/capture/types';
import type { Workload } from '../../../src/config/model';
import { workloadIdentity } from '../../../src/identity/spiffe';
import { peerSource, type PeerView } from '../../../src/telemetry/peer';

const wl = (name: string, address: string, namespace: string, sa: string): Workload => ({ name, namespace, address, labels: { app: name, version: 'v1' }, serviceAccount: sa, node: 'node-1' });
const WORKLOADS = [
  wl('web', '10.1.0.1', 'shop', 'web'),
  wl('web', '10.1.0.2', 'shop', 'web'), // a second replica of one workload
  wl('cart', '10.1.0.3', 'shop', 'shared'),
  wl('orders', '10.1.0.4', 'shop', 'shared'), // two workloads sharing a service account
];
const view: PeerView = {
  workloadByIp: (ip) => WORKLOADS.find((w) => w.address === ip),
  identityOf: (w) => workloadIdentity(w, 'cluster.local'),
  config: { workloads: WORKLOADS },
};
const id = (ns: string, sa: string): string => `spiffe://cluster.local/ns/${ns}/sa/${sa}`;
const at = (address: string, port = 0): Addr => ({ address, port });

const CASES: { name: string; identity: string; forwarded: Addr | undefined; client: string | undefined; want: Record<string, string> }[] = [
  { name: 'forwarded client with the verified identity: believed', identity: id('shop', 'web'), forwarded: at('10.1.0.2', 4000), client: '10.1.0.2', want: { workload: 'web', namespace: 'shop', app: 'web', version: 'v1', principal: 'cluster.local/ns/shop/sa/web', cluster: 'Kubernetes' } },
  { name: 'forwarded client of another identity: not believed, the identity names one workload', identity: id('shop', 'web'), forwarded: at('10.1.0.3'), client: undefined, want: { workload: 'web', namespace: 'shop', principal: 'cluster.local/ns/shop/sa/web' } },
  { name: 'no forwarded header, replicas of one workload: that workload', identity: id('shop', 'web'), forwarded: undefined, client: undefined, want: { workload: 'web', app: 'web', canonicalService: 'web' } },
  { name: 'a shared service account, two workloads: namespace only', identity: id('shop', 'shared'), forwarded: undefined, client: undefined, want: { workload: 'unknown', namespace: 'shop', app: 'unknown', principal: 'cluster.local/ns/shop/sa/shared', cluster: 'Kubernetes' } },
  { name: 'an identity no workload has: namespace only', identity: id('ops', 'robot'), forwarded: at('10.9.9.9'), client: undefined, want: { workload: 'unknown', namespace: 'ops', principal: 'cluster.local/ns/ops/sa/robot' } },
  { name: 'forwarded to an address no workload has: the identity decides', identity: id('shop', 'web'), forwarded: at('10.9.9.9'), client: undefined, want: { workload: 'web', namespace: 'shop' } },
];

for (const c of CASES) {
  test(`peerSource: ${c.name}`, () => {
    const r = peerSource(view, c.identity, c.forwarded, 'Kubernetes');
    assert.equal(r.client?.address, c.client);
    for (const [k, v] of Object.entries(c.want)) assert.equal((r.source as unknown as Record<string, string>)[k], v, k);
  });
}
