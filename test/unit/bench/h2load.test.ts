// The HTTP/2 bench's pure parts: h2load summary and per-request log parsing (real h2load 1.52 output),
// failure accounting, ratios, the table, and the h2load command line.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatH2Table, h2Ratios, l7Note, parseH2Log, parseH2load, quantile, sumMetric, unusable, withLog, type H2Report, type H2Result } from '../../../bench/h2load';
import { h2loadArgs } from '../../../bench/h2run';

const HEAD = `starting benchmark...
spawning thread #0: 16 total client(s). Timing-based test with 1s of warm-up time and 3s of main duration for measurements.
Warm-up started for thread #0.
progress: 6% of clients started
progress: 100% of clients started
Application protocol: h2c
Warm-up phase is over for thread #0.
Main benchmark duration is started for thread #0.
Main benchmark duration is over for thread #0. Stopping all clients.
Stopped all clients for thread #0

`;

const DIRECT = `${HEAD}finished in 4.00s, 161039.33 req/s, 13.82MB/s
requests: 483118 total, 483118 started, 483118 done, 483118 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 483119 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 41.47MB (43480678) total, 29.74MB (31182816) headers (space savings 50.51%), 13.96MB (14636809) data
                     min         max         mean         sd        +/- sd
time for request:      128us     39.47ms      9.48ms      4.51ms    71.26%
time for connect:        0us         0us         0us         0us     0.00%
time to 1st byte:        0us         0us         0us         0us     0.00%
req/s           :    9932.17    10175.23    10063.06       73.03    62.50%
`;

const NGINX = `${HEAD}finished in 4.01s, 23758.33 req/s, 2.24MB/s
requests: 71275 total, 71275 started, 71275 done, 71275 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 71274 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 6.73MB (7056167) total, 4.26MB (4471250) headers (space savings 50.51%), 2.00MB (2098750) data
                     min         max         mean         sd        +/- sd
time for request:    34.32ms    160.00ms     67.43ms      9.70ms    79.03%
time for connect:        0us         0us         0us         0us     0.00%
time to 1st byte:        0us         0us         0us         0us     0.00%
req/s           :    1465.89     1499.38     1484.22       15.49    62.50%
`;

// Nothing listened: h2load still exits 0, with zero requests.
const REFUSED = `${HEAD}finished in 2.01s, 0.00 req/s, 0B/s
requests: 0 total, 0 started, 0 done, 0 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 0 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 0B (0) total, 0B (0) headers (space savings 0.00%), 0B (0) data
                     min         max         mean         sd        +/- sd
time for request:        0us         0us         0us         0us     0.00%
time for connect:        0us         0us         0us         0us     0.00%
time to 1st byte:        0us         0us         0us         0us     0.00%
req/s           :       0.00        0.00        0.00        0.00     0.00%
`;

const FAILING = `${HEAD}finished in 9.01s, 12000.50 req/s, 1.10MB/s
requests: 96004 total, 96100 started, 96004 done, 95000 succeeded, 1004 failed, 1004 errored, 0 timeout
status codes: 95000 2xx, 0 3xx, 0 4xx, 12 5xx
traffic: 8.00MB (8388608) total, 5.00MB (5242880) headers (space savings 50.51%), 2.00MB (2097152) data
                     min         max         mean         sd        +/- sd
time for request:     1.02ms      2.01s     13.20ms     20.00ms    90.00%
`;

const FIVE_XX = FAILING.replace('95000 2xx, 0 3xx, 0 4xx, 12 5xx', '90000 2xx, 0 3xx, 0 4xx, 5000 5xx')
  .replace('95000 succeeded, 1004 failed, 1004 errored', '96004 succeeded, 0 failed, 0 errored');

