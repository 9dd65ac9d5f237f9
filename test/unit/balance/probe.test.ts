// Active health checking's state machine: thresholds of consecutive results flip the verdict.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { httpPassed, INITIAL_PROBE, nextProbe, type ProbeState } from '../../../src/balance/probe';

interface Case {
  name: string;
  unhealthy: number;
  healthy: number;
  /** Results in order (true = passed), and the verdict after each. */
  results: boolean[];
  verdicts: boolean[];
  /** Indexes where the verdict flipped. */
  changed: number[];
}

const CASES: Case[] = [
  { name: 'starts healthy; passes keep it so', unhealthy: 3, healthy: 1, results: [true, true], verdicts: [true, true], changed: [] },
  { name: 'unhealthy after 3 failures in a row', unhealthy: 3, healthy: 1, results: [false, false, false, false], verdicts: [true, true, false, false], changed: [2] },
  { name: 'a pass breaks a run of failures', unhealthy: 3, healthy: 1, results: [false, false, true, false, false, false], verdicts: [true, true, true, true, true, false], changed: [5] },
  { name: 'healthy again after healthyThreshold passes', unhealthy: 1, healthy: 2, results: [false, true, true, true], verdicts: [false, false, true, true], changed: [0, 2] },
  { name: 'a failure breaks a run of passes while unhealthy', unhealthy: 1, healthy: 2, results: [false, true, false, true, true], verdicts: [false, false, false, false, true], changed: [0, 4] },
  { name: 'thresholds of 1 flip on each change', unhealthy: 1, healthy: 1, results: [false, true, false], verdicts: [false, true, false], changed: [0, 1, 2] },
];

for (const c of CASES) {
  test(c.name, () => {
    let s: ProbeState = INITIAL_PROBE;
    const verdicts: boolean[] = [];
    const changed: number[] = [];
    c.results.forEach((r, i) => {
      const n = nextProbe(s, r, { unhealthyThreshold: c.unhealthy, healthyThreshold: c.healthy });
      s = n.state;
      verdicts.push(s.healthy);
      if (n.changed) changed.push(i);
    });
    assert.deepEqual(verdicts, c.verdicts);
    assert.deepEqual(changed, c.changed);
  });
}

test('http: passes on an expected status only', () => {
  assert.ok(httpPassed(200, [200]));
  assert.ok(httpPassed(204, [200, 204]));
  assert.ok(!httpPassed(503, [200]));
  assert.ok(!httpPassed(0, [200]));
});
