// Serial: one run at a time; calls during a run fold into exactly one more run; stops when told.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Serial } from '../../../src/config/serial';

test('calls during a run fold into one more run, sharing its promise', async () => {
  let runs = 0;
  let release!: () => void;
  const s = new Serial(async () => {
    runs++;
    if (runs === 1) await new Promise<void>((r) => (release = r));
  });
  const first = s.trigger();
  const second = s.trigger();
  const third = s.trigger();
  assert.equal(second, first);
  assert.equal(third, first);
  release();
  await first;
  assert.equal(runs, 2, 'three calls: the running one and one more');
  await s.trigger();
  assert.equal(runs, 3, 'idle again: a call runs at once');
});

test('no repeat once the owner has stopped', async () => {
  let runs = 0;
  let going = true;
  let release!: () => void;
  const s = new Serial(async () => {
    runs++;
    await new Promise<void>((r) => (release = r));
  }, () => going);
  const p = s.trigger();
  void s.trigger();
  going = false;
  release();
  await p;
  assert.equal(runs, 1);
});
