import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { OutlierDetection } from '../../../src/config/traffic';
import { OutlierDetector, type OutlierResult } from '../../../src/balance/outlier';

const BASE: OutlierDetection = { intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 100, minHealthPercent: 0 };
const HOSTS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];

type Step =
  | { at: number; report: string; result: OutlierResult; times?: number; eject?: '5xx' | 'gateway' | null; until?: number }
  | { at: number; ejected: string[] };

interface Case {
  name: string;
  config?: Partial<OutlierDetection>;
  hosts?: string[];
  steps: Step[];
}

const CASES: Case[] = [
  {
    name: '5 consecutive 5xx eject (default threshold), for baseEjectionTime',
    steps: [
      { at: 0, report: 'a', result: 500, times: 4, eject: null },
      { at: 0, ejected: [] },
      { at: 1, report: 'a', result: 503, eject: '5xx', until: 30_001 },
      { at: 30_000, ejected: ['a'] },
      { at: 30_001, ejected: [] },
    ],
  },
  {
    name: 'success resets the counter',
    steps: [
      { at: 0, report: 'a', result: 500, times: 4, eject: null },
      { at: 0, report: 'a', result: 'success', eject: null },
      { at: 0, report: 'a', result: 500, times: 4, eject: null },
      { at: 0, report: 'a', result: 404, eject: null },
      { at: 0, report: 'a', result: 500, times: 4, eject: null },
      { at: 0, report: 'a', result: 500, eject: '5xx' },
    ],
  },
  {
    name: 'second ejection lasts 2×, then the multiplier decays per interval back in service',
    steps: [
      { at: 0, report: 'a', result: 500, times: 5, eject: '5xx', until: 30_000 },
      { at: 30_000, report: 'a', result: 500, times: 5, eject: '5xx', until: 90_000 },
      // Back at 90 s; two intervals later the multiplier is down from 2 to 0, so the next is 1×.
      { at: 110_000, report: 'a', result: 500, times: 5, eject: '5xx', until: 140_000 },
    ],
  },
  {
    name: 'one interval of decay: the third ejection lasts 2×',
    steps: [
      { at: 0, report: 'a', result: 500, times: 5, eject: '5xx', until: 30_000 },
      { at: 30_000, report: 'a', result: 500, times: 5, eject: '5xx', until: 90_000 },
      { at: 100_000, report: 'a', result: 500, times: 5, eject: '5xx', until: 160_000 },
    ],
  },
  {
    name: 'ejection time caps at max(300 s, base)',
    config: { baseEjectionTimeMs: 100_000 },
    steps: [
      { at: 0, report: 'a', result: 500, times: 5, eject: '5xx', until: 100_000 },
      { at: 100_000, report: 'a', result: 500, times: 5, eject: '5xx', until: 300_000 },
      { at: 300_000, report: 'a', result: 500, times: 5, eject: '5xx', until: 600_000 },
      { at: 600_000, report: 'a', result: 500, times: 5, eject: '5xx', until: 900_000 },
    ],
  },
  {
    name: 'reports while ejected neither extend nor re-eject',
    steps: [
      { at: 0, report: 'a', result: 500, times: 5, eject: '5xx', until: 30_000 },
      { at: 10_000, report: 'a', result: 500, times: 5, eject: null },
      { at: 29_999, ejected: ['a'] },
      { at: 30_000, ejected: [] },
    ],
  },
  {
    name: 'maxEjectionPercent 10 of 10 endpoints: the first goes, the second not (10% is not < 10%)',
    config: { maxEjectionPercent: 10 },
    steps: [
      { at: 0, report: 'a', result: 500, times: 5, eject: '5xx' },
      { at: 0, report: 'b', result: 500, times: 5, eject: null },
      { at: 0, ejected: ['a'] },
      // The refused endpoint's counter restarted: after a's return, five more errors eject b.
      { at: 30_000, report: 'b', result: 500, times: 4, eject: null },
      { at: 30_000, report: 'b', result: 500, eject: '5xx' },
    ],
  },
  {
    name: 'maxEjectionPercent 10 of 2 endpoints: the first is allowed (0% < 10%), as in Envoy',
    config: { maxEjectionPercent: 10 },
    hosts: ['a', 'b'],
    steps: [
      { at: 0, report: 'a', result: 500, times: 5, eject: '5xx' },
      { at: 0, report: 'b', result: 500, times: 5, eject: null },
      { at: 0, ejected: ['a'] },
    ],
  },
  {
    name: 'maxEjectionPercent 50 of 4: two go, the third not',
    config: { maxEjectionPercent: 50 },
    hosts: ['a', 'b', 'c', 'd'],
    steps: [
      { at: 0, report: 'a', result: 500, times: 5, eject: '5xx' },
      { at: 0, report: 'b', result: 500, times: 5, eject: '5xx' },
      { at: 0, report: 'c', result: 500, times: 5, eject: null },
      { at: 0, ejected: ['a', 'b'] },
    ],
  },
  {
    name: 'gateway errors: a non-gateway 5xx breaks the run',
    config: { consecutive5xxErrors: 0, consecutiveGatewayErrors: 3 },
    steps: [
      { at: 0, report: 'a', result: 502, eject: null },
      { at: 0, report: 'a', result: 500, eject: null },
      { at: 0, report: 'a', result: 502, times: 2, eject: null },
      { at: 0, report: 'a', result: 504, eject: 'gateway' },
    ],
  },
  {
    name: 'gateway threshold is checked before 5xx',
    config: { consecutive5xxErrors: 3, consecutiveGatewayErrors: 3 },
    steps: [{ at: 0, report: 'a', result: 503, times: 3, eject: 'gateway' }],
  },
  {
    name: 'local-origin failures count as gateway errors (and as 5xx)',
    config: { consecutiveGatewayErrors: 3 },
    steps: [
      { at: 0, report: 'a', result: 'connect-failure', eject: null },
      { at: 0, report: 'a', result: 'reset', eject: null },
      { at: 0, report: 'a', result: 'timeout', eject: 'gateway' },
    ],
  },
  {
    name: 'with only the 5xx detector, 5 connect failures eject',
    steps: [
      { at: 0, report: 'b', result: 'connect-failure', times: 4, eject: null },
      { at: 0, report: 'b', result: 'timeout', eject: '5xx' },
    ],
  },
  {
    name: 'consecutive5xxErrors 0 disables the 5xx detector',
    config: { consecutive5xxErrors: 0 },
    steps: [{ at: 0, report: 'a', result: 500, times: 50, eject: null }],
  },
  {
    name: 'unknown endpoints are ignored',
    steps: [{ at: 0, report: 'zz', result: 500, times: 10, eject: null }],
  },
];

