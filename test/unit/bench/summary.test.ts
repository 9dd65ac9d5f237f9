// The bench summary's table from sample JSON results: figures of this run with anchors, goals and
// verdicts; results of another run (older file or earlier start) never shown as current.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatSummary, summaryRows, thisRun, type LoadedResult, type ResultKey, type SummaryInput } from '../../../bench/summary-table';

const START = Date.parse('2026-12-03T10:00:00Z');
const AFTER = START + 60_000;

const H2 = { startedAt: '2026-12-03T10:01:00.000Z', cases: [
  { key: 'nginx', status: 'ok', rps: 40_000 },
  { key: 'nodemesh-proxy', status: 'ok', rps: 34_000 },
] };
const CROSSNODE = { startedAt: '2026-12-03T10:02:00.000Z',
  fixedRate: { direct: { p50: 0.1, p99: 0.3 }, mesh: { p50: 0.3, p99: 0.9 }, addedMs: { p50: 0.2, p90: 0.4, p99: 0.6 } },
  maxThroughput: { directRps: 20_000, meshRps: 11_000, ratio: 0.55 } };
const LEAN = { idle: { rssKb: 58 * 1024 }, keepAlive: [{ connections: 2000, rssKbPerConn: 17.4 }, { connections: 10000, rssKbPerConn: 7.5 }] };
const RUN = { startedAt: '2026-12-03T10:00:05.000Z', agent: { rssIdleKb: 90 * 1024 } };
const WORKERS = { startedAt: '2026-12-03T10:03:00.000Z', cases: [
  { key: 'direct', status: 'ok', requests: 300_000 },
  { key: 'workers-1', status: 'ok', workers: 1, requests: 80_000, perWorker: { 0: 80_000 }, cpuUsPerRequest: 50 },
  { key: 'workers-2', status: 'ok', workers: 2, requests: 72_000, perWorker: { 0: 40_000, 1: 32_000 }, cpuUsPerRequest: 55 },
], ratios: { twoOverOne: 0.9 } };

const fresh = (json: unknown): LoadedResult => ({ mtimeMs: AFTER, json });
const ALL: Partial<Record<ResultKey, LoadedResult>> = {
  h2: fresh(H2), crossnode: fresh(CROSSNODE), lean: fresh(LEAN), run: fresh(RUN), workers: fresh(WORKERS),
};
const input = (results: Partial<Record<ResultKey, LoadedResult>>, runStartMs: number | null = START): SummaryInput =>
  ({ runStartMs: runStartMs ?? undefined, results });
const row = (i: SummaryInput, prefix: string) => summaryRows(i).rows.find((r) => r.figure.startsWith(prefix));

describe('thisRun', () => {
  // null: no run start recorded.
  const table: [string, LoadedResult | undefined, number | null, RegExp | 'json'][] = [
    ['written after the run start', fresh(H2), START, 'json'],
    ['no file', undefined, START, /^h2\.js did not run in this run \(no h2\.json\)$/],
    ['older than the run start', { mtimeMs: START - 1, json: H2 }, START, /^h2\.js did not run in this run \(h2\.json is from 2026-12-03T09:59:59Z\)$/],
    ['touched later but started before the run', fresh({ ...H2, startedAt: '2026-12-03T09:00:00.000Z' }), START, /did not run in this run/],
    ['unreadable', { error: 'Unexpected token' }, START, /^h2\.json unreadable: Unexpected token$/],
    ['no run start recorded', fresh(H2), null, /^no run start recorded/],
    ['not an object', fresh([1, 2]), START, /not a JSON object/],
    ['the bench recorded an error', fresh({ error: 'agent did not become ready' }), START, /^h2\.js failed: agent did not become ready$/],
  ];
  for (const [name, loaded, startMs, want] of table) {
    it(name, () => {
      const r = thisRun(input(loaded ? { h2: loaded } : {}, startMs), 'h2');
      if (want === 'json') assert.ok('json' in r);
      else assert.match('why' in r ? r.why : '', want);
    });
  }
});

