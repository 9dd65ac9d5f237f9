// The translator's cache: after any change, told which keys changed or not, it gives exactly what a fresh
// translation gives, and it rebuilds (and allocates) only what changed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint } from '../../../src/config/model';
import type { KKind, KPod } from '../../../src/discovery/objects';
import { Translator, meshedPodsOn, translate, type Changes, type View } from '../../../src/discovery/translate';
import { AMBIENT, ep, meta, nodeObj, ns, pod, rv, shop, slice, svc, view, type MutableView } from './fixtures';

const addresses = (eps: readonly Endpoint[] | undefined): string[] => (eps ?? []).map((e) => e.address);

/** Incremental and fresh translations must agree, whatever changed. */
function agree(t: Translator, v: View, what: string, changes?: Changes): void {
  const inc = t.translate(v, changes);
  const fresh = translate(v);
  assert.deepEqual(JSON.parse(JSON.stringify(inc)), JSON.parse(JSON.stringify(fresh)), what);
  for (const node of new Set([...v.pods.values()].map((p) => p.node))) {
    assert.deepEqual(t.meshedPodsOn(node), meshedPodsOn(v, node), `${what}: meshed pods on ${node}`);
  }
}

/** A Map that notes the keys set or deleted, as the informers report them to the translator. */
class Recording<V> extends Map<string, V> {
  kind: KKind | undefined;
  log: Map<KKind, Set<string>> | undefined;
  override set(key: string, value: V): this {
    if (this.kind !== undefined) this.log?.get(this.kind)?.add(key);
    return super.set(key, value);
  }
  override delete(key: string): boolean {
    if (this.kind !== undefined) this.log?.get(this.kind)?.add(key);
    return super.delete(key);
  }
}

/** V with maps that record changes; take() returns (and forgets) the changes since the last take(). */
function recorded(v: MutableView): { view: MutableView; take: () => Changes } {
  const log = new Map<KKind, Set<string>>((['Service', 'EndpointSlice', 'Pod', 'Namespace', 'Node'] as KKind[]).map((k) => [k, new Set<string>()]));
  const wrap = <V>(kind: KKind, m: Map<string, V>): Recording<V> => {
    const r = new Recording<V>();
    for (const [k, x] of m) r.set(k, x);
    r.kind = kind;
    r.log = log;
    return r;
  };
  const view = { services: wrap('Service', v.services), slices: wrap('EndpointSlice', v.slices), pods: wrap('Pod', v.pods), namespaces: wrap('Namespace', v.namespaces), nodes: wrap('Node', v.nodes) };
  const take = (): Changes => {
    const out = Object.fromEntries([...log].map(([k, keys]) => [k, [...keys]]));
    for (const keys of log.values()) keys.clear();
    return out;
  };
  return { view, take };
}

test('the cache rebuilds only what changed, and then agrees with a fresh translation', () => {
  const v = shop();
  v.services.set('shop/db', svc('db', { clusterIPs: ['10.96.0.11'] }));
  v.slices.set('shop/db-1', slice('db-1', 'db', [ep('10.1.0.40', 'db-0')]));
  v.pods.set('shop/db-0', pod('db-0', '10.1.0.40', { workload: 'db' }));
  const t = new Translator();
  const named = (out: ReturnType<Translator['translate']>, name: string) => out.services.find((s) => s.name === name);
  const first = t.translate(v);
  const again = t.translate(v);
  assert.equal(named(again, 'db'), named(first, 'db'), 'nothing changed: the same objects');
  assert.equal(again.workloads[0], first.workloads[0]);

  v.slices.set('shop/reviews-1', slice('reviews-1', 'reviews', [ep('10.1.0.5', 'reviews-a')]));
  const afterSlice = t.translate(v);
  assert.notEqual(named(afterSlice, 'reviews'), named(first, 'reviews'), 'reviews rebuilt');
  assert.equal(named(afterSlice, 'db'), named(first, 'db'), 'db untouched');
  agree(t, v, 'one slice changed');

  // A status-only pod update (new resourceVersion) keeps the services; a relabel rebuilds them.
  const db0 = v.pods.get('shop/db-0') as KPod;
  v.pods.set('shop/db-0', { ...db0, qosClass: 'Burstable', meta: { ...db0.meta, resourceVersion: rv() } });
  assert.equal(named(t.translate(v), 'db'), named(first, 'db'));
  v.pods.set('shop/db-0', pod('db-0', '10.1.0.40', { workload: 'db' }, { version: 'v2' }));
  assert.notEqual(named(t.translate(v), 'db'), named(first, 'db'));
  agree(t, v, 'pod relabelled');

  // A re-list hands out new copies with the same versions: nothing is rebuilt.
  const before = t.translate(v);
  for (const [k, s] of v.services) v.services.set(k, { ...s });
  for (const [k, p] of v.pods) v.pods.set(k, { ...p });
  for (const [k, s] of v.slices) v.slices.set(k, { ...s });
  const relisted = t.translate(v);
  assert.equal(named(relisted, 'db'), named(before, 'db'));
  assert.equal(named(relisted, 'reviews'), named(before, 'reviews'));
});

