// The benches' pure parts: the grid, the interleaved-run summary, target ratios, how the agent logs, and
// the generated mesh configs (a request `GET /` must match only the last route; the routing config must
// load with the agent's own config loader).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { benchHost, EDITS_VIP, editsVirtualServiceYaml, h2BackendNginxConf, h2MeshYaml, h2ProxyNginxConf, routeMatch, routesMeshYaml } from '../../../bench/configs';
import {
  accessLogOn, caseMean, compareMeans, describeAgentLogging, formatGrid, formatTarget, interleave, type RunOf,
} from '../../../bench/tables';
import { buildConfig } from '../../../src/config/load';
import type { WrkResult } from '../../../bench/wrk';

const wrk = (rps: number, p99Ms: number, errors = 0): WrkResult => ({
  requests: rps * 8, durationSec: 8, rps, p50Ms: p99Ms / 4, p75Ms: undefined, p90Ms: undefined, p99Ms,
  maxMs: undefined, socketErrors: errors, non2xx: 0,
});

describe('formatGrid', () => {
  it('pads the first column left and the others right, under a dashed rule', () => {
    assert.equal(formatGrid(['run', 'req/s'], [['plain #1', '9,000'], ['routed #1', '12']]), [
      'run        req/s',
      '---------  -----',
      'plain #1   9,000',
      'routed #1     12',
    ].join('\n'));
  });
});

describe('interleave', () => {
  it('alternates two cases a, b, b, a, …', () => {
    assert.deepEqual(interleave(['plain', 'routed'], 2), ['plain', 'routed', 'routed', 'plain']);
    assert.deepEqual(interleave(['a', 'b'], 3), ['a', 'b', 'b', 'a', 'a', 'b']);
    assert.deepEqual(interleave(['a', 'b'], 1), ['a', 'b']);
  });
  it('runs every case once per round, every other round reversed', () => {
    assert.deepEqual(interleave(['p', 'r', 'e'], 3), ['p', 'r', 'e', 'e', 'r', 'p', 'p', 'r', 'e']);
    const four = interleave(['p', 'r', 'e'], 4);
    for (const k of ['p', 'r', 'e']) assert.equal(four.filter((x) => x === k).length, 4);
  });
});

describe('formatTarget', () => {
  it('gives the ratio, the p99 ratio and whether the target is met', () => {
    assert.equal(formatTarget({ name: 'edits/plain', value: 0.9123, target: 0.9, p99: 1.04 }), 'edits/plain: 0.912x req/s, p99 1.04x (target ≥ 0.90x: met)');
    assert.equal(formatTarget({ name: 'access log on / off', value: 0.85, target: 0.9 }), 'access log on / off: 0.850x req/s (target ≥ 0.90x: MISSED)');
  });
  it('says when a side did not run', () => {
    assert.equal(formatTarget({ name: 'agent (access log on) / haproxy', value: undefined, target: 0.8 }), 'agent (access log on) / haproxy: not measured (target ≥ 0.80x)');
  });
});

describe('agent logging', () => {
  it('is the default with nothing set: info, access log on', () => {
    assert.equal(accessLogOn({}), true);
    assert.equal(describeAgentLogging({}), 'default settings (log level info, access log on)');
  });
  it('is off with --access-log off, or at a level above info', () => {
    assert.equal(accessLogOn({ accessLog: false }), false);
    assert.equal(describeAgentLogging({ accessLog: false }), 'log level info, access log off (--access-log off)');
    assert.equal(accessLogOn({ logLevel: 'warn' }), false);
    assert.equal(describeAgentLogging({ logLevel: 'warn' }), 'log level warn, access log off (below its level)');
    assert.equal(accessLogOn({ logLevel: 'debug' }), true);
    assert.equal(describeAgentLogging({ logLevel: 'debug' }), 'log level debug, access log on');
  });
});

describe('caseMean and compareMeans', () => {
  const runs: RunOf<'plain' | 'routed'>[] = [
    { key: 'plain', result: wrk(10_000, 4) },
    { key: 'routed', result: wrk(9_000, 5, 1) },
    { key: 'plain', result: wrk(12_000, 6) },
    { key: 'routed', result: wrk(10_800, 5, 2) },
  ];
  it('averages each case over its own runs', () => {
    assert.deepEqual(caseMean(runs, 'plain'), { runs: 2, rps: 11_000, p50Ms: 1.25, p99Ms: 5, errors: 0 });
    assert.deepEqual(caseMean(runs, 'routed'), { runs: 2, rps: 9_900, p50Ms: 1.25, p99Ms: 5, errors: 3 });
  });
  it('gives b/a of mean rps and p99', () => {
    assert.deepEqual(compareMeans(caseMean(runs, 'plain'), caseMean(runs, 'routed')), { rps: 0.9, p99: 1 });
  });
  it('has no comparison when a case never ran', () => {
    assert.equal(caseMean(runs.slice(0, 1), 'routed'), undefined);
    assert.equal(compareMeans(caseMean(runs, 'plain'), undefined), undefined);
  });
});