describe('summaryRows', () => {
  const all = input(ALL);
  const table: [string, string, string, string, string][] = [
    // figure prefix, value, anchor, goal, verdict
    ['HTTP/2 agent / nginx', '0.85x (34,000 req/s)', 'nginx 40,000 req/s', '≥ 1.00x', 'MISSED'],
    ['cross-node added p50', '+0.200 ms', 'direct p50 100us', '≤ 0.25 ms', 'met'],
    ['cross-node added p99', '+0.600 ms', 'direct p99 300us', '≤ 0.50 ms', 'MISSED'],
    ['cross-node max throughput', '0.55x (11,000 req/s)', 'direct 20,000 req/s', '≥ 0.50x', 'met'],
    ['agent RSS idle, fresh agent', '58.0 MiB', 'issue 13 start: 97 MB', '≤ 60 MiB', 'met'],
    ['agent RSS per idle connection (10,000 conns)', '7.5 KiB', 'issue 13 start: unmeasured', '≤ 30 KiB', 'met'],
    ['agent RSS idle, bench mesh', '90.0 MiB', 'issue 13 start: 97 MB', '≤ 60 MiB', 'MISSED'],
    ['requests per worker, 1 worker', '0: 80,000 (100%)', 'wrk 80,000 requests', 'every worker serves', 'met'],
    ['requests per worker, 2 worker', '0: 40,000 (56%) · 1: 32,000 (44%)', 'wrk 72,000 requests', 'every worker serves', 'met'],
    ['agent CPU per request, 1 worker', '50.0 µs', 'agent process, all threads', 'reported (no goal)', '-'],
    ['agent CPU per request, 2 worker', '55.0 µs (1.10x)', '1 worker 50.0 µs', 'reported (no goal)', '-'],
    ['req/s, 2 workers / 1 worker', '0.90x', '1 worker', 'no scaling on 2 shared vCPUs', '-'],
  ];
  for (const [prefix, value, anchor, goal, verdict] of table) {
    it(prefix, () => {
      const r = row(all, prefix);
      assert.ok(r, `no row ${prefix}`);
      assert.deepEqual([r.value, r.anchor, r.goal, r.verdict], [value, anchor, goal, verdict]);
    });
  }

  it('every issue 13 figure has a row, with no notes when all ran', () => {
    const { rows, notes } = summaryRows(all);
    assert.equal(rows.length, 12);
    assert.deepEqual(notes, []);
  });

  it('a worker that served nothing misses "every worker serves"', () => {
    const idle = { ...WORKERS, cases: [WORKERS.cases[0], WORKERS.cases[1], { ...WORKERS.cases[2], perWorker: { 0: 72_000, 1: 0 } }] };
    assert.equal(row(input({ ...ALL, workers: fresh(idle) }), 'requests per worker, 2')?.verdict, 'MISSED');
  });

  it('a case that did not measure is unavailable, with its reason in the notes', () => {
    const h2 = { ...H2, cases: [{ key: 'nginx', status: 'ok', rps: 40_000 }, { key: 'nodemesh-proxy', status: 'unavailable', reason: 'agent did not start' }] };
    const s = summaryRows(input({ ...ALL, h2: fresh(h2) }));
    const r = s.rows.find((x) => x.figure.startsWith('HTTP/2'));
    assert.deepEqual([r?.value, r?.verdict], ['unavailable', 'not run']);
    assert.deepEqual(s.notes, ['HTTP/2 agent / nginx req/s (h2load -c16 -m100): the agent case: unavailable: agent did not start']);
  });

  it('an unavailable worker case: both of its figures unavailable, the 2/1 ratio left out', () => {
    const w = { ...WORKERS, cases: [WORKERS.cases[0], { key: 'workers-1', status: 'unavailable', workers: 1, reason: 'bypassed' }, WORKERS.cases[2]], ratios: {} };
    const s = summaryRows(input({ ...ALL, workers: fresh(w) }));
    assert.equal(s.rows.find((x) => x.figure === 'requests per worker, 1 worker(s)')?.value, 'unavailable');
    assert.equal(s.rows.find((x) => x.figure === 'agent CPU per request, 2 worker(s)')?.value, '55.0 µs');
    assert.equal(s.rows.find((x) => x.figure === 'agent CPU per request, 2 worker(s)')?.anchor, 'agent process, all threads');
    assert.equal(s.rows.some((x) => x.figure.startsWith('req/s, 2 workers')), false);
    assert.deepEqual(s.notes, [
      'requests per worker, 1 worker(s): unavailable: bypassed',
      'agent CPU per request, 1 worker(s): unavailable: bypassed',
    ]);
  });

  it('stale files: every figure of those benches says not run, none shows a value', () => {
    const stale = (json: unknown): LoadedResult => ({ mtimeMs: START - 3_600_000, json });
    const s = summaryRows(input({ h2: stale(H2), crossnode: stale(CROSSNODE), lean: stale(LEAN), run: stale(RUN), workers: stale(WORKERS) }));
    assert.equal(s.rows.length, 11); // the 2/1 ratio row exists only with this run's workers figures
    for (const r of s.rows) assert.deepEqual([r.value, r.verdict], ['not run', 'not run'], r.figure);
    assert.ok(s.notes.every((n) => /did not run in this run \(\S+\.json is from 2026-12-03T09:00:00Z\)/.test(n)), s.notes.join('\n'));
  });
});

describe('formatSummary', () => {
  it('one table with the run start, the count of goals met and the notes', () => {
    const out = formatSummary(input({ ...ALL, h2: undefined }));
    const lines = out.split('\n');
    assert.equal(lines[0], 'run started 2026-12-03T10:00:00Z');
    assert.match(lines[1]!, /^figure \(issue 13\)\s+this run\s+anchor\s+goal\s+verdict\s+bench$/);
    assert.match(out, /^HTTP\/2 agent \/ nginx req\/s \(h2load -c16 -m100\)\s+not run\s+nginx 1 worker, grpc_pass\s+≥ 1\.00x\s+not run\s+h2\.js$/m);
    assert.match(out, /^6 of 8 goals met; 1 figure\(s\) not measured in this run$/m);
    assert.match(out, /^- HTTP\/2 agent \/ nginx req\/s \(h2load -c16 -m100\): h2\.js did not run in this run \(no h2\.json\)$/m);
  });
});
