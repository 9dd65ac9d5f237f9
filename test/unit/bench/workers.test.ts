// The workers bench's pure parts: CPU time from /proc/PID/stat, the per-worker counter from /metrics,
// deltas over the measured phase, CPU per request, notes, ratios and the table.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  bypassReason, caseNotes, cpuUsPerRequest, formatPerWorker, formatWorkersTable, requestDeltas, workerRequests, workersRatios, type WorkersCase,
} from '../../../bench/workers-report';
import { parseStatCpuMs, type WrkResult } from '../../../bench/wrk';

/** A /proc/PID/stat line with `comm`, utime and stime (fields 14 and 15), the rest as the kernel writes it. */
const stat = (comm: string, utime: string, stime: string): string =>
  `4242 (${comm}) S 1 4242 4242 0 -1 4194560 123 0 0 0 ${utime} ${stime} 0 0 20 0 11 0 123456 1000 100 18446744073709551615\n`;

describe('parseStatCpuMs', () => {
  const table: [string, string, number | undefined][] = [
    ['plain name', stat('node', '250', '50'), 3000],
    ['name with spaces and parentheses', stat('node (agent) x', '250', '50'), 3000],
    ['name ending in ") "', stat('a) b) ', '1', '2'), 30],
    ['threads summed by the kernel: large counters', stat('node', '123456', '7890'), 1_313_460],
    ['zero', stat('node', '0', '0'), 0],
    ['truncated line', '4242 (node) S 1 4242 4242 0 -1 4194560 123 0 0 0', undefined],
    ['not numbers', stat('node', 'x', 'y'), undefined],
    ['garbage', 'garbage', undefined],
    ['empty', '', undefined],
  ];
  for (const [name, line, want] of table) it(name, () => assert.equal(parseStatCpuMs(line), want));
});

const METRICS = `# HELP nodemesh_worker_requests_total HTTP and gRPC requests a proxy worker handled (all services), by worker
# TYPE nodemesh_worker_requests_total counter
nodemesh_worker_requests_total{worker="0"} 1200
nodemesh_worker_requests_total{worker="1"} 800
nodemesh_worker_requests_total_other{worker="2"} 5
nodemesh_worker_requests_total{code="200",worker="3"} 7 1700000000000
nodemesh_worker_requests_total{zone="a b}"} 9
istio_requests_total{worker="0"} 99
`;

describe('workerRequests', () => {
  const table: [string, string, Record<string, number>][] = [
    ['the workers of one exposition, other metrics and unlabelled samples skipped', METRICS, { 0: 1200, 1: 800, 3: 7 }],
    ['no sample', '# nothing\n', {}],
    ['a worker repeated in two samples is summed', 'nodemesh_worker_requests_total{worker="0"} 1\nnodemesh_worker_requests_total{worker="0"} 2\n', { 0: 3 }],
    ['a non-number value is skipped', 'nodemesh_worker_requests_total{worker="0"} NaNx\n', {}],
  ];
  for (const [name, text, want] of table) it(name, () => assert.deepEqual(workerRequests(text), want));
});

describe('requestDeltas', () => {
  const table: [string, Record<string, number>, Record<string, number>, Record<string, number>][] = [
    ['after minus before, per worker', { 0: 100, 1: 50 }, { 0: 1100, 1: 950 }, { 0: 1000, 1: 900 }],
    ['a worker not seen before counts from 0', { 0: 100 }, { 0: 200, 1: 40 }, { 0: 100, 1: 40 }],
    ['a counter that went down was reset: its count since the restart', { 0: 500, 1: 500 }, { 0: 600, 1: 30 }, { 0: 100, 1: 30 }],
    ['a worker gone after is left out', { 0: 1, 1: 2 }, { 0: 3 }, { 0: 2 }],
    ['ordered by worker index', {}, { 10: 1, 2: 1, 0: 1 }, { 0: 1, 2: 1, 10: 1 }],
  ];
  for (const [name, before, after, want] of table) {
    it(name, () => {
      const got = requestDeltas(before, after);
      assert.deepEqual(got, want);
      assert.deepEqual(Object.keys(got), Object.keys(want));
    });
  }
});