describe('routing bench config', () => {
  const docs = parseAllDocuments(routesMeshYaml(8080)).map((d) => d.toJS() as { kind: string; metadata: { name: string }; spec: Record<string, unknown> });
  const vs = docs.find((d) => d.kind === 'VirtualService');
  type Route = { name: string; match: Record<string, Record<string, unknown>>[]; route: { destination: { host: string } }[] };
  const http = (vs?.spec.http ?? []) as Route[];

  it('has three HTTP services on distinct VIPs and a VirtualService on routed and on edits', () => {
    assert.deepEqual(docs.map((d) => `${d.kind}/${d.metadata.name}`), [
      'ServiceEntry/bench-plain', 'ServiceEntry/bench-routed', 'VirtualService/bench-routed',
      'ServiceEntry/bench-edits', 'VirtualService/bench-edits',
    ]);
    assert.deepEqual(vs?.spec.hosts, [benchHost('bench-routed')]);
    const vips = docs.filter((d) => d.kind === 'ServiceEntry').map((d) => (d.spec.addresses as string[])[0]);
    assert.equal(new Set(vips).size, 3);
    assert.ok(vips.includes(EDITS_VIP));
  });
  it('gives edits one route with retries and one header edit each way, to the service itself', () => {
    const [edits] = parseAllDocuments(editsVirtualServiceYaml(benchHost('bench-edits'))).map((d) => d.toJS() as { spec: { http: unknown[] } });
    assert.deepEqual(edits?.spec.http, [{
      name: 'edits',
      retries: { attempts: 2, perTryTimeout: '2s', retryOn: '5xx,connect-failure' },
      headers: { request: { set: { 'x-bench-request': 'edits' } }, response: { add: { 'x-bench-response': 'edits' } } },
      route: [{ destination: { host: benchHost('bench-edits') } }],
    }]);
  });
  it('loads with the agent config loader, retries and header edits as written', () => {
    const r = buildConfig({ files: [{ path: 'mesh.yaml', name: 'mesh.yaml', content: routesMeshYaml(8080) }], issues: [], warnings: [] });
    if (!r.ok) assert.fail(`rejected: ${JSON.stringify(r.issues)}`);
    const vss = r.config.traffic?.virtualServices ?? [];
    assert.equal(vss.length, 2);
    const route = vss.find((v) => v.name === 'bench-edits')?.http[0];
    assert.equal(route?.retries?.attempts, 2);
    assert.equal(route?.retries?.perTryTimeoutMs, 2000);
    assert.deepEqual(route?.retries?.retryOn, ['5xx', 'connect-failure']);
    assert.deepEqual(route?.headers, { request: { set: { 'x-bench-request': 'edits' } }, response: { add: { 'x-bench-response': 'edits' } } });
  });
  it('has ten routes, all plain routes to the routed service', () => {
    assert.equal(http.length, 10);
    for (const r of http) assert.deepEqual(r.route, [{ destination: { host: benchHost('bench-routed') } }]);
    assert.equal(new Set(http.map((r) => r.name)).size, 10);
  });
  it('lets GET / without headers match only the last route', () => {
    const matches = (m: Record<string, Record<string, unknown>>): boolean => {
      const uri = m.uri?.prefix;
      if (typeof uri === 'string' && !'/'.startsWith(uri)) return false;
      if (m.method && m.method.exact !== 'GET') return false;
      if (m.headers) return false; // the request carries no x-tenant header
      return true;
    };
    assert.deepEqual(http.map((r) => r.match.some(matches)), [...Array<boolean>(9).fill(false), true]);
  });
  it('cycles through path, header and method matches', () => {
    assert.equal(routeMatch(0, 10), '{ uri: { prefix: /api/v0/ } }');
    assert.equal(routeMatch(1, 10), '{ headers: { x-tenant: { exact: t1 } } }');
    assert.equal(routeMatch(2, 10), '{ method: { exact: POST }, uri: { prefix: /v2/ } }');
    assert.equal(routeMatch(9, 10), '{ uri: { prefix: / } }');
  });
});

describe('HTTP/2 bench configs', () => {
  it('declares the service port HTTP2', () => {
    const [se] = parseAllDocuments(h2MeshYaml(9090)).map((d) => d.toJS() as { spec: { ports: unknown[]; addresses: string[] } });
    assert.deepEqual(se?.spec.ports, [{ number: 80, name: 'http2', protocol: 'HTTP2', targetPort: 9090 }]);
    assert.deepEqual(se?.spec.addresses, ['127.200.0.3']);
  });
  it('serves h2c on the backend and proxies with grpc_pass through a pool sized for every stream', () => {
    assert.match(h2BackendNginxConf('/tmp/x', 9090), /listen 127\.0\.0\.1:9090 http2 backlog=4096;/);
    const proxy = h2ProxyNginxConf('/tmp/x', 9091, 9090, 1600);
    assert.match(proxy, /listen 127\.0\.0\.1:9091 http2/);
    assert.match(proxy, /server 127\.0\.0\.1:9090;\s+keepalive 1600;/);
    assert.match(proxy, /grpc_pass grpc:\/\/h2backend;/);
  });
});
