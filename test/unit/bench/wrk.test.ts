// The bench's pure parts: wrk report parsing (real wrk 4.1 output), ratios and the table.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backendNginxConf, haproxyConf, meshYaml, proxyNginxConf } from '../../../bench/configs';
import { failureSummary, formatMs, formatTable, parseDurationMs, parseStatCpuMs, parseVmRssKb, parseWrk, ratios, type CaseReport, type WrkResult } from '../../../bench/wrk';

const OK = `Running 1s test @ http://127.0.0.1:18999/
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   149.53us  653.99us  18.48ms   98.47%
    Req/Sec    78.38k     6.25k   86.21k    63.64%
  Latency Distribution
     50%   68.00us
     75%  101.00us
     90%  166.00us
     99%    1.63ms
  85565 requests in 1.10s, 12.16MB read
Requests/sec:  77785.02
Transfer/sec:     11.05MB
`;

const ERRORS = `Running 8s test @ http://127.200.0.1/
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms    1.20ms   1.05s    91.00%
    Req/Sec    15.10k     1.00k   17.00k    70.00%
  Latency Distribution
     50%    1.90ms
     75%    2.30ms
     90%    3.00ms
     99%    6.50ms
  120000 requests in 8.00s, 17.00MB read
  Socket errors: connect 2, read 12, write 0, timeout 3
  Non-2xx or 3xx responses: 40
Requests/sec:  15000.00
Transfer/sec:      2.13MB
`;

describe('parseDurationMs', () => {
  it('reads every unit wrk prints', () => {
    assert.equal(parseDurationMs('68.00us'), 0.068);
    assert.equal(parseDurationMs('1.63ms'), 1.63);
    assert.equal(parseDurationMs('2.01s'), 2010);
    assert.equal(parseDurationMs('1.00m'), 60_000);
  });
  it('rejects what is not a duration', () => {
    assert.throws(() => parseDurationMs('12'), /not a wrk duration/);
    assert.throws(() => parseDurationMs('1.2kb'), /not a wrk duration/);
  });
});

describe('parseWrk', () => {
  it('reads throughput, percentiles and the request count', () => {
    const r = parseWrk(OK);
    assert.equal(r.rps, 77785.02);
    assert.equal(r.requests, 85565);
    assert.equal(r.durationSec, 1.1);
    assert.equal(r.p50Ms, 0.068);
    assert.equal(r.p75Ms, 0.101);
    assert.equal(r.p90Ms, 0.166);
    assert.equal(r.p99Ms, 1.63);
    assert.equal(r.maxMs, 18.48);
    assert.equal(r.socketErrors, 0);
    assert.equal(r.non2xx, 0);
  });
  it('counts socket errors and non-2xx responses', () => {
    const r = parseWrk(ERRORS);
    assert.equal(r.socketErrors, 17);
    assert.equal(r.non2xx, 40);
    assert.equal(r.maxMs, 1050);
    assert.equal(r.p99Ms, 6.5);
  });
  it('refuses output without --latency or without a summary', () => {
    assert.throws(() => parseWrk(OK.replace(/Latency Distribution[\s\S]*?(?=\s+\d+ requests)/, '')), /latency distribution/);
    assert.throws(() => parseWrk('unable to connect to 127.0.0.1:18998 Connection refused'), /latency distribution/);
    assert.throws(() => parseWrk(OK.replace(/^Requests\/sec.*$/m, '')), /Requests\/sec/);
  });
});

const res = (rps: number, p50Ms: number, p99Ms: number, extra: Partial<WrkResult> = {}): WrkResult => ({
  requests: rps * 8, durationSec: 8, rps, p50Ms, p75Ms: undefined, p90Ms: undefined, p99Ms, maxMs: undefined,
  socketErrors: 0, non2xx: 0, ...extra,
});