describe('parseH2load', () => {
  const cases: { name: string; text: string; want: Partial<H2Result> }[] = [
    { name: 'direct', text: DIRECT, want: { requests: 483118, succeeded: 483118, failed: 0, rps: 161039.33, minMs: 0.128, maxMs: 39.47, meanMs: 9.48, sdMs: 4.51 } },
    { name: 'nginx', text: NGINX, want: { requests: 71275, succeeded: 71275, rps: 23758.33, minMs: 34.32, maxMs: 160, meanMs: 67.43 } },
    { name: 'refused', text: REFUSED, want: { requests: 0, succeeded: 0, rps: 0, meanMs: 0 } },
    { name: 'failing', text: FAILING, want: { requests: 96004, succeeded: 95000, failed: 1004, errored: 1004, timeout: 0, rps: 12000.5, maxMs: 2010 } },
  ];
  for (const c of cases) {
    it(`reads the ${c.name} summary`, () => {
      const r = parseH2load(c.text);
      for (const [k, v] of Object.entries(c.want)) assert.equal(r[k as keyof H2Result], v, k);
    });
  }
  it('reads the status code counts', () => {
    assert.deepEqual(parseH2load(FAILING).codes, { '2xx': 95000, '3xx': 0, '4xx': 0, '5xx': 12 });
  });
  it('names the missing line when the output is cut short', () => {
    assert.throws(() => parseH2load(HEAD), /"finished in"/);
    assert.throws(() => parseH2load(DIRECT.replace(/^requests:.*$/m, '')), /"requests:"/);
    assert.throws(() => parseH2load(DIRECT.replace(/^time for request:.*$/m, '')), /"time for request:"/);
  });
});

describe('unusable', () => {
  const cases: { name: string; text: string; want: RegExp | undefined }[] = [
    { name: 'a clean run', text: DIRECT, want: undefined },
    { name: 'nothing connected', text: REFUSED, want: /no request succeeded/ },
    { name: 'over 1% failed', text: FAILING, want: /2008 of 96004 requests failed/ },
    { name: 'over 1% non-2xx', text: FIVE_XX, want: /5000 of 96004 responses were not 2xx/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const why = unusable(parseH2load(c.text));
      if (c.want === undefined) assert.equal(why, undefined);
      else assert.match(why ?? '', c.want);
    });
  }
});

describe('parseH2Log', () => {
  it('takes percentiles of the elapsed column and counts failed streams apart', () => {
    const rows = Array.from({ length: 100 }, (_, i) => `17952881966${String(i).padStart(5, '0')}\t200\t${(i + 1) * 10}`);
    rows.splice(10, 0, '1795288196681460\t-1\t5', '1795288196681461\t-1\t999999');
    const r = parseH2Log(`${rows.join('\n')}\n`);
    assert.deepEqual(r, { count: 100, failed: 2, p50Ms: 0.5, p90Ms: 0.9, p99Ms: 0.99 });
  });
  it('ignores extra columns, blank and malformed lines, and a missing final newline', () => {
    const r = parseH2Log('garbage\n\n1\t200\t1000\textra\n2\t200\t3000');
    assert.deepEqual(r, { count: 2, failed: 0, p50Ms: 1, p90Ms: 3, p99Ms: 3 });
  });
  it('has no percentiles without a successful row', () => {
    assert.equal(parseH2Log(''), undefined);
    assert.equal(parseH2Log('1\t-1\t10\n'), undefined);
  });
});

describe('quantile', () => {
  const sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  for (const [p, want] of [[0, 1], [0.5, 5], [0.9, 9], [0.99, 10], [1, 10]] as const) {
    it(`p${p * 100} of 1..10 is ${want} (nearest rank)`, () => assert.equal(quantile(sorted, p), want));
  }
  it('is NaN for no values', () => assert.ok(Number.isNaN(quantile([], 0.5))));
});

describe('h2Ratios', () => {
  const direct = withLog(parseH2load(DIRECT), { count: 1, failed: 0, p50Ms: 9, p90Ms: 12, p99Ms: 20 });
  const nginx = withLog(parseH2load(NGINX), { count: 1, failed: 0, p50Ms: 65, p90Ms: 80, p99Ms: 100 });
  it('divides rps, mean and p99 by the reference', () => {
    const r = h2Ratios(nginx, direct);
    assert.ok(r && r.p99 !== undefined);
    assert.equal(r.rps.toFixed(4), (23758.33 / 161039.33).toFixed(4));
    assert.equal(r.mean.toFixed(4), (67.43 / 9.48).toFixed(4));
    assert.equal(r.p99, 5);
  });
  it('leaves p99 out when either side has no log', () => {
    assert.equal(h2Ratios(parseH2load(NGINX), direct)?.p99, undefined);
  });
  it('has no ratio to a missing or empty reference', () => {
    assert.equal(h2Ratios(nginx, undefined), undefined);
    assert.equal(h2Ratios(nginx, parseH2load(REFUSED)), undefined);
  });
});

