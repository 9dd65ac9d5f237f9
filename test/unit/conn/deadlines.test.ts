import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Deadlines, tickFor, type Expiring } from '../../../src/conn/deadlines';
import { DEFAULT_TIMEOUTS } from '../../../src/conn/timeouts';

test('tick is a quarter of the shortest timeout, within [10 ms, 250 ms]', () => {
  assert.equal(tickFor(DEFAULT_TIMEOUTS), 250);
  assert.equal(tickFor({ ...DEFAULT_TIMEOUTS, requestMs: 200 }), 50);
  assert.equal(tickFor({ ...DEFAULT_TIMEOUTS, headersMs: 8 }), 10);
  assert.equal(tickFor({ ...DEFAULT_TIMEOUTS, tcpIdleMs: 400 }), 100);
});

test('a sweep expires due items once, leaves the rest, and survives a throwing handler', () => {
  const d = new Deadlines(1_000);
  try {
    const fired: string[] = [];
    const item = (name: string, deadline: number, boom = false): Expiring => ({
      deadline,
      expire(now) {
        fired.push(`${name}@${now}`);
        if (boom) throw new Error('boom');
      },
    });
    const a = item('a', 100, true);
    const b = item('b', 200);
    const c = item('c', 0);
    for (const i of [a, b, c]) d.add(i);
    const swept: number[] = [];
    d.every((now) => swept.push(now));
    d.tick(150);
    assert.deepEqual(fired, ['a@150']);
    assert.equal(a.deadline, 0, 'disarmed before the handler ran');
    d.tick(250);
    assert.deepEqual(fired, ['a@150', 'b@250']);
    d.tick(10_000);
    assert.equal(fired.length, 2, 'nothing re-fires without being re-armed');
    d.delete(b);
    b.deadline = 1;
    d.tick(20_000);
    assert.equal(fired.length, 2, 'deleted items are not swept');
    assert.deepEqual(swept, [150, 250, 10_000, 20_000]);
    assert.equal(d.size(), 2);
  } finally {
    d.close();
  }
});

/** An item that records when it fired and can re-arm itself from its handler. */
function recorder(fired: number[], deadline: number, rearm?: (now: number) => number): Expiring {
  return {
    deadline,
    expire(now) {
      fired.push(now);
      if (rearm) this.deadline = rearm(now);
    },
  };
}

test('the wheel: due items fire at the first sweep at or after their deadline, never before', () => {
  const table: [deadline: number, sweeps: number[], firesAt: number | undefined][] = [
    [1_050, [1_000, 1_049], undefined],
    [1_050, [1_000, 1_050], 1_050],
    [1_050, [1_000, 1_120], 1_120],
    [1_050, [1_000, 9_000], 9_000],
    // A deadline already past when armed fires at the next sweep.
    [500, [1_000], 1_000],
    // Farther than one revolution of the wheel (4096 ticks): kept until due.
    [1_000 + 500_000, [1_000, 400_000, 501_000], 501_000],
  ];
  for (const [deadline, sweeps, firesAt] of table) {
    const dd = new Deadlines(100);
    const fired: number[] = [];
    dd.add(recorder(fired, deadline));
    for (const at of sweeps) dd.tick(at);
    dd.close();
    assert.deepEqual(fired, firesAt === undefined ? [] : [firesAt], `deadline ${deadline}, sweeps ${sweeps.join(',')}`);
  }
});

test('the wheel: a deadline moved later is found lazily, one moved earlier or armed from 0 needs add()', () => {
  const d = new Deadlines(100);
  try {
    const fired: number[] = [];
    const a = recorder(fired, 60_000);
    d.add(a);
    d.tick(1_000);
    // Later without telling: the old bucket comes round, finds it not due and moves it.
    a.deadline = 90_000;
    d.tick(60_000);
    assert.deepEqual(fired, []);
    d.tick(90_000);
    assert.deepEqual(fired, [90_000]);
    // Armed again from 0, then moved earlier: each told with add().
    a.deadline = 200_000;
    d.add(a);
    a.deadline = 95_000;
    d.add(a);
    d.tick(95_000);
    assert.deepEqual(fired, [90_000, 95_000]);
    d.tick(300_000);
    assert.equal(fired.length, 2, 'fired once');
  } finally {
    d.close();
  }
});

test('the wheel: a handler re-arming its item (periodic checks) and one deleting it', () => {
  const d = new Deadlines(100);
  try {
    const periodic: number[] = [];
    const once: number[] = [];
    const p = recorder(periodic, 1_000, (now) => now + 1_000);
    const o: Expiring = { deadline: 1_000, expire: (now) => (once.push(now), d.delete(o)) };
    d.add(p);
    d.add(o);
    for (let t = 1_000; t <= 5_000; t += 100) d.tick(t);
    assert.deepEqual(periodic, [1_000, 2_000, 3_000, 4_000, 5_000]);
    assert.deepEqual(once, [1_000]);
    assert.equal(d.size(), 1);
  } finally {
    d.close();
  }
});

test('the wheel: a sweep touches only what is due (10k idle items cost nothing)', () => {
  const d = new Deadlines(100);
  try {
    let reads = 0;
    const idle = Array.from({ length: 10_000 }, (_, i) => {
      const at = 60_000 + i;
      return {
        get deadline(): number {
          reads++;
          return at;
        },
        set deadline(_v: number) {},
        expire() {},
      } satisfies Expiring;
    });
    d.tick(1_000);
    for (const i of idle) d.add(i);
    reads = 0;
    for (let t = 1_100; t < 50_000; t += 100) d.tick(t);
    assert.equal(reads, 0, 'no idle item was looked at before its bucket came round');
  } finally {
    d.close();
  }
});
