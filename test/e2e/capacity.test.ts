// Map capacities in the real kernel: the sizes given at load become the maps' max_entries, pinned maps
// keep theirs across a restart, and a config swap that needs old + new together beyond the capacity
// applies in place (the maps then hold exactly the new set).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import { BpfDatapath, uninstall } from '../../src/capture/bpf';
import type { MapCapacity } from '../../src/capture/capacity';
import { stateOf } from '../../src/capture/diff';
import { native } from '../../src/capture/ffi';
import { readState } from '../../src/capture/mapsync';
import { planMaps } from '../../src/capture/plan';
import type { MeshConfig, Service } from '../../src/config/model';
import { isMeshError } from '../../src/errors';
import { ensureBpffs, ensureCgroup2, makeCgroup, removeCgroup, runInCgroup } from '../helpers/sysenv';
import { backend, closeAll } from './fixtures';
import { REPO, rootTest } from './harness';

let seq = 0;

/** A capture cgroup (with a pods/ child) and a pin directory of this test's own; removed afterwards. */
function sandbox(t: TestContext): { root: string; pods: string; pin: string; open: (capacity?: Partial<MapCapacity>) => BpfDatapath } {
  const id = `nmcap-${process.pid}-${++seq}`;
  const root = path.join(ensureCgroup2(), id);
  const pods = makeCgroup(path.join(root, 'pods'));
  const pin = path.join(ensureBpffs(), id);
  const open: BpfDatapath[] = [];
  t.after(() => {
    for (const dp of open) dp.close();
    uninstall(pin, root);
    removeCgroup(root);
  });
  return {
    root,
    pods,
    pin,
    open: (capacity) => {
      const dp = BpfDatapath.open({ cgroup: root, bpffs: pin, objects: path.join(REPO, 'build/bpf'), agent: { address: '127.0.0.1', port: 1 }, ...(capacity ? { capacity } : {}) });
      open.push(dp);
      return dp;
    },
  };
}

const svc = (id: number, vip: string, endpoints: { address: string; port: number }[], dataplane: 'kernel' | 'proxy' = 'kernel'): Service => ({
  key: `cap/s${id}`,
  id,
  name: `s${id}`,
  namespace: 'cap',
  hosts: [`s${id}.cap.svc.cluster.local`],
  addresses: [vip],
  ports: [{ number: 80, name: 'http', protocol: 'HTTP', targetPort: 80 }],
  dataplane,
  endpoints: endpoints.map((e) => ({ address: e.address, ports: { http: e.port }, labels: {}, namespace: 'cap', serviceAccount: undefined, workload: undefined, node: undefined, weight: 1 })),
  labels: {},
});
const cfg = (services: Service[]): MeshConfig => ({ services, workloads: [], nodes: [], peerAuthentications: [], authorizationPolicies: [], source: { files: [], hash: '' } });
/** N services with two endpoints each; VIPs 10.(200+net).x.y, ids from BASE. */
const many = (n: number, base: number, net: number, dataplane: 'kernel' | 'proxy' = 'kernel'): Service[] =>
  Array.from({ length: n }, (_, i) => svc(base + i, `10.${200 + net}.${i >> 8}.${i & 255}`, [{ address: `10.1.${i >> 8}.${i & 255}`, port: 8080 }, { address: `10.2.${i >> 8}.${i & 255}`, port: 8080 }], dataplane));

/** What the pinned maps hold, normalized the way the planner writes them (cursor bytes dropped). */
function held(pin: string): { services: Map<string, string>; backends: Map<string, string>; ids: Set<number> } {
  const lib = native();
  const fds = new Map(['nm_services', 'nm_backends', 'nm_svc_stats'].map((m) => [m, lib.objGet(path.join(pin, m))]));
  try {
    const st = readState(lib, (m) => fds.get(m)!);
    return { services: new Map([...st.services].map(([k, v]) => [k, v.slice(0, 16)])), backends: new Map(st.backends), ids: new Set(st.ids) };
  } finally {
    for (const fd of fds.values()) lib.closeFd(fd);
  }
}
const expected = (c: MeshConfig): ReturnType<typeof held> => {
  const st = stateOf(planMaps(c));
  return { services: new Map([...st.services].map(([k, v]) => [k, v.slice(0, 16)])), backends: new Map(st.backends), ids: new Set(st.ids) };
};

