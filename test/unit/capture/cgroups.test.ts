import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { isKubepodsDirName, normalizeUid, podCgroupCandidates, PodCgroups, podUidFromDirName, qosOf } from '../../../src/capture/cgroups';

const UID = '3f2a9c1e-7b4d-4e8f-9a0b-1c2d3e4f5a6b';
const UID_ = UID.replace(/-/g, '_');
const HASH = '0123456789abcdef0123456789abcdef';

test('podCgroupCandidates: both drivers, per QoS class, all classes when unknown', () => {
  const cases: { qos: string | undefined; want: string[] }[] = [
    { qos: 'Burstable', want: [`kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice`, `kubepods/burstable/pod${UID}`] },
    { qos: 'BestEffort', want: [`kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice`, `kubepods/besteffort/pod${UID}`] },
    { qos: 'Guaranteed', want: [`kubepods.slice/kubepods-pod${UID_}.slice`, `kubepods/pod${UID}`] },
    { qos: 'guaranteed', want: [`kubepods.slice/kubepods-pod${UID_}.slice`, `kubepods/pod${UID}`] },
  ];
  for (const c of cases) assert.deepEqual(podCgroupCandidates(UID, c.qos), c.want, String(c.qos));
  for (const qos of [undefined, '', 'Platinum']) {
    const all = podCgroupCandidates(UID, qos);
    assert.equal(all.length, 6, String(qos));
    assert.ok(all.includes(`kubepods/pod${UID}`) && all.includes(`kubepods/besteffort/pod${UID}`), String(qos));
  }
  assert.deepEqual(podCgroupCandidates(UID.toUpperCase(), 'Guaranteed'), podCgroupCandidates(UID, 'Guaranteed'), 'UIDs compare lower case');
  assert.deepEqual(podCgroupCandidates(HASH, 'Guaranteed'), [`kubepods.slice/kubepods-pod${HASH}.slice`, `kubepods/pod${HASH}`], 'static pod hash');
});

test('normalizeUid and candidates refuse anything that is not a UID (no path can escape)', () => {
  for (const bad of ['', '../../etc', `${UID}/..`, `${UID}_`, UID.replace(/-/g, '_'), 'not-a-uid', `${UID} x`, '0123456789abcdef0123456789abcde']) {
    assert.equal(normalizeUid(bad), undefined, bad);
    assert.deepEqual(podCgroupCandidates(bad), [], bad);
  }
  assert.equal(normalizeUid(` ${UID.toUpperCase()} `), UID);
});

test('podUidFromDirName: table of directory names', () => {
  const cases: [string, string | undefined][] = [
    [`kubepods-burstable-pod${UID_}.slice`, UID],
    [`kubepods-besteffort-pod${UID_}.slice`, UID],
    [`kubepods-pod${UID_}.slice`, UID],
    [`kubelet-kubepods-burstable-pod${UID_}.slice`, UID], // --cgroup-root /kubelet (kind)
    [`pod${UID}`, UID],
    [`pod${HASH}`, HASH],
    [`kubepods-pod${HASH}.slice`, HASH],
    [`pod${UID_}`, UID], // cgroupfs never writes '_', but the UID is unambiguous
    [`kubepods-burstable-pod${UID}.slice`, UID],
    ['kubepods-burstable.slice', undefined],
    ['kubepods.slice', undefined],
    ['burstable', undefined],
    [`cri-containerd-${'a'.repeat(64)}.scope`, undefined],
    ['a'.repeat(64), undefined],
    [`pod${UID}.scope`, undefined],
    [`xpod${UID}`, undefined],
    ['pod', undefined],
  ];
  for (const [name, want] of cases) assert.equal(podUidFromDirName(name), want, name);
});

test('isKubepodsDirName and qosOf', () => {
  for (const [n, want] of [['kubepods', true], ['kubepods.slice', true], ['kubelet-kubepods.slice', true], ['kubepods-burstable.slice', false], ['kubepods-pod1.slice', false], ['system.slice', false], ['burstable', false]] as const) {
    assert.equal(isKubepodsDirName(n), want, n);
  }
  assert.deepEqual(['Guaranteed', 'BURSTABLE', 'besteffort', undefined, 'x'].map(qosOf), ['Guaranteed', 'Burstable', 'BestEffort', undefined, undefined]);
});

// The I/O class on a plain directory tree: the walk and the lookups are the same as on cgroup2, and a
// directory's inode number stands for its cgroup id.
function tree(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nm-cgroups-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}
const mk = (root: string, rel: string): string => {
  const p = path.join(root, rel);
  fs.mkdirSync(p, { recursive: true });
  return p;
};
const ino = (p: string): bigint => fs.statSync(p, { bigint: true }).ino;
const uid = (n: number): string => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;