describe('formatH2Table', () => {
  const direct = withLog(parseH2load(DIRECT), { count: 1, failed: 0, p50Ms: 9, p90Ms: 12, p99Ms: 20 });
  const reports: H2Report[] = [
    { key: 'direct', label: 'direct (h2c)', outcome: { status: 'ok', result: direct } },
    { key: 'nginx', label: 'nginx (1 worker, grpc_pass)', outcome: { status: 'ok', result: parseH2load(NGINX) } },
    { key: 'nodemesh-proxy', label: 'nodemesh proxy (HTTP2 port)', outcome: { status: 'unavailable', reason: 'agent did not become ready' } },
  ];
  const table = formatH2Table(reports);
  const lines = table.split('\n');
  it('has a header, a rule and one row per case', () => {
    assert.match(lines[0] ?? '', /^case\s+req\/s\s+mean\s+p50\s+p99\s+vs direct \(rps\/p99\)\s+vs nginx \(rps\/p99\)\s+ok\/failed$/);
    assert.match(lines[1] ?? '', /^-+( +-+){7}$/);
    assert.match(lines[2] ?? '', /^direct \(h2c\)\s+161,039\s+9\.48ms\s+9\.00ms\s+20\.0ms\s+1\.00x \/ 1\.00x\s+6\.78x \/ 0\.14x mean\s+483118\/0$/);
  });
  it('falls back to the mean ratio, marked, when a side has no p99', () => {
    assert.match(lines[3] ?? '', /0\.15x \/ 7\.11x mean\s+1\.00x \/ 1\.00x\s+71275\/0$/);
  });
  it('keeps unavailable cases as rows and says why under the table', () => {
    assert.match(lines[4] ?? '', /^nodemesh proxy \(HTTP2 port\)\s+unavailable$/);
    assert.ok(table.includes('nodemesh proxy (HTTP2 port): unavailable: agent did not become ready'));
  });
  it('flags suspect figures', () => {
    const t = formatH2Table([{ key: 'nginx', label: 'nginx', outcome: { status: 'ok', result: parseH2load(FAILING) } }]);
    assert.match(t, /nginx: 2008 of 96004 requests failed, errored or timed out: figures are suspect/);
  });
});

describe('h2loadArgs', () => {
  it('builds a timed run with warm-up and log', () => {
    assert.deepEqual(
      h2loadArgs({ url: 'http://127.200.0.3/', seconds: 8, warmup: 1, clients: 16, streams: 100, threads: 1, logFile: '/tmp/x.tsv' }),
      ['-c', '16', '-m', '100', '-t', '1', '-D', '8', '--warm-up-time=1', '--log-file=/tmp/x.tsv', 'http://127.200.0.3/'],
    );
  });
  it('leaves out warm-up and log when not wanted', () => {
    assert.deepEqual(
      h2loadArgs({ url: 'http://127.0.0.1:1/', seconds: 3, warmup: 0, clients: 2, streams: 10, threads: 2 }),
      ['-c', '2', '-m', '10', '-t', '2', '-D', '3', 'http://127.0.0.1:1/'],
    );
  });
});

describe('sumMetric', () => {
  const text = [
    '# HELP istio_requests_total Requests handled by the proxy',
    '# TYPE istio_requests_total counter',
    'istio_requests_total{response_code="200",destination_service="bench-h2.bench.svc.cluster.local"} 1200',
    'istio_requests_total{response_code="503",reporter="a b"} 3',
    'istio_requests_total_other 99',
    'istio_tcp_connections_opened_total{x="1"} 16',
  ].join('\n');
  const cases: [string, number | undefined][] = [
    ['istio_requests_total', 1203],
    ['istio_tcp_connections_opened_total', 16],
    ['istio_request_bytes', undefined],
  ];
  for (const [name, want] of cases) it(`sums ${name}`, () => assert.equal(sumMetric(text, name), want));
  it('reads an unlabelled sample', () => assert.equal(sumMetric('up 1\n', 'up'), 1));
});

describe('l7Note', () => {
  it('is silent when the agent counted every request', () => assert.equal(l7Note(1000, 950), undefined));
  it('says the connections went through as opaque TCP when it counted few', () =>
    assert.match(l7Note(1, 278291) ?? '', /counted 1 requests for 278291 completed: .*opaque TCP/));
  it('says when the metrics could not be read', () => assert.match(l7Note(undefined, 10) ?? '', /unreadable/));
});
