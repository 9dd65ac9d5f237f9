import assert from 'node:assert/strict';
import { test } from 'node:test';
import { authorizeCsr } from '../../../src/ca/authz';
import { podRecord, PodIndex, type PodRecord } from '../../../src/ca/pods';
import type { KPod } from '../../../src/discovery/objects';

function kpod(ns: string, name: string, node: string, sa: string, phase = 'Running', uid = `uid-${name}`): KPod {
  return {
    kind: 'Pod',
    meta: { name, namespace: ns, uid, resourceVersion: '1', labels: {} },
    node,
    serviceAccount: sa,
    ips: ['10.0.0.1'],
    phase,
    qosClass: 'BestEffort',
    hostNetwork: false,
    workload: name,
    workloadKind: 'Pod',
  };
}

const put = (ix: PodIndex, p: KPod): void => ix.upsert(`${p.meta.namespace}/${p.meta.name}`, podRecord(p));

test('podRecord: keeps what the CA needs; no service account means default; Succeeded/Failed are terminated', () => {
  const r: PodRecord = podRecord(kpod('shop', 'cart-1', 'node-a', 'cart'));
  assert.deepEqual(r, { namespace: 'shop', name: 'cart-1', uid: 'uid-cart-1', serviceAccount: 'cart', node: 'node-a', ips: ['10.0.0.1'], terminated: false });
  assert.equal(podRecord(kpod('shop', 'x', 'n', '')).serviceAccount, 'default');
  for (const [phase, terminated] of [['Pending', false], ['Running', false], ['Unknown', false], ['', false], ['Succeeded', true], ['Failed', true]] as const) {
    assert.equal(podRecord(kpod('shop', 'x', 'n', 'a', phase)).terminated, terminated, phase);
  }
});

test('PodIndex: workloads by node follow upserts, moves and removals', () => {
  const ix = new PodIndex();
  put(ix, kpod('shop', 'cart-1', 'node-a', 'cart'));
  put(ix, kpod('shop', 'cart-2', 'node-a', 'cart'));
  put(ix, kpod('shop', 'pay-1', 'node-b', 'pay'));
  put(ix, kpod('shop', 'job-1', 'node-a', 'batch', 'Succeeded'));
  put(ix, kpod('shop', 'pending', '', 'cart'));
  assert.equal(ix.size, 5);
  assert.deepEqual(ix.workloadsOn('node-a'), [{ namespace: 'shop', serviceAccount: 'cart', node: 'node-a' }], 'once per identity, terminated pods left out');
  assert.deepEqual(ix.workloadsOn('node-b'), [{ namespace: 'shop', serviceAccount: 'pay', node: 'node-b' }]);
  assert.deepEqual(ix.workloadsOn('node-z'), []);
  assert.equal(ix.pod('shop', 'pending')?.node, '');
  assert.equal(ix.podsOn('node-a').length, 3);

  // The pod changes node (a new pod of the same name) and service account.
  put(ix, kpod('shop', 'pay-1', 'node-a', 'pay2'));
  assert.deepEqual(ix.workloadsOn('node-b'), []);
  assert.deepEqual(ix.workloadsOn('node-a').map((w) => w.serviceAccount).sort(), ['cart', 'pay2']);

  ix.remove('shop/cart-1');
  assert.ok(ix.workloadsOn('node-a').some((w) => w.serviceAccount === 'cart'), 'cart-2 still runs there');
  ix.remove('shop/cart-2');
  ix.remove('shop/cart-2');
  assert.deepEqual(ix.workloadsOn('node-a').map((w) => w.serviceAccount), ['pay2']);
  assert.equal(ix.pod('shop', 'cart-1'), undefined);
  assert.equal(ix.size, 3);
});

test('authorization from pods and config together: decision table', () => {
  const ix = new PodIndex();
  put(ix, kpod('shop', 'cart-1', 'node-a', 'cart'));
  put(ix, kpod('shop', 'pay-1', 'node-b', 'pay'));
  put(ix, kpod('shop', 'old', 'node-a', 'gone', 'Failed'));
  const config = [{ namespace: 'legacy', serviceAccount: 'vm', node: 'node-a' }];
  const id = (ns: string, sa: string): string => `spiffe://cluster.local/ns/${ns}/sa/${sa}`;
  const decide = (node: string, identity: string, synced: boolean): string => {
    ix.synced = synced;
    const d = authorizeCsr({
      callerNode: node,
      requested: { uriSans: [identity], impersonatedIdentity: identity },
      workloads: [...config, ...ix.workloadsOn(node)],
      trustDomain: 'cluster.local',
      topologyComplete: ix.synced,
    });
    return d.ok ? 'ok' : d.code;
  };
  const cases: [string, string, boolean, string][] = [
    ['node-a', id('shop', 'cart'), true, 'ok'],
    ['node-a', id('shop', 'pay'), true, 'PERMISSION_DENIED'],
    ['node-b', id('shop', 'pay'), true, 'ok'],
    ['node-b', id('shop', 'cart'), true, 'PERMISSION_DENIED'],
    ['node-a', id('legacy', 'vm'), true, 'ok'], // a WorkloadEntry of the config
    ['node-b', id('legacy', 'vm'), true, 'PERMISSION_DENIED'],
    ['node-a', id('shop', 'gone'), true, 'PERMISSION_DENIED'], // its pod has terminated
    ['node-a', id('shop', 'pay'), false, 'UNAVAILABLE'], // the list may still bring it
    ['node-a', id('legacy', 'vm'), false, 'ok'], // what is known is granted before the sync
    ['node-a', 'spiffe://other.domain/ns/shop/sa/cart', false, 'PERMISSION_DENIED'], // never a matter of waiting
  ];
  for (const [node, identity, synced, want] of cases) assert.equal(decide(node, identity, synced), want, `${node} ${identity} synced=${synced}`);
});