test('PodCgroups: both layouts, every QoS class, kubepods at depth 1..3', (t) => {
  const layouts: { name: string; pod: (u: string, q: string) => string }[] = [
    {
      name: 'systemd',
      pod: (u, q) => {
        const us = u.replace(/-/g, '_');
        return q === 'Guaranteed' ? `kubepods.slice/kubepods-pod${us}.slice` : `kubepods.slice/kubepods-${q.toLowerCase()}.slice/kubepods-${q.toLowerCase()}-pod${us}.slice`;
      },
    },
    { name: 'cgroupfs', pod: (u, q) => (q === 'Guaranteed' ? `kubepods/pod${u}` : `kubepods/${q.toLowerCase()}/pod${u}`) },
  ];
  let n = 0;
  for (const l of layouts) {
    for (const prefix of ['', 'a', 'a/b']) {
      const root = tree(t);
      const pods = ['Guaranteed', 'Burstable', 'BestEffort'].map((q) => {
        const u = uid(++n);
        const p = mk(root, path.join(prefix, l.pod(u, q)));
        mk(p, l.name === 'systemd' ? `cri-containerd-${'c'.repeat(64)}.scope` : 'c'.repeat(64));
        return { u, q, p };
      });
      mk(root, 'system.slice/ssh.service');
      for (const withQos of [true, false]) {
        const cg = new PodCgroups(root);
        for (const p of pods) {
          const got = cg.resolve(p.u, withQos ? p.q : undefined);
          assert.deepEqual(got, { path: p.p, id: ino(p.p) }, `${l.name} under '${prefix}' ${p.q} qos=${withQos}`);
        }
        assert.equal(cg.resolve(uid(999_999)), undefined);
      }
    }
  }
});

test('PodCgroups: --cgroup is kubepods itself or a QoS directory inside it; a prefixed kubelet root', (t) => {
  const root = tree(t);
  const u1 = uid(1);
  const u2 = uid(2);
  const p1 = mk(root, `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${u1.replace(/-/g, '_')}.slice`);
  assert.deepEqual(new PodCgroups(path.join(root, 'kubepods.slice')).resolve(u1), { path: p1, id: ino(p1) });
  assert.deepEqual(new PodCgroups(path.join(root, 'kubepods.slice/kubepods-burstable.slice')).resolve(u1), { path: p1, id: ino(p1) });
  const p2 = mk(root, `kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${u2.replace(/-/g, '_')}.slice`);
  assert.deepEqual(new PodCgroups(root).resolve(u2, 'BestEffort'), { path: p2, id: ino(p2) });
});

test('PodCgroups: kubepods deeper than 3 levels is not searched', (t) => {
  const root = tree(t);
  const u = uid(7);
  mk(root, `a/b/c/kubepods/pod${u}`);
  assert.equal(new PodCgroups(root).resolve(u), undefined);
});

test('PodCgroups: a pod started later is found, by its exact path at once, else by a rate-limited walk', (t) => {
  const root = tree(t);
  mk(root, 'kubepods.slice/kubepods-burstable.slice');
  let now = 0;
  const cg = new PodCgroups(root, { refreshMs: 1000, now: () => now });
  assert.equal(cg.resolve(uid(1), 'Burstable'), undefined, 'nothing yet (first walk)');

  // Known QoS class: the exact path is tried before any walk.
  const p1 = mk(root, `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uid(1).replace(/-/g, '_')}.slice`);
  now = 10;
  assert.deepEqual(cg.resolve(uid(1), 'Burstable'), { path: p1, id: ino(p1) });

  // A prefixed name only a walk finds: not before refreshMs has passed since the last walk.
  const p2 = mk(root, `kubepods.slice/kubepods-burstable.slice/custom-pod${uid(2).replace(/-/g, '_')}.slice`);
  now = 500;
  assert.equal(cg.resolve(uid(2)), undefined, 'rate-limited');
  now = 1000;
  assert.deepEqual(cg.resolve(uid(2)), { path: p2, id: ino(p2) });
  assert.equal(cg.size, 2);

  // A pod that is gone is not answered from the index.
  fs.rmdirSync(p1);
  now = 1200;
  assert.equal(cg.resolve(uid(1), 'Burstable'), undefined);
  assert.equal(cg.resolve('../../x'), undefined);
});

test('PodCgroups: the walk is bounded', (t) => {
  const root = tree(t);
  for (let i = 0; i < 20; i++) mk(root, `kubepods/besteffort/pod${uid(i)}`);
  const small = new PodCgroups(root, { maxDirs: 3 });
  small.refresh();
  assert.ok(small.size < 20, `bounded walk indexed ${small.size}`);
  const full = new PodCgroups(root);
  full.refresh();
  assert.equal(full.size, 20);
});