describe('bypassReason', () => {
  const table: [string, Record<string, number> | undefined, number, RegExp | undefined][] = [
    ['every request counted', { 0: 500, 1: 500 }, 1000, undefined],
    ['half counted is enough (the counter may lag the last responses)', { 0: 500 }, 1000, undefined],
    ['none counted: the load went around the agent', { 0: 0 }, 201_543, /^the agent's workers counted 0 of 201,543 requests: the load did not go through the agent/],
    ['a few counted', { 0: 10, 1: 20 }, 1000, /counted 30 of 1,000 requests/],
    ['no counter: cannot tell', undefined, 1000, undefined],
    ['no requests completed: nothing to tell', { 0: 0 }, 0, undefined],
  ];
  for (const [name, per, completed, want] of table) {
    it(name, () => {
      const got = bypassReason(per, completed);
      if (want === undefined) assert.equal(got, undefined);
      else assert.match(got ?? '', want);
    });
  }
});

describe('cpuUsPerRequest', () => {
  const table: [number | undefined, number, number | undefined][] = [
    [3000, 100_000, 30],
    [10, 1000, 10],
    [0, 1000, 0],
    [undefined, 1000, undefined],
    [3000, 0, undefined],
  ];
  for (const [cpuMs, requests, want] of table) it(`${cpuMs} ms over ${requests} requests`, () => assert.equal(cpuUsPerRequest(cpuMs, requests), want));
});

const wrk = (rps: number, requests: number, errors = 0): WrkResult => ({
  requests, durationSec: requests / rps, rps, p50Ms: 0.9, p75Ms: 1.2, p90Ms: 1.6, p99Ms: 3.1, maxMs: 9, socketErrors: errors, non2xx: 0,
});

const CASES: WorkersCase[] = [
  { key: 'direct', label: 'direct', outcome: { status: 'ok', result: wrk(40_000, 320_000) } },
  { key: 'workers-1', label: 'nodemesh proxy, --workers 1', workers: 1, outcome: { status: 'ok', result: wrk(10_000, 80_000) },
    perWorker: { 0: 80_010 }, cpuMs: 4000, cpuUsPerRequest: 50 },
  { key: 'workers-2', label: 'nodemesh proxy, --workers 2', workers: 2, outcome: { status: 'ok', result: wrk(9_000, 72_000) },
    perWorker: { 0: 36_500, 1: 35_500 }, cpuMs: 4320, cpuUsPerRequest: 60 },
];

describe('caseNotes', () => {
  const base = CASES[2]!;
  const table: [string, WorkersCase, string[]][] = [
    ['nothing to say', base, []],
    ['direct has no worker notes', CASES[0]!, []],
    ['fewer workers counted than asked', { ...base, perWorker: { 0: 72_000 } }, ['nodemesh proxy, --workers 2: 1 worker(s) in nodemesh_worker_requests_total, 2 asked']],
    ['no counter', { ...base, perWorker: undefined }, ['nodemesh proxy, --workers 2: nodemesh_worker_requests_total not readable from /metrics']],
    ['counted far from completed', { ...base, perWorker: { 0: 100, 1: 100 } }, ['nodemesh proxy, --workers 2: the workers counted 200 requests, wrk completed 72,000']],
    ['errors', { ...base, outcome: { status: 'ok', result: wrk(9_000, 72_000, 3) } }, ['nodemesh proxy, --workers 2: 3 socket errors or non-2xx/3xx responses: figures are suspect']],
  ];
  for (const [name, c, want] of table) it(name, () => assert.deepEqual(caseNotes(c), want));
});

describe('workersRatios', () => {
  it('2/1 and agent/direct from req/s, CPU 2/1 from CPU per request', () => {
    const r = workersRatios(CASES);
    assert.equal(r.twoOverOne, 0.9);
    assert.equal(r.oneOverDirect, 0.25);
    assert.equal(r.twoOverDirect, 0.225);
    assert.equal(r.cpuTwoOverOne, 1.2);
  });
  it('a side that did not run leaves its ratios out', () => {
    const r = workersRatios([CASES[0]!, { ...CASES[1]!, outcome: { status: 'unavailable', reason: 'no bpf' } }, CASES[2]!]);
    assert.deepEqual(Object.keys(r).sort(), ['twoOverDirect']);
  });
});

describe('formatWorkersTable', () => {
  it('one row per case with requests per worker, CPU and ratios', () => {
    const out = formatWorkersTable(CASES);
    const lines = out.split('\n');
    assert.match(lines[0]!, /^case\s+req\/s\s+p50\s+p99\s+requests per worker\s+agent CPU\s+CPU\/request\s+errors$/);
    assert.match(out, /nodemesh proxy, --workers 2\s+9,000\s+900us\s+3\.10ms\s+0: 36,500 \(51%\) · 1: 35,500 \(49%\)\s+4\.32 s\s+60\.0 µs\s+0/);
    assert.match(out, /^direct\s+40,000\s+900us\s+3\.10ms\s+0$/m);
    assert.match(out, /2 workers \/ 1 worker: 0\.90x req\/s, 1\.20x CPU per request/);
    assert.match(out, /agent \/ direct: 0\.25x req\/s with 1 worker, 0\.23x with 2/);
  });
  it('an unavailable case keeps its row and says why', () => {
    const out = formatWorkersTable([CASES[0]!, { key: 'workers-1', label: 'w1', workers: 1, outcome: { status: 'unavailable', reason: 'agent did not start' } }]);
    assert.match(out, /^w1\s+unavailable$/m);
    assert.match(out, /w1: unavailable: agent did not start/);
    assert.match(out, /2 workers \/ 1 worker: not measured req\/s/);
  });
});

it('formatPerWorker: shares of the total, - without figures', () => {
  assert.equal(formatPerWorker({ 0: 3, 1: 1 }), '0: 3 (75%) · 1: 1 (25%)');
  assert.equal(formatPerWorker({ 0: 0 }), '0: 0');
  assert.equal(formatPerWorker({}), '-');
  assert.equal(formatPerWorker(undefined), '-');
});
