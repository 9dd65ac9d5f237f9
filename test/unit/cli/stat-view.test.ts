// `nodemesh stat`'s numbers and screen from two Stats answers, and `nodemesh config`'s tables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServiceStats, StatsSnapshot } from '../../../src/telemetry/admin-proto';
import { emptyRequests } from '../../../src/telemetry/admin-stats';
import { eventsLine, fmtMs, fmtPercent, fmtRate, fmtSi, fmtUptime, statJson, statRows, statScreen } from '../../../src/cli/stat-view';
import { frame } from '../../../src/cli/stat';
import { configTable, endpointsCell } from '../../../src/cli/config-view';
import { parseCommandLine } from '../../../src/cli/parse';

const BOUNDS = [1, 5, 10];

function row(name: string, reporter: string, total: number, success: number, buckets: number[], extra: Partial<ServiceStats> = {}): ServiceStats {
  return {
    host: `${name}.shop.svc.cluster.local`, name, namespace: 'shop', reporter, dataplane: 'proxy',
    requests: { ...emptyRequests(4), total, success, errors: total - success, duration_buckets: buckets },
    tcp: { opened: 0, closed: 0, active: 0, sent_bytes: 0, received_bytes: 0 },
    kernel: { present: false, opened: 0, closed: 0, active: 0, sent_bytes: 0, received_bytes: 0, redirected: 0, spliced_bytes: 0 },
    ...extra,
  };
}

function snap(now: number, services: ServiceStats[], started = 1_000): StatsSnapshot {
  return {
    agent: { node: 'n1', version: '1', started_unix_ms: started, now_unix_ms: now, config_generation: 3, config_hash: 'abc', datapath: 'ebpf', trust_domain: 'cluster.local' },
    duration_bounds_ms: BOUNDS,
    services,
    datapath_events: {},
  };
}

const kernel = (opened: number, closed: number, bytes: number) => ({ present: true, opened, closed, active: opened - closed, sent_bytes: bytes, received_bytes: 0, redirected: opened, spliced_bytes: 0 });

test('statRows: rates over the interval, success and percentiles of the interval, sorted by rate', () => {
  const before = snap(10_000, [row('cart', 'source', 100, 100, [100, 0, 0, 0]), row('db', 'source', 0, 0, [0, 0, 0, 0], { kernel: kernel(10, 5, 1000) })]);
  const after = snap(12_000, [
    row('cart', 'source', 120, 110, [100, 20, 0, 0]), // 20 new: 10 failed, all in 1..5 ms
    row('cart', 'destination', 40, 40, [0, 0, 40, 0]), // new in the interval: counts from zero
    row('db', 'source', 0, 0, [0, 0, 0, 0], { kernel: kernel(30, 10, 5000) }),
  ]);
  const rows = statRows(before, after);
  assert.deepEqual(rows.map((r) => [r.name, r.side, r.requestsPerSec]), [['cart', 'in', 20], ['cart', 'out', 10], ['db', 'out', 0]]);
  const out = rows[1]!;
  assert.equal(out.successRate, 0.5);
  assert.equal(out.p50Ms, 3, 'p50 of the interval, not of all time (which is in the first bucket)');
  assert.equal(rows[0]?.p99Ms, 5 + 5 * 0.99);
  assert.deepEqual(rows[2]?.kernel, { active: 20, openedPerSec: 10, bytesPerSec: 2000 });
  assert.equal(rows[2]?.successRate, undefined, 'no request in the interval');
});

test('statRows without a usable previous answer: no rates, the rest since start', () => {
  const cur = snap(12_000, [row('cart', 'source', 10, 9, [10, 0, 0, 0])]);
  for (const prev of [undefined, snap(10_000, [], 999)]) {
    const [r] = statRows(prev, cur);
    assert.equal(r?.requestsPerSec, undefined);
    assert.equal(r?.successRate, 0.9);
    assert.equal(r?.p50Ms, 0.5);
  }
});

test('formats: rates, percents, durations, SI counts, uptime', () => {
  const cases: [string, string][] = [
    [fmtRate(undefined), '-'], [fmtRate(0), '0'], [fmtRate(2.25), '2.3'], [fmtRate(1234.4), '1234'], [fmtRate(25_000), '25k'],
    [fmtPercent(undefined), '-'], [fmtPercent(1), '100%'], [fmtPercent(0.99996), '99.9%'], [fmtPercent(0.5), '50.0%'],
    [fmtMs(undefined), '-'], [fmtMs(0.25), '0.3ms'], [fmtMs(42.4), '42ms'], [fmtMs(2500), '2.50s'], [fmtMs(30_000), '30.0s'],
    [fmtSi(999), '999'], [fmtSi(1500), '1.5k'], [fmtSi(12_000_000), '12M'], [fmtSi(0.5), '0.5'],
    [fmtUptime(42_000), '42s'], [fmtUptime(307_000), '5m07s'], [fmtUptime(3_720_000), '1h02m'], [fmtUptime(3 * 86_400_000 + 4 * 3_600_000), '3d4h'],
  ];
  for (const [got, want] of cases) assert.equal(got, want);
});

