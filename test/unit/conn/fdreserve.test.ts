import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countDue, FAR_MS, FdGuard, fdVerdict, NEAR_MS, parseNofile, reserveFor, type FdSource } from '../../../src/conn/fdreserve';

test('reserveFor: an eighth of the limit within [16, 1024], at most half', () => {
  const table: [number, number][] = [[16, 8], [32, 16], [128, 16], [256, 32], [1024, 128], [65536, 1024], [1048576, 1024], [Infinity, 0]];
  for (const [limit, want] of table) assert.equal(reserveFor(limit), want, `limit ${limit}`);
});

test('fdVerdict: refuse past limit - reserve, by count or by the lowest free descriptor', () => {
  const table: { open: number; fd: number | undefined; want: 'admit' | 'refuse' }[] = [
    { open: 50, fd: 49, want: 'admit' },
    { open: 112, fd: 60, want: 'admit' },
    { open: 113, fd: 60, want: 'refuse' },
    { open: 40, fd: 112, want: 'refuse' }, // fds 0..112 are all open whatever the (stale) count says
    { open: 40, fd: 111, want: 'admit' },
    { open: 113, fd: undefined, want: 'refuse' },
  ];
  for (const r of table) assert.equal(fdVerdict({ limit: 128, reserve: 16, open: r.open, fd: r.fd }), r.want, JSON.stringify(r));
});

test('countDue: recount often near the ceiling, rarely far from it', () => {
  const table: [number, number, boolean][] = [
    [10, 0, false], [10, FAR_MS - 1, false], [10, FAR_MS, true],
    [60, NEAR_MS - 1, false], [60, NEAR_MS, true],
    [200, NEAR_MS - 1, false], [200, NEAR_MS, true],
  ];
  for (const [estimate, age, want] of table) assert.equal(countDue(estimate, 112, age), want, `${estimate} at ${age} ms`);
});

test('parseNofile reads the soft limit', () => {
  const text = 'Limit                     Soft Limit           Hard Limit           Units     \nMax open files            128                  4096                 files     \n';
  assert.equal(parseNofile(text), 128);
  assert.equal(parseNofile(text.replace('128 ', 'unlimited ')), Infinity);
  assert.equal(parseNofile('Max processes 10 10'), undefined);
});

function fakeSource(limit: number | undefined, counts: (number | undefined)[]): FdSource & { t: number; reads: number } {
  const s = {
    t: 0,
    reads: 0,
    limit: () => limit,
    count: () => (s.reads++, counts.length > 1 ? counts.shift() : counts[0]),
    now: () => s.t,
  };
  return s;
}

test('FdGuard: counts, estimates two descriptors per admission, recounts before refusing', () => {
  const src = fakeSource(128, [100, 100, 104]);
  const g = new FdGuard(src);
  assert.equal(g.check(30), undefined); // counted 100
  assert.equal(g.check(31), undefined); // 102 estimated: no recount within NEAR_MS
  assert.equal(src.reads, 1);
  for (let i = 0; i < 5; i++) g.check(undefined);
  // 100 + 2*7 = 114 > 112: refused on the estimate while a recount is not yet due...
  const r = g.check(undefined);
  assert.deepEqual(r, { open: 114, limit: 128, reserve: 16 });
  src.t = NEAR_MS;
  // ...a recount is (100 this time) and admits again.
  assert.equal(g.check(undefined), undefined);
  assert.equal(src.reads, 2);
});

test('FdGuard: a high descriptor number refuses without a count; no limit admits all', () => {
  const g = new FdGuard(fakeSource(128, [undefined]));
  assert.equal(g.check(100), undefined);
  assert.ok(g.check(120) !== undefined);
  const none = new FdGuard(fakeSource(undefined, [1000]));
  assert.equal(none.check(5000), undefined);
  const unlimited = new FdGuard(fakeSource(Infinity, [1000]));
  assert.equal(unlimited.check(5000), undefined);
});
