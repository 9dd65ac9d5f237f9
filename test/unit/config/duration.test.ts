// Duration strings: the Go forms Istio configs use, to whole milliseconds; everything else refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_DURATION_MS, parseDuration } from '../../../src/config/duration';

const GOOD: readonly [string, number][] = [
  ['0', 0],
  ['0s', 0],
  ['1s', 1000],
  ['0.5s', 500],
  ['.5s', 500],
  ['1.s', 1000],
  ['0.001s', 1],
  ['0.1s', 100],
  ['0.3s', 300],
  ['250ms', 250],
  ['1m', 60_000],
  ['1h', 3_600_000],
  ['1m30s', 90_000],
  ['1h2m3s4ms', 3_723_004],
  ['1.5h', 5_400_000],
  ['2000000us', 2000],
  ['1000µs', 1],
  ['1000000ns', 1],
  ['+10s', 10_000],
  ['596h', 2_145_600_000],
  [`${MAX_DURATION_MS}ms`, MAX_DURATION_MS],
];

const BAD: readonly [string, string][] = [
  ['', 'is not a duration'],
  ['-1s', 'is negative'],
  ['-0s', 'is negative'],
  ['10', 'a unit is required'],
  ['1', 'a unit is required'],
  ['s', 'is not a duration'],
  ['.s', 'is not a duration'],
  ['1d', 'is not a duration'],
  ['1 s', 'is not a duration'],
  ['1s ', 'is not a duration'],
  ['1S', 'is not a duration'],
  ['1.5ms', 'finer than a millisecond'],
  ['1us', 'finer than a millisecond'],
  ['0.0001s', 'finer than a millisecond'],
  ['597h', 'is too long'],
  [`${MAX_DURATION_MS + 1}ms`, 'is too long'],
  ['1s1s1s1s1s1s1s1s1s1s1s1s1s1s1s1s1s', 'too many parts'],
];

for (const [text, ms] of GOOD) {
  test(`duration "${text}" is ${ms} ms`, () => {
    assert.deepEqual(parseDuration(text), { ok: true, ms });
  });
}

for (const [text, why] of BAD) {
  test(`duration "${text}" is refused: ${why}`, () => {
    const r = parseDuration(text);
    assert.equal(r.ok, false);
    if (!r.ok) assert.ok(r.error.includes(why), r.error);
  });
}