rootTest('capacity flags set max_entries; a pinned map keeps its size across a restart', async (t) => {
  const box = sandbox(t);
  const dp = box.open({ services: 64, backends: 128, connections: 1024, meshedPods: 32 });
  const size = new Map(dp.maps().map((m) => [m.name, m.maxEntries]));
  for (const m of ['nm_services', 'nm_svc_stats', 'nm_inbound_mode']) assert.equal(size.get(m), 64, m);
  assert.equal(size.get('nm_backends'), 128);
  for (const m of ['nm_cookie_dst', 'nm_orig_dst', 'nm_sockhash']) assert.equal(size.get(m), 1024, m);
  assert.equal(size.get('nm_meshed'), 32);
  assert.equal(size.get('nm_config'), 1, 'maps without a capacity keep their compiled size');
  assert.deepEqual(dp.capacity, { services: 64, backends: 128, connections: 1024, meshedPods: 32 });
  // Read back through the kernel's own map info of the pin, not the datapath's view.
  const lib = native();
  const fd = lib.objGet(path.join(box.pin, 'nm_backends'));
  t.after(() => lib.closeFd(fd));
  assert.equal(lib.mapInfo(fd).maxEntries, 128);
  dp.sync(cfg(many(3, 1, 0)));
  dp.close();

  // A restart asking for more: the pins (and their contents) are re-adopted with their size, and said so.
  const again = box.open({ services: 128, backends: 128, connections: 1024, meshedPods: 32 });
  assert.deepEqual(again.capacity, { services: 64, backends: 128, connections: 1024, meshedPods: 32 });
  assert.deepEqual(again.report.kept.map((k) => [k.map, k.pinned, k.requested]), [['nm_services', 64, 128], ['nm_svc_stats', 64, 128], ['nm_inbound_mode', 64, 128]]);
  assert.equal(held(box.pin).services.size, 3, 'contents survive');
  // Why: libbpf reuses a pin only when max_entries matches; asked for another size, the load fails.
  assert.throws(
    () => lib.objectLoad(path.join(REPO, 'build/bpf/connect4.bpf.o'), box.pin, new Map([['nm_services', 128]])),
    (e) => isMeshError(e, 'BPF_OBJECT') && /Invalid argument/.test(e.message),
  );
  assert.throws(() => again.sync(cfg(many(100, 1, 0))), (e) => isMeshError(e, 'MAP_CAPACITY') && /capacity 64: raise --max-services to at least 100;.*\(the maps' pinned size; a new one applies after 'nodemesh uninstall'\)$/.test(e.message));
});

rootTest('a config swap beyond old + new applies in place: the maps hold exactly the new set', async (t) => {
  const box = sandbox(t);
  // 2N > capacity ≥ N for both maps: 48 VIPs of 64, 96 backends of 128.
  const dp = box.open({ services: 64, backends: 128 });
  const [b1, b2] = [await backend('old'), await backend('new')];
  t.after(() => closeAll([b1, b2]));
  const live = (id: number, vip: string, b: { port: number }): Service => svc(id, vip, [{ address: '127.0.0.1', port: b.port }, { address: '127.0.0.1', port: b.port }]);

  const a = cfg([...many(47, 1, 0), live(1000, '10.209.0.1', b1)]);
  dp.sync(a);
  assert.deepEqual(held(box.pin), expected(a));
  assert.equal((await runInCgroup(box.pods, 'curl', ['-sS', '--max-time', '5', 'http://10.209.0.1/'])).trim(), 'old');

  // Disjoint: other services, other VIPs.
  const b = cfg([...many(47, 5001, 1), live(6000, '10.209.0.2', b2)]);
  dp.sync(b);
  assert.deepEqual(held(box.pin), expected(b));
  assert.equal((await runInCgroup(box.pods, 'curl', ['-sS', '--max-time', '5', 'http://10.209.0.2/'])).trim(), 'new');

  // The same VIPs taken over by other services (new ids): both backend sets do not fit together.
  const c = cfg([...many(47, 9001, 1), live(9900, '10.209.0.2', b1)]);
  dp.sync(c);
  assert.deepEqual(held(box.pin), expected(c));
  assert.equal((await runInCgroup(box.pods, 'curl', ['-sS', '--max-time', '5', 'http://10.209.0.2/'])).trim(), 'old');

  // Too big for the maps: refused before any write; the maps keep the last set.
  assert.throws(() => dp.sync(cfg(many(65, 1, 2))), (e) => isMeshError(e, 'MAP_CAPACITY') && /65 nm_services entries .* capacity 64: raise --max-services to at least 65/.test(e.message));
  assert.deepEqual(held(box.pin), expected(c));

  // A restarted agent diffs against what the maps hold (no cache) and swaps back.
  dp.close();
  const next = box.open({ services: 64, backends: 128 });
  next.sync(a);
  assert.deepEqual(held(box.pin), expected(a));
});

rootTest('10k services → another 10k at the default capacity (16384)', async (t) => {
  const box = sandbox(t);
  const dp = box.open();
  const a = cfg(many(10_000, 1, 0, 'proxy'));
  const b = cfg(many(10_000, 20_001, 1, 'proxy'));
  let t0 = performance.now();
  dp.sync(a);
  const first = performance.now() - t0;
  t0 = performance.now();
  dp.sync(b);
  const swap = performance.now() - t0;
  t.diagnostic(`sync 10k services: ${first.toFixed(0)} ms; swap to another 10k: ${swap.toFixed(0)} ms`);
  const now = held(box.pin);
  assert.equal(now.services.size, 10_000);
  assert.deepEqual(now, expected(b));
  assert.ok(fs.existsSync(path.join(box.pin, 'nm_services')));
}, 120_000);