describe('ratios and table', () => {
  it('compares throughput up and p99 down against the reference', () => {
    assert.deepEqual(ratios(res(50, 1, 4), res(100, 1, 2)), { rps: 0.5, p99: 2 });
    assert.equal(ratios(res(50, 1, 4), undefined), undefined);
    assert.equal(ratios(res(50, 1, 4), res(0, 1, 2)), undefined);
  });

  it('formats latencies for reading', () => {
    assert.equal(formatMs(0.068), '68us');
    assert.equal(formatMs(1.634), '1.63ms');
    assert.equal(formatMs(25.44), '25.4ms');
    assert.equal(formatMs(1050), '1050ms');
  });

  const reports: CaseReport[] = [
    { key: 'direct', label: 'direct', outcome: { status: 'ok', result: res(40000, 0.5, 2) } },
    { key: 'haproxy', label: 'haproxy (nbthread 1)', outcome: { status: 'ok', result: res(20000, 1, 4) } },
    { key: 'nginx', label: 'nginx (1 worker)', outcome: { status: 'ok', result: res(10000, 2, 8, { non2xx: 3 }) } },
    { key: 'nodemesh-proxy', label: 'nodemesh proxy (eBPF capture)', outcome: { status: 'unavailable', reason: 'agent not built' } },
  ];

  it('prints one row per case with ratios to direct and to haproxy', () => {
    const lines = formatTable(reports).split('\n');
    assert.match(lines[0] ?? '', /^case\s+req\/s\s+p50\s+p99\s+vs direct \(rps\/p99\)\s+vs haproxy \(rps\/p99\)\s+errors$/);
    const row = (label: string): string => lines.find((l) => l.startsWith(label)) ?? '';
    assert.match(row('direct'), /40,000\s+500us\s+2\.00ms\s+1\.00x \/ 1\.00x\s+2\.00x \/ 0\.50x\s+0$/);
    assert.match(row('haproxy'), /20,000\s+1\.00ms\s+4\.00ms\s+0\.50x \/ 2\.00x\s+1\.00x \/ 1\.00x\s+0$/);
    assert.match(row('nginx'), /0\.25x \/ 4\.00x\s+0\.50x \/ 2\.00x\s+3$/);
    assert.match(row('nodemesh proxy'), /unavailable$/);
  });

  it('keeps unavailable cases and suspect figures visible under the table', () => {
    const text = formatTable(reports);
    assert.match(text, /nodemesh proxy \(eBPF capture\): unavailable: agent not built/);
    assert.match(text, /nginx \(1 worker\): 0 socket errors, 3 non-2xx\/3xx responses: figures are suspect/);
  });

  it('shows "-" for ratios when the reference case is unavailable', () => {
    const noHa = reports.filter((r) => r.key !== 'haproxy');
    const nginxRow = formatTable(noHa).split('\n').find((l) => l.startsWith('nginx')) ?? '';
    assert.match(nginxRow, /0\.25x \/ 4\.00x\s+-\s+3$/);
  });
});

describe('RSS and configs', () => {
  it('reads VmRSS from /proc/PID/status', () => {
    assert.equal(parseVmRssKb('Name:\tnode\nVmPeak:\t  900 kB\nVmRSS:\t   51234 kB\n'), 51234);
    assert.equal(parseVmRssKb('Name:\tkthreadd\n'), undefined);
  });

  it('pins every server to one thread or process on 127.0.0.1', () => {
    assert.match(haproxyConf(1, 2), /nbthread 1/);
    assert.match(haproxyConf(1, 2), /bind 127\.0\.0\.1:1\b/);
    for (const conf of [backendNginxConf('/tmp/x', 3), proxyNginxConf('/tmp/x', 4, 3)]) {
      assert.match(conf, /worker_processes 1;/);
      assert.match(conf, /master_process off;/);
      assert.match(conf, /listen 127\.0\.0\.1:\d+/);
    }
    assert.match(proxyNginxConf('/tmp/x', 4, 3), /keepalive 64;[\s\S]*proxy_set_header Connection "";/);
  });

  it('describes one proxy-mode and one kernel-mode VIP onto the backend port', () => {
    const y = meshYaml(18080);
    assert.match(y, /addresses: \[127\.200\.0\.1\][\s\S]*protocol: HTTP, targetPort: 18080/);
    assert.match(y, /nodemesh\.io\/dataplane: kernel[\s\S]*addresses: \[127\.200\.0\.2\][\s\S]*protocol: TCP, targetPort: 18080/);
  });
});

describe('failureSummary', () => {
  it('prefers the last pino error record', () => {
    const lines = [
      '{"level":30,"msg":"loading config"}',
      '{"level":50,"msg":"cannot attach programs","code":"NM_E_NOT_PRIVILEGED","err":{"message":"EPERM"}}',
      '{"level":30,"msg":"shutting down"}',
    ];
    assert.equal(failureSummary(lines), 'cannot attach programs: EPERM (NM_E_NOT_PRIVILEGED)');
  });
  it('falls back to the thrown error of a stack trace, then to the tail', () => {
    const trace = ['node:internal/modules/cjs/loader:1568', '  throw err;', '  ^', '', "Error: Cannot find module './balance'", '    at Module._resolveFilename (x)'];
    assert.equal(failureSummary(trace), "Error: Cannot find module './balance'");
    assert.equal(failureSummary(['{"level":30,"msg":"x"}', 'nodemesh: NM_E_NO_BPFFS: no bpf filesystem']), 'nodemesh: NM_E_NO_BPFFS: no bpf filesystem');
    assert.equal(failureSummary(['a', 'b', 'c', 'd']), 'b | c | d');
    assert.equal(failureSummary([]), 'no output');
  });
});

it('parseStatCpuMs: utime + stime of /proc/PID/stat in ms, whatever the command name', () => {
  const line = '4242 (node (agent) x) S 1 4242 4242 0 -1 4194560 123 0 0 0 250 50 0 0 20 0 11 0 123456 1000 100';
  assert.equal(parseStatCpuMs(line), 3000);
  assert.equal(parseStatCpuMs('garbage'), undefined);
});