for (const c of CASES) {
  test(`outlier: ${c.name}`, () => {
    const od = new OutlierDetector({ ...BASE, ...c.config });
    od.setHosts(c.hosts ?? HOSTS);
    for (const [n, s] of c.steps.entries()) {
      if ('ejected' in s) {
        assert.deepEqual((c.hosts ?? HOSTS).filter((h) => od.isEjected(h, s.at)), s.ejected, `step ${n}`);
        assert.equal(od.ejectedCount(s.at), s.ejected.length);
        continue;
      }
      const events = [];
      for (let k = 0; k < (s.times ?? 1); k++) {
        const e = od.report(s.report, s.result, s.at);
        if (e !== undefined) events.push(e);
      }
      if (s.eject === null) assert.deepEqual(events, [], `step ${n}`);
      else if (s.eject !== undefined) {
        assert.equal(events.length, 1, `step ${n}`);
        assert.equal(events[0]!.reason, s.eject, `step ${n}`);
        if (s.until !== undefined) assert.equal(events[0]!.until, s.until, `step ${n}`);
      }
    }
  });
}

test('outlier: multiplier decays one per interval back in service; removed endpoints forget', () => {
  const od = new OutlierDetector(BASE);
  od.setHosts(['a', 'b']);
  for (let i = 0; i < 5; i++) od.report('a', 500, 0);
  for (let i = 0; i < 5; i++) od.report('a', 500, 30_000);
  assert.deepEqual([89_999, 90_000, 99_999, 100_000, 110_000].map((t) => od.multiplier('a', t)), [2, 2, 2, 1, 0]);
  assert.equal(od.remaining('a', 60_000), 30_000);
  od.setHosts(['b']);
  assert.equal(od.isEjected('a', 60_000), false);
  assert.equal(od.hostCount, 1);
});
