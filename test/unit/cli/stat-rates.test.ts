// `nodemesh stat`'s rates: a counter of the summed stats that goes down (a worker replaced after its
// last scrape, a series dropped with its service) resets the baseline: that interval's numbers are
// unknown, never a negative rate or a spike of the whole total; the next interval counts again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServiceStats, StatsSnapshot } from '../../../src/telemetry/admin-proto';
import { emptyRequests } from '../../../src/telemetry/admin-stats';
import { increase, increases, perSecond } from '../../../src/cli/stat-rates';
import { eventsLine, statRows } from '../../../src/cli/stat-view';

test('increase: the rate decider, as a table', () => {
  const cases: [string, number | undefined, number, number | undefined][] = [
    ['grew', 3, 10, 7],
    ['unchanged', 10, 10, 0],
    ['new in the interval: from zero', undefined, 10, 10],
    ['went down: reset, unknown', 12, 4, undefined],
    ['went down to zero', 12, 0, undefined],
    ['fractional sums', 0.5, 0.75, 0.25],
  ];
  for (const [what, before, after, want] of cases) assert.equal(increase(before, after), want, what);
});

test('increases: per slot; any slot that went down, or a new shape, is a reset', () => {
  const cases: [string, number[] | undefined, number[], number[] | undefined][] = [
    ['grew', [1, 2, 3], [2, 2, 5], [1, 0, 2]],
    ['new in the interval', undefined, [2, 2], [2, 2]],
    ['one slot went down', [5, 0], [1, 1], undefined],
    ['another shape', [1], [1, 2], undefined],
  ];
  for (const [what, before, after, want] of cases) assert.deepEqual(increases(before, after), want, what);
});

test('perSecond: the increase over the interval; unknown without one or after a reset', () => {
  const cases: [string, number | undefined, number, number | undefined, number | undefined][] = [
    ['grew', 100, 120, 2, 10],
    ['new series', undefined, 40, 2, 20],
    ['no interval', 100, 120, undefined, undefined],
    ['went down', 1000, 600, 1, undefined],
  ];
  for (const [what, before, after, secs, want] of cases) assert.equal(perSecond(before, after, secs), want, what);
});

const row = (total: number, success: number, buckets: number[], kernelOpened = 0): ServiceStats => ({
  host: 'cart.shop.svc.cluster.local', name: 'cart', namespace: 'shop', reporter: 'source', dataplane: 'proxy',
  requests: { ...emptyRequests(4), total, success, errors: total - success, duration_buckets: buckets },
  tcp: { opened: 0, closed: 0, active: 0, sent_bytes: 0, received_bytes: 0 },
  kernel: { present: true, opened: kernelOpened, closed: 0, active: kernelOpened, sent_bytes: 0, received_bytes: 0, redirected: 0, spliced_bytes: 0 },
});

const snap = (now: number, services: ServiceStats[], events: Record<string, number> = {}): StatsSnapshot => ({
  agent: { node: 'n1', version: '1', started_unix_ms: 1_000, now_unix_ms: now, config_generation: 1, config_hash: '', datapath: 'ebpf', trust_domain: 'cluster.local' },
  duration_bounds_ms: [1, 5, 10],
  services,
  datapath_events: events,
});

test('statRows: a summed counter that went down shows unknown numbers for that interval, then rates again', () => {
  const a = snap(10_000, [row(1000, 1000, [1000, 0, 0, 0], 50)]);
  // One worker's share (400 requests) left the sum.
  const b = snap(11_000, [row(600, 600, [600, 0, 0, 0], 50)]);
  const c = snap(12_000, [row(650, 640, [600, 50, 0, 0], 60)]);
  const [dropped] = statRows(a, b);
  assert.equal(dropped?.requestsPerSec, undefined, 'no spike of 600/s, no negative rate');
  assert.equal(dropped?.successRate, undefined);
  assert.equal(dropped?.p50Ms, undefined);
  assert.equal(dropped?.requestsTotal, 600);
  assert.equal(dropped?.kernel?.openedPerSec, 0, 'counters that did not go down keep their rate');
  const [next] = statRows(b, c);
  assert.equal(next?.requestsPerSec, 50);
  assert.equal(next?.successRate, 0.8);
  assert.equal(next?.p50Ms, 1 + 4 * 0.5);
  assert.equal(next?.kernel?.openedPerSec, 10);
});

test('eventsLine: a datapath event counter that went down shows "-"', () => {
  const line = eventsLine(snap(10_000, [], { connect_seen: 100, redirected: 10 }), snap(12_000, [], { connect_seen: 40, redirected: 30 }));
  assert.equal(line, 'datapath events/s: connect_seen - · redirected 10');
});
