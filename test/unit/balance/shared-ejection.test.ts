// Ejections one worker decides and the others adopt (workers share them through the main thread):
// adopting extends, never shortens; an outlier adoption keeps the adopter's maxEjectionPercent; no
// adoption is announced again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { OutlierDetection } from '../../../src/config/traffic';
import { OutlierDetector } from '../../../src/balance/outlier';
import { HealthTable } from '../../../src/balance/health';

const OD: OutlierDetection = { intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 50, minHealthPercent: 0 };

test('outlier adoption: out for the remaining time, within maxEjectionPercent, longer wins', () => {
  const cases: { name: string; before?: [string, number][]; adopt: [string, number, number]; applied: boolean; out: string[]; at: number }[] = [
    { name: 'a healthy endpoint is ejected for the remaining time', adopt: ['a', 5000, 1], applied: true, out: ['a'], at: 1000 },
    { name: 'the ejection ends with the remaining time', adopt: ['a', 5000, 1], applied: true, out: [], at: 5000 },
    { name: 'an unknown endpoint is ignored', adopt: ['z', 5000, 1], applied: false, out: [], at: 1000 },
    { name: 'past maxEjectionPercent (50% of 4: two out already) nothing more goes', before: [['a', 9000], ['b', 9000]], adopt: ['c', 5000, 1], applied: false, out: ['a', 'b'], at: 1000 },
    { name: 'a longer ejection of an ejected endpoint extends it', before: [['a', 2000]], adopt: ['a', 8000, 2], applied: true, out: ['a'], at: 7000 },
    { name: 'a shorter one does not shorten it', before: [['a', 8000]], adopt: ['a', 2000, 1], applied: false, out: ['a'], at: 7000 },
  ];
  for (const c of cases) {
    const od = new OutlierDetector(OD);
    od.setHosts(['a', 'b', 'c', 'd']);
    for (const [k, ms] of c.before ?? []) od.adopt(k, ms, 1, 0);
    assert.equal(od.adopt(c.adopt[0], c.adopt[1], c.adopt[2], 0), c.applied, c.name);
    assert.deepEqual(['a', 'b', 'c', 'd'].filter((k) => od.isEjected(k, c.at)), c.out, c.name);
  }
});

test('passive health adoption: out for the remaining time, longer wins, not announced again', () => {
  const h = new HealthTable();
  const told: string[] = [];
  h.onEject = (key, ms) => told.push(`${key}:${ms}`);
  h.adopt('10.0.0.1:80', 3000, 0, 1000);
  assert.equal(h.isHealthy('10.0.0.1:80', 3999), false);
  assert.equal(h.isHealthy('10.0.0.1:80', 4000), true);
  h.adopt('10.0.0.1:80', 1000, 0, 1000);
  assert.equal(h.isHealthy('10.0.0.1:80', 2500), false, 'a shorter adoption does not shorten');
  assert.deepEqual(told, [], 'adoptions are not announced');
  // A failure decided here is announced with its cooldown.
  assert.equal(h.markFailure('10.0.0.2:80', 0), true);
  assert.deepEqual(told, ['10.0.0.2:80:5000']);
});