test('the cache agrees with a fresh translation through every kind of change, told what changed or not', () => {
  const { view: v, take } = recorded(shop());
  const t = new Translator();
  const told = new Translator();
  agree(t, v, 'start');
  agree(told, v, 'start', take());
  const steps: [string, () => void][] = [
    ['namespace leaves the mesh', () => v.namespaces.set('shop', ns('shop'))],
    ['pod opts in by label', () => v.pods.set('shop/reviews-a', pod('reviews-a', '10.1.0.5', {}, AMBIENT))],
    ['namespace deleted', () => v.namespaces.delete('shop')],
    ['namespace back in the mesh', () => v.namespaces.set('shop', ns('shop', AMBIENT))],
    ['pod moves to another node', () => v.pods.set('shop/reviews-b', pod('reviews-b', '10.1.0.6', { node: 'node-c' }))],
    ['pod deleted', () => v.pods.delete('shop/reviews-b')],
    ['pod the slice names arrives late', () => v.pods.set('shop/reviews-b', pod('reviews-b', '10.1.0.6'))],
    ['endpoint starts terminating', () => v.slices.set('shop/reviews-1', slice('reviews-1', 'reviews', [ep('10.1.0.5', 'reviews-a'), ep('10.1.0.6', 'reviews-b', { ready: false, terminating: true })]))],
    ['second slice', () => v.slices.set('shop/reviews-2', slice('reviews-2', 'reviews', [ep('10.1.0.7', undefined)]))],
    ['slice moves to another service', () => v.slices.set('shop/reviews-2', slice('reviews-2', 'ratings', [ep('10.1.0.7', undefined)]))],
    ['that service appears', () => v.services.set('shop/ratings', svc('ratings', { clusterIPs: ['10.96.0.12'] }))],
    ['slice deleted', () => v.slices.delete('shop/reviews-1')],
    ['service changes ports', () => v.services.set('shop/reviews', svc('reviews', { ports: [{ name: 'http', port: 81, protocol: 'TCP', appProtocol: 'http2', targetPort: 'http' }] }))],
    ['service deleted', () => v.services.delete('shop/ratings')],
    ['stale pod with the same IP', () => v.pods.set('shop/ghost', { ...pod('ghost', '10.1.0.5'), meta: { ...meta('ghost', 'shop'), resourceVersion: '1' } })],
    ['stale pod gone', () => v.pods.delete('shop/ghost')],
    ['node gets an address', () => v.nodes.set('node-b', nodeObj('node-b', ['192.168.1.12']))],
    ['node deleted', () => v.nodes.delete('node-a')],
  ];
  for (const [what, change] of steps) {
    change();
    agree(t, v, what);
    agree(told, v, `${what}, told the changed keys`, take());
  }
});

test('random change sequences: the cache (told what changed or not) always agrees with a fresh translation', () => {
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const { view: v, take } = recorded(view({ namespaces: [ns('shop', AMBIENT)] }));
  const t = new Translator();
  const told = new Translator();
  const podNames = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5'];
  const serviceNames = ['s0', 's1', 's2'];
  for (let step = 0; step < 400; step++) {
    const r = rnd(8);
    const p = podNames[rnd(podNames.length)];
    const s = serviceNames[rnd(serviceNames.length)];
    if (r === 0) v.pods.set(`shop/${p}`, pod(p, `10.1.0.${rnd(4)}`, { node: `node-${rnd(2)}`, phase: ['Running', 'Pending', 'Succeeded'][rnd(3)] }, rnd(3) === 0 ? { 'istio.io/dataplane-mode': 'none' } : {}));
    else if (r === 1) v.pods.delete(`shop/${p}`);
    else if (r === 2) v.services.set(`shop/${s}`, svc(s, { clusterIPs: [`10.96.1.${serviceNames.indexOf(s)}`] }));
    else if (r === 3) v.services.delete(`shop/${s}`);
    else if (r === 4 || r === 5) {
      const eps = podNames.filter(() => rnd(2) === 0).map((n) => ep(`10.1.0.${rnd(4)}`, n, { ready: rnd(3) > 0, terminating: rnd(2) === 0 }));
      const name = `${s}-${rnd(2)}`;
      v.slices.set(`shop/${name}`, slice(name, serviceNames[rnd(serviceNames.length)], eps, 8080 + rnd(2)));
    } else if (r === 6) v.slices.delete(`shop/${s}-${rnd(2)}`);
    else v.namespaces.set('shop', ns('shop', rnd(2) === 0 ? AMBIENT : {}));
    agree(t, v, `step ${step}`);
    agree(told, v, `step ${step}, told the changed keys`, take());
  }
});

test('told what changed, the translator looks at nothing else, and reuses its lists', () => {
  const { view: v, take } = recorded(shop());
  const t = new Translator();
  const first = t.translate(v, take());
  assert.equal(first.services.length, 1, 'the first call compares everything');
  const same = t.translate(v, take());
  assert.equal(same.services, first.services, 'no change: the same lists');
  assert.equal(same.workloads, first.workloads);
  v.slices.set('shop/reviews-1', slice('reviews-1', 'reviews', [ep('10.1.0.6', 'reviews-b')]));
  const afterSlice = t.translate(v, take());
  assert.deepEqual(addresses(afterSlice.services[0].endpoints), ['10.1.0.6']);
  assert.equal(afterSlice.workloads, first.workloads, 'no pod changed: the workload list is reused');
  const b = v.pods.get('shop/reviews-b') as KPod;
  v.pods.set('shop/reviews-b', { ...b, qosClass: 'Guaranteed', meta: { ...b.meta, resourceVersion: rv() } });
  assert.equal(t.translate(v, take()).workloads, first.workloads, 'a status-only pod update: the workload list is reused');
  // A change it is not told about is not seen (the contract: every change is reported).
  v.services.delete('shop/reviews');
  assert.equal(t.translate(v, {}).services.length, 1);
  assert.equal(t.translate(v, take()).services.length, 0);
});
