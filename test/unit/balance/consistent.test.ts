import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Algorithm } from '../../../src/balance/algorithm';
import { buildMaglevTable, Maglev, maglevSize } from '../../../src/balance/maglev';
import { pointsPerWeight, RingHash } from '../../../src/balance/ring';
import type { Target } from '../../../src/balance/target';
import { addrs, env, scripted, targetsOf } from './helpers';

const KEYS = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);

function assign(a: Algorithm, targets: readonly Target[], healthy?: (i: number) => boolean): string[] {
  const e = env(targets.length, () => 0);
  return KEYS.map((k) => targets[a.pick(targets, healthy, { hashKey: k }, e)]!.key);
}

const ALGOS: { name: string; make: () => RingHash | Maglev }[] = [
  { name: 'ring hash', make: () => new RingHash(1024) },
  { name: 'maglev', make: () => new Maglev(65537) },
];

for (const { name, make } of ALGOS) {
  test(`${name}: same key, same endpoint; keys spread 5–15% over 10 endpoints`, () => {
    const all = targetsOf(addrs(10));
    const a = make();
    const first = assign(a, all);
    assert.deepEqual(assign(make(), targetsOf(addrs(10))), first, 'a fresh instance maps the same');
    const counts = new Map<string, number>();
    for (const k of first) counts.set(k, (counts.get(k) ?? 0) + 1);
    assert.equal(counts.size, 10);
    for (const [k, c] of counts) assert.ok(c >= 500 && c <= 1500, `${k}: ${c}`);
  });

  test(`${name}: removing 1 of 10 endpoints remaps few keys; adding it back restores`, () => {
    const all = targetsOf(addrs(10));
    const a = make();
    const before = assign(a, all);
    const removed = all[3]!.key;
    const fewer = targetsOf(addrs(10).filter((_, i) => i !== 3));
    const after = assign(a, fewer);
    let moved = 0;
    let movedFromOthers = 0;
    for (let i = 0; i < KEYS.length; i++) {
      if (before[i] === after[i]) continue;
      moved++;
      if (before[i] !== removed) movedFromOthers++;
    }
    assert.ok(moved / KEYS.length < 0.15, `moved ${moved}`);
    if (a instanceof RingHash) assert.equal(movedFromOthers, 0, 'ring hash moves only the removed endpoint\'s keys');
    assert.deepEqual(assign(a, targetsOf(addrs(10))), before);
  });

  test(`${name}: an unhealthy endpoint's keys walk to other healthy endpoints, the rest stay`, () => {
    const all = targetsOf(addrs(5));
    const a = make();
    const before = assign(a, all);
    const after = assign(a, all, (i) => i !== 1);
    for (let i = 0; i < KEYS.length; i++) {
      assert.notEqual(after[i], all[1]!.key);
      if (before[i] !== all[1]!.key) assert.equal(after[i], before[i]);
    }
    assert.equal(a.pick(all, () => false, { hashKey: 'x' }, env(5, () => 0)), -1);
  });

  test(`${name}: rebuilt only when the target list changes; no key → random pick`, () => {
    const a = make();
    const e = env(3, scripted(0.9));
    a.pick(targetsOf(addrs(3)), undefined, { hashKey: 'k' }, e);
    a.pick(targetsOf(addrs(3)), undefined, { hashKey: 'k' }, e);
    assert.equal(a.builds, 1);
    a.pick(targetsOf(addrs(4)), undefined, { hashKey: 'k' }, e);
    assert.equal(a.builds, 2);
    assert.equal(a.pick(targetsOf(addrs(3)), undefined, {}, e), 2);
    assert.equal(a.pick(targetsOf(addrs(3)), (i) => i === 0, {}, e), 0);
    assert.equal(a.pick([], undefined, { hashKey: 'k' }, e), -1);
  });

  test(`${name}: weights shift the share`, () => {
    const t = targetsOf([{ address: '10.0.0.1', weight: 3 }, { address: '10.0.0.2', weight: 1 }]);
    const got = assign(make(), t);
    const share = got.filter((k) => k === t[0]!.key).length / KEYS.length;
    assert.ok(share > 0.65 && share < 0.85, `${share}`);
  });
}

test('ring hash: ring size is at least the configured size, in points per unit weight of a power of two', () => {
  const CASES: { size: number; weight: number; want: number }[] = [
    { size: 1024, weight: 10, want: 128 },
    { size: 1024, weight: 9, want: 128 },
    { size: 1024, weight: 8, want: 128 },
    { size: 1024, weight: 7, want: 256 },
    { size: 1024, weight: 4096, want: 0.25 },
    { size: 1 << 23, weight: 3, want: 2 ** 21 },
  ];
  for (const c of CASES) assert.equal(pointsPerWeight(c.size, c.weight), c.want, JSON.stringify(c));
  const r = new RingHash(1024);
  r.update(targetsOf(addrs(10)));
  assert.equal(r.size, 1280);
});

test('maglev: prime table sizes; every slot owned; equal weights fill equally', () => {
  assert.equal(maglevSize(65537), 65537);
  assert.equal(maglevSize(100), 101);
  assert.equal(maglevSize(0), 65537);
  const t = targetsOf(addrs(3));
  const table = buildMaglevTable(t, 101);
  const counts = [0, 0, 0];
  for (const o of table) counts[o]!++;
  assert.deepEqual(counts.sort(), [33, 34, 34]);
  assert.equal(buildMaglevTable([], 101).length, 0);
});
