import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Deadlines, tickFor, type Expiring } from '../../../src/conn/deadlines';
import { DEFAULT_TIMEOUTS } from '../../../src/conn/timeouts';

test('tick is a quarter of the shortest timeout, within [10 ms, 1 s]', () => {
  assert.equal(tickFor(DEFAULT_TIMEOUTS), 1_000);
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
