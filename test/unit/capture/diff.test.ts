import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MeshConfig, Service } from '../../../src/config/model';
import { planSync, stateOf, type MapOp, type MapState } from '../../../src/capture/diff';
import { backendKey, decodeSvcVal, svcKey, svcKeyPort, svcValDecided } from '../../../src/capture/layout';
import { planMaps } from '../../../src/capture/plan';

const ep = (address: string) => ({ address, ports: {}, labels: {}, namespace: 'ns', serviceAccount: undefined, workload: undefined, node: undefined, weight: 1 });
const svc = (id: number, vip: string, endpoints: string[], dataplane: 'kernel' | 'proxy' = 'kernel'): Service => ({
  key: `ns/s${id}`,
  id,
  name: `s${id}`,
  namespace: 'ns',
  hosts: [`s${id}.ns.svc.cluster.local`],
  addresses: [vip],
  ports: [{ number: 80, name: 'http', protocol: 'HTTP', targetPort: 8080 }],
  dataplane,
  endpoints: endpoints.map(ep),
  labels: {},
});
const cfg = (...services: Service[]): MeshConfig => ({ services, workloads: [], nodes: [], peerAuthentications: [], authorizationPolicies: [], source: { files: [], hash: '' } });
const vipOf = (i: number): string => `10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
/** N kernel services, ids from BASE, VIPs from VIPBASE, two endpoints each. */
const many = (n: number, base: number, vipBase: number, dataplane: 'kernel' | 'proxy' = 'kernel'): MeshConfig =>
  cfg(...Array.from({ length: n }, (_, i) => svc(base + i, vipOf(vipBase + i), [`10.1.${i >> 8}.${i & 255}`, `10.2.${i >> 8}.${i & 255}`], dataplane)));
const empty: MapState = { services: new Map(), backends: new Map(), ids: new Set() };

/**
 * A model of the three hash maps as connect4 sees them: applies the ops one at a time, refuses an
 * insert into a full map (E2BIG, as the kernel does) and checks, op by op, that each service entry's
 * backends are all there (a reference count per backend) and that no VIP that is in both configs is
 * ever missing.
 */
function replay(from: MapState, ops: readonly MapOp[], cap: { services: number; backends: number }, stays: ReadonlySet<string>): MapState {
  const s = new Map(from.services);
  const b = new Map(from.backends);
  const ids = new Set(from.ids);
  const refs = new Map<string, number>();
  const counts = (k: string, v: string): string[] => {
    const val = decodeSvcVal(Buffer.from(v, 'hex'));
    return Array.from({ length: val.backendCount }, (_, j) => backendKey(val.serviceId, svcKeyPort(Buffer.from(k, 'hex')), j).toString('hex'));
  };
  const ref = (k: string, v: string, by: number): void => {
    for (const bk of counts(k, v)) refs.set(bk, (refs.get(bk) ?? 0) + by);
  };
  for (const [k, v] of s) ref(k, v, 1);
  ops.forEach((op, i) => {
    const where = `op ${i} (${op.op} ${op.map} ${op.key})`;
    if (op.map === 'nm_svc_stats') {
      const id = Buffer.from(op.key, 'hex').readUInt32LE(0);
      if (op.op === 'delete') ids.delete(id);
      else if (!ids.has(id) && ids.size >= cap.services) throw new Error(`${where}: nm_svc_stats full (${ids.size})`);
      else ids.add(id);
      return;
    }
    const m = op.map === 'nm_services' ? s : b;
    const old = m.get(op.key);
    if (op.op === 'delete') {
      if (op.map === 'nm_services') {
        if (stays.has(op.key)) throw new Error(`${where}: a VIP that stays was unmapped`);
        if (old !== undefined) ref(op.key, old, -1);
      } else if ((refs.get(op.key) ?? 0) > 0) throw new Error(`${where}: a service still counts this backend`);
      m.delete(op.key);
      return;
    }
    const limit = op.map === 'nm_services' ? cap.services : cap.backends;
    if (old === undefined && m.size >= limit) throw new Error(`${where}: ${op.map} full (${m.size})`);
    if (op.map === 'nm_services') {
      const missing = counts(op.key, op.value).filter((bk) => !b.has(bk));
      if (missing.length > 0) throw new Error(`${where}: counts backends not there yet: ${missing.join(',')}`);
      if (old !== undefined) ref(op.key, old, -1);
      ref(op.key, op.value, 1);
    }
    m.set(op.key, op.value);
  });
  return { services: s, backends: b, ids };
}

const decided = (m: ReadonlyMap<string, string>): Map<string, string> => new Map([...m].map(([k, v]) => [k, svcValDecided(v)]));

interface Case {
  name: string;
  from: MeshConfig;
  to: MeshConfig;
  cap?: { services: number; backends: number };
  prune?: boolean;
  ops?: number;
  released?: number;
  check?: (ops: readonly MapOp[]) => void;
}

const idx = (ops: readonly MapOp[], pred: (o: MapOp) => boolean): number[] => ops.flatMap((o, i) => (pred(o) ? [i] : []));
const svcOp = (vip: string) => (o: MapOp) => o.map === 'nm_services' && o.key === svcKey(vip, 80).toString('hex');
const bkOp = (id: number, index: number) => (o: MapOp) => o.map === 'nm_backends' && o.key === backendKey(id, 80, index).toString('hex');

const cases: Case[] = [
  { name: 'empty to empty', from: cfg(), to: cfg(), ops: 0 },
  { name: 'add to empty maps', from: cfg(), to: cfg(svc(1, '10.96.0.1', ['10.0.0.1', '10.0.0.2'])), ops: 4 },
  { name: 'remove everything', from: cfg(svc(1, '10.96.0.1', ['10.0.0.1', '10.0.0.2'])), to: cfg(), ops: 4 },
  { name: 'unchanged: no writes', from: many(50, 1, 0), to: many(50, 1, 0), ops: 0 },
  {
    name: 'endpoint address changes: one backend update, nothing else',
    from: cfg(svc(1, '10.96.0.1', ['10.0.0.1', '10.0.0.2'])),
    to: cfg(svc(1, '10.96.0.1', ['10.0.0.1', '10.0.0.9'])),
    ops: 1,
    check: (ops) => assert.deepEqual(idx(ops, bkOp(1, 1)), [0]),
  },
  {
    name: 'grow 2 → 3: the new backend before the service value',
    from: cfg(svc(1, '10.96.0.1', ['10.0.0.1', '10.0.0.2'])),
    to: cfg(svc(1, '10.96.0.1', ['10.0.0.1', '10.0.0.2', '10.0.0.3'])),
    ops: 2,
    check: (ops) => assert.ok(idx(ops, bkOp(1, 2))[0]! < idx(ops, svcOp('10.96.0.1'))[0]!),
  },
  {
    name: 'shrink 3 → 1: the service value before the surplus deletes',
    from: cfg(svc(1, '10.96.0.1', ['10.0.0.1', '10.0.0.2', '10.0.0.3'])),
    to: cfg(svc(1, '10.96.0.1', ['10.0.0.1'])),
    ops: 3,
    check: (ops) => {
      const value = idx(ops, svcOp('10.96.0.1'))[0]!;
      assert.ok(value < idx(ops, bkOp(1, 1))[0]! && value < idx(ops, bkOp(1, 2))[0]!);
    },
  },
  { name: 'kernel → proxy: the value only', from: cfg(svc(1, '10.96.0.1', ['10.0.0.1'])), to: cfg(svc(1, '10.96.0.1', ['10.0.0.1'], 'proxy')), ops: 1 },
  { name: 'proxy → kernel with one more endpoint', from: cfg(svc(1, '10.96.0.1', ['10.0.0.1'], 'proxy')), to: cfg(svc(1, '10.96.0.1', ['10.0.0.1', '10.0.0.2'])), ops: 2 },
  {
    name: 'a VIP moves to another kernel service: old backends held until it switched',
    from: cfg(svc(1, '10.96.0.1', ['10.0.0.1', '10.0.0.2'])),
    to: cfg(svc(2, '10.96.0.1', ['10.0.0.3', '10.0.0.4'])),
    released: 0,
    check: (ops) => {
      const sw = idx(ops, svcOp('10.96.0.1'))[0]!;
      assert.ok(idx(ops, bkOp(2, 0))[0]! < sw && idx(ops, bkOp(1, 0))[0]! > sw);
    },
  },
  {
    name: 'a VIP moves and both backend sets do not fit: it counts none while its new ones go in',
    from: cfg(svc(1, '10.96.0.1', ['10.0.0.1', '10.0.0.2'])),
    to: cfg(svc(2, '10.96.0.1', ['10.0.0.3', '10.0.0.4'])),
    cap: { services: 1, backends: 2 },
    released: 1,
  },
  { name: 'swap 10k → a different 10k (new VIPs and ids) at capacity', from: many(10_000, 1, 0), to: many(10_000, 20_001, 10_000), cap: { services: 10_000, backends: 20_000 } },
  { name: 'swap 10k proxy → a different 10k proxy at capacity', from: many(10_000, 1, 0, 'proxy'), to: many(10_000, 20_001, 10_000, 'proxy'), cap: { services: 10_000, backends: 20_000 } },
  { name: 'swap 10k → 10k other services on the same VIPs at capacity', from: many(10_000, 1, 0), to: many(10_000, 20_001, 0), cap: { services: 10_000, backends: 20_000 }, released: 10_000 },
  { name: 'half stay, half swapped, at capacity', from: many(4_000, 1, 0), to: cfg(...many(2_000, 1, 0).services, ...many(2_000, 9_001, 5_000).services), cap: { services: 4_000, backends: 8_000 } },
];

test('planSync: table of changes, replayed against a model of the kernel maps', () => {
  for (const c of cases) {
    const from = stateOf(planMaps(c.from));
    const plan = planMaps(c.to);
    const cap = c.cap ?? { services: 1 << 20, backends: 1 << 20 };
    const d = planSync(from, plan, { prune: c.prune ?? true, backendCapacity: cap.backends });
    const stays = new Set([...from.services.keys()].filter((k) => plan.services.has(k)));
    const after = replay(from, d.ops, cap, stays);
    const want = stateOf(plan);
    assert.deepEqual(decided(after.services), decided(want.services), `${c.name}: services`);
    assert.deepEqual(after.backends, want.backends, `${c.name}: backends`);
    assert.deepEqual(after.ids, want.ids, `${c.name}: stats ids`);
    assert.ok(d.peak.services <= cap.services && d.peak.backends <= cap.backends, `${c.name}: peak ${JSON.stringify(d.peak)}`);
    if (c.ops !== undefined) assert.equal(d.ops.length, c.ops, `${c.name}: ${JSON.stringify(d.ops)}`);
    if (c.released !== undefined) assert.equal(d.released, c.released, c.name);
    c.check?.(d.ops);
  }
});

test('planSync: the kernel-owned round-robin cursor is not a difference', () => {
  const plan = planMaps(cfg(svc(1, '10.96.0.1', ['10.0.0.1'])));
  const st = stateOf(plan);
  const withCursor = new Map([...st.services].map(([k, v]) => [k, `${v.slice(0, 16)}2a000000`]));
  assert.equal(planSync({ ...st, services: withCursor }, plan, { prune: true }).ops.length, 0);
});

test('planSync: a partial view (prune false) deletes nothing and peaks at both sets', () => {
  const from = stateOf(planMaps(many(10, 1, 0)));
  const d = planSync(from, planMaps(many(10, 101, 100)), { prune: false });
  assert.equal(d.ops.filter((o) => o.op === 'delete').length, 0);
  assert.deepEqual(d.peak, { services: 20, backends: 40 });
});

test('planSync: a first sync against what a predecessor left (stats ids beyond the config)', () => {
  const plan = planMaps(cfg(svc(1, '10.96.0.1', ['10.0.0.1'])));
  const from: MapState = { ...stateOf(plan), ids: new Set([1, 77]) };
  const d = planSync(from, plan, { prune: true });
  assert.deepEqual(d.ops, [{ op: 'delete', map: 'nm_svc_stats', key: '4d000000' }]);
  assert.equal(planSync(empty, plan, { prune: true }).ops.filter((o) => o.map === 'nm_svc_stats').length, 1);
});

test('the model catches a wrong order: adds before deletes overflow a swap at capacity', () => {
  const from = stateOf(planMaps(many(100, 1, 0)));
  const plan = planMaps(many(100, 1001, 100));
  const ops = planSync(from, plan, { prune: true }).ops;
  const naive = [...ops.filter((o) => o.op === 'put'), ...ops.filter((o) => o.op === 'delete')];
  assert.throws(() => replay(from, naive, { services: 100, backends: 200 }, new Set()), /full/);
  const shrink = planSync(stateOf(planMaps(cfg(svc(1, '10.96.0.1', ['10.0.0.1', '10.0.0.2'])))), planMaps(cfg(svc(1, '10.96.0.1', ['10.0.0.1']))), { prune: true }).ops;
  assert.throws(() => replay(stateOf(planMaps(cfg(svc(1, '10.96.0.1', ['10.0.0.1', '10.0.0.2'])))), [...shrink].reverse(), { services: 9, backends: 9 }, new Set()), /still counts this backend/);
});