test('statScreen: header with node, uptime and config generation; table cut to the terminal', () => {
  const many = Array.from({ length: 30 }, (_, i) => row(`svc${String(i).padStart(2, '0')}`, 'source', i, i, [i, 0, 0, 0]));
  const wide = statScreen(undefined, snap(62_000, many), { address: '127.0.0.1:15000', intervalMs: 1000, clock: '10:00:00' });
  assert.equal(wide[0], 'nodemesh stat · node n1 · up 1m01s · config #3 (abc) · datapath ebpf · 127.0.0.1:15000 · interval 1s · 10:00:00');
  assert.equal(wide[1], 'rates after the next sample');
  assert.equal(wide.length, 2 + 1 + 30);
  const lines = statScreen(undefined, snap(62_000, many), { address: '127.0.0.1:15000', intervalMs: 1000, columns: 80, rows: 12, clock: '10:00:00' });
  assert.equal(lines.length, 11, 'one line left for the cursor: no scroll');
  assert.ok(lines.every((l) => l.length <= 80));
  assert.match(lines[2] ?? '', /^SERVICE +NAMESPACE +SIDE +REQ\/S +SUCCESS +P50 +P99/);
  assert.match(lines[3] ?? '', /^svc29\.shop/, 'busiest first');
  assert.match(lines[10] ?? '', /^… 23 more$/);
  assert.match(statScreen(undefined, snap(2_000, []), { address: 'a', intervalMs: 500 }).join('\n'), /interval 500ms[\s\S]*no traffic recorded yet/);
  assert.match(statScreen(undefined, snap(2_000, []), { address: 'a', intervalMs: 500, problem: '! gone' })[1] ?? '', /^! gone$/);
});

test('datapath events: per second over the interval, totals before; a line under the table', () => {
  const a = { ...snap(10_000, []), datapath_events: { connect_seen: 100, sk_msg_redirect: 0 } };
  const b = { ...snap(12_000, [row('cart', 'source', 1, 1, [1, 0, 0, 0])]), datapath_events: { connect_seen: 150, sk_msg_redirect: 3000 } };
  assert.equal(eventsLine(undefined, a), 'datapath events: connect_seen 100 · sk_msg_redirect 0');
  assert.equal(eventsLine(a, b), 'datapath events/s: connect_seen 25 · sk_msg_redirect 1500');
  assert.equal(eventsLine(undefined, snap(1, [])), undefined);
  const lines = statScreen(a, b, { address: 'a', intervalMs: 1000, rows: 10 });
  assert.deepEqual(lines.slice(-2), ['', 'datapath events/s: connect_seen 25 · sk_msg_redirect 1500']);
});

test('frame: drawn from the top-left, every line cleared to its end, the rest of the screen cleared', () => {
  assert.equal(frame(['a', 'bb']), '\x1b[Ha\x1b[K\r\nbb\x1b[K\r\n\x1b[J');
});

test('statJson: unknown rates are null; the agent and the interval are in it', () => {
  const j = JSON.parse(statJson(undefined, snap(2_000, [row('cart', 'source', 1, 1, [1, 0, 0, 0])]))) as { interval_seconds: unknown; agent: { node: string }; services: { requests_per_sec: unknown; kernel: unknown; host: string }[] };
  assert.equal(j.interval_seconds, null);
  assert.equal(j.agent.node, 'n1');
  assert.equal(j.services[0]?.requests_per_sec, null);
  assert.equal(j.services[0]?.kernel, null);
  assert.equal(j.services[0]?.host, 'cart.shop.svc.cluster.local');
});

test('config tables: columns as istioctl ztunnel-config, endpoints by placement', () => {
  assert.equal(endpointsCell(['local', 'remote', 'remote']), '3 (1 local, 2 remote)');
  assert.equal(endpointsCell(['direct', 'direct']), '2');
  const agent = snap(0, []).agent;
  const certs = configTable('certs', { agent, certificates: [{ identity: 'spiffe://td/ns/a/sa/b', type: 'Leaf', status: 'Pending', valid: false, serial: '', not_before: '', not_after: '' }] });
  assert.match(certs[0] ?? '', /^CERTIFICATE NAME +TYPE +STATUS +VALID CERT +SERIAL NUMBER +NOT AFTER +NOT BEFORE$/);
  assert.match(certs[1] ?? '', /^spiffe:\/\/td\/ns\/a\/sa\/b +Leaf +Pending +false +- +- +-$/);
  const pol = configTable('policies', { agent, policies: [{ namespace: 'shop', name: 'p', kind: 'AuthorizationPolicy', action: 'DENY', scope: 'WorkloadSelector', selector: { app: 'cart' }, rules: 2, dry_run: true }] });
  assert.match(pol[1] ?? '', /^shop +p +AuthorizationPolicy +DENY \(dry-run\) +WorkloadSelector +app=cart +2$/);
});

test('-o is --output: -o json, -o=json, -ojson; other shorthands are still refused', () => {
  for (const argv of [['-o', 'json'], ['-o=json'], ['-ojson'], ['--output', 'json']]) {
    const inv = parseCommandLine(['stat', ...argv]);
    assert.equal(inv.kind === 'run' && inv.flags.text('output'), 'json', argv.join(' '));
  }
  const inv = parseCommandLine(['config', 'certs', '-o', 'json']);
  assert.deepEqual(inv.kind === 'run' && [inv.args.positional, inv.flags.text('output')], [['certs'], 'json']);
  assert.throws(() => parseCommandLine(['stat', '-o', 'yaml']), /--output must be table or json/);
  assert.throws(() => parseCommandLine(['stat', '-x']), /unknown shorthand flag "-x"/);
  assert.throws(() => parseCommandLine(['agent', '-o', 'json']), /unknown shorthand flag "-o"/);
  assert.throws(() => parseCommandLine(['stat', '--interval', '10ms']), /--interval must be at least 100ms/);
});
