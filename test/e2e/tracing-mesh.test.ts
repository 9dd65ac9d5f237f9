// Tracing across nodes on the namespace cluster, as an Istio user sees it in a tracing backend: a client
// pod on node-0 calls a service whose endpoint is a pod on node-1, through both agents and the mTLS
// tunnel. Each node runs a stand-in collector (node-collector.ts) that its agent exports to. The source
// agent's CLIENT span and the destination agent's SERVER span are one trace, the SERVER span a child of
// the CLIENT span, and the pod receives trace fields that continue it; a caller's own context (W3C or
// B3) is continued; an unsampled caller gets no spans; gRPC calls, a denial and a 5xx are reported as
// Envoy reports them; a Telemetry that turns the server's spans off leaves the CLIENT span alone.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Cluster, Pod } from '../helpers/cluster';
import { rootSkipReason } from '../helpers/sysenv';
import { parseTraceparent } from '../../src/telemetry/tracecontext';
import { NODE } from './harness';
import { MeshNet } from './meshnet';
import { COLLECTOR_URL, NodeCollector, type CollectedSpan } from './node-collector';
import { config, GRPC, GRPC_HOST, HOST, MARK, QUIET_SERVER, traceServer, WEB } from './tracing-mesh-setup';

const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;
const STATUS_UNSET = 0;
const STATUS_ERROR = 2;
/** Clock slack between the two agents' span times (one machine; times are rounded to the ms). */
const SLACK_NS = 5_000_000n;

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');

const skip = rootSkipReason();
describe('tracing across nodes', { skip: skip && process.env.CI !== 'true' ? skip : false, timeout: 120_000 }, () => {
  let m: MeshNet;
  let c: Cluster;
  let collectors: NodeCollector[] = [];
  /** The SERVER span of the denied request (the denial test). */
  let denied: CollectedSpan | undefined;
  /** Paths the server pod received, in order. */
  const reached: string[] = [];
  const saved = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;

  before(async () => {
    if (skip) throw new Error(`root test cannot run on CI: ${skip}`);
    // The agents inherit this process's environment: each exports to the collector of its own node.
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = COLLECTOR_URL;
    m = await MeshNet.start({ nodes: 2, podsPerNode: 2, config });
    c = m.c;
    collectors = await Promise.all(c.nodes.map((n) => NodeCollector.start(c, n)));
    await Promise.all(c.nodes[1]!.pods.map((pod, j) => traceServer(c, pod, j === 0 ? reached : [])));
    const grpcServer = c.spawn(c.nodes[1]!.pods[0]!, NODE, [path.join(__dirname, 'clients/grpc-server.js'), '7070', 'pod-b']);
    await new Promise<void>((r) => grpcServer.stdout?.once('data', () => r()));
  });
  after(async () => {
    if (saved === undefined) delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
    else process.env.OTEL_EXPORTER_OTLP_ENDPOINT = saved;
    await m?.close();
  });

  const n0 = (): Cluster['nodes'][0] => c.nodes[0]!;
  const n1 = (): Cluster['nodes'][0] => c.nodes[1]!;
  const client = (): Pod => n0().pods[0]!;
  const other = (): Pod => n0().pods[1]!;
  const serverPod = (): Pod => n1().pods[0]!;

  /** A request from POD to the web service: status, body, and the trace fields the server pod saw. */
  const call = async (pod: Pod, urlPath: string, headers: readonly string[] = [], vip = WEB): Promise<{ code: string; body: string; seen: Record<string, string> }> => {
    const r = await c.exec(pod, 'curl', ['-s', '--max-time', '5', '-w', '\n%{http_code}', ...headers.flatMap((h) => ['-H', h]), `http://${vip}${urlPath}`], { timeoutMs: 8000 });
    const i = r.stdout.lastIndexOf('\n');
    const body = r.stdout.slice(0, i);
    const code = r.stdout.slice(i + 1);
    let seen: Record<string, string> = {};
    try {
      seen = JSON.parse(body) as Record<string, string>;
    } catch {
      // not the server's answer (a denial): no fields seen
    }
    return { code, body, seen };
  };

  const spansOf = (traceId: string): CollectedSpan[] => collectors.flatMap((col) => col.spans.filter((s) => s.traceId === traceId));

  const debug = (): string => [...m.logs.slice(-30), ...collectors.flatMap((col) => col.errors)].join('\n');

  /** The CLIENT and SERVER spans of a trace, once both collectors have them (exports leave every second). */
  const pair = async (traceId: string): Promise<{ cs: CollectedSpan; ss: CollectedSpan }> => {
    await m.until(() => spansOf(traceId).length >= 2, `two spans of trace ${traceId}`, 15_000);
    const spans = spansOf(traceId);
    assert.equal(spans.length, 2, `one span per side: ${JSON.stringify(spans, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}\n${debug()}`);
    const cs = spans.find((s) => s.kind === SPAN_KIND_CLIENT);
    const ss = spans.find((s) => s.kind === SPAN_KIND_SERVER);
    assert.ok(cs !== undefined && ss !== undefined, 'a CLIENT and a SERVER span');
    return { cs, ss };
  };

  /** The parent/child links every cross-node trace has, and what the pod received. */
  const linked = (cs: CollectedSpan, ss: CollectedSpan, seen: Record<string, string>, traceId: string): void => {
    assert.equal(cs.collector, 'node-0', 'the CLIENT span comes from the source agent');
    assert.equal(ss.collector, 'node-1', 'the SERVER span comes from the destination agent');
    assert.equal(cs.attributes['node_id'], `nodemesh~${n0().ip}~node-0`);
    assert.equal(ss.attributes['node_id'], `nodemesh~${n1().ip}~node-1`);
    assert.equal(cs.traceId, traceId);
    assert.equal(ss.traceId, traceId);
    assert.equal(ss.parentSpanId, cs.spanId, 'the SERVER span is a child of the CLIENT span');
    assert.notEqual(ss.spanId, cs.spanId);
    // The pod continues the trace from the destination's span: its spans would be children of it.
    const tp = parseTraceparent(seen['traceparent']);
    assert.equal(tp?.traceId, traceId, `pod traceparent ${seen['traceparent']}`);
    assert.equal(tp?.spanId, ss.spanId, 'the pod’s parent is the SERVER span');
    assert.equal(tp?.sampled, true);
    // The server span lies within the client span (the same clock; ms rounding).
    assert.ok(ss.startNs + SLACK_NS >= cs.startNs && ss.endNs <= cs.endNs + SLACK_NS, `server ${ss.startNs}..${ss.endNs} within client ${cs.startNs}..${cs.endNs}`);
  };

  test('a request without trace context: one trace across both agents, SERVER child of CLIENT, the pod continues it', async () => {
    const r = await call(client(), '/fresh');
    assert.equal(r.code, '200', r.body);
    const traceId = parseTraceparent(r.seen['traceparent'])?.traceId;
    assert.ok(traceId !== undefined, `the pod got a traceparent: ${r.body}`);
    const { cs, ss } = await pair(traceId);
    linked(cs, ss, r.seen, traceId);
    assert.equal(cs.parentSpanId, '', 'a new trace: the CLIENT span is the root');
    // B3 for the pod: the destination's span, the source's as its parent.
    assert.equal(r.seen['x-b3-traceid'], traceId);
    assert.equal(r.seen['x-b3-spanid'], ss.spanId);
    assert.equal(r.seen['x-b3-parentspanid'], cs.spanId);
    assert.equal(r.seen['x-b3-sampled'], '1');
    assert.equal(r.seen['b3'], undefined);

    // Attributes, as docs/telemetry.md lists them, per side.
    const requestId = r.seen['x-request-id'];
    assert.ok(requestId !== undefined && requestId !== '', 'the source agent made a request id');
    const common = {
      component: 'proxy',
      'http.method': 'GET',
      'http.request.method': 'GET',
      'http.url': `http://${WEB}/fresh`,
      'http.protocol': 'HTTP/1.1',
      'http.status_code': '200',
      'http.response.status_code': 200,
      response_flags: '-',
      request_size: '0',
      response_size: String(Buffer.byteLength(r.body)),
      downstream_cluster: '-',
      'upstream.address': `${serverPod().ip}:8080`,
      'guid:x-request-id': requestId,
      'istio.canonical_revision': 'latest',
    };
    for (const s of [cs, ss]) {
      assert.equal(s.name, `${HOST}:80/*`, 'named as Envoy names spans without a decorator');
      for (const [k, v] of Object.entries(common)) assert.equal(s.attributes[k], v, `${s.collector} ${k}`);
      assert.match(String(s.attributes['peer.address']), new RegExp(`^${client().ip.replace(/\./g, '\\.')}:\\d+$`), `${s.collector} peer.address is the client pod`);
      assert.match(String(s.attributes['user_agent']), /^curl\//);
      assert.equal(s.attributes['error'], undefined);
      assert.equal(s.statusCode, STATUS_UNSET);
      assert.equal(s.scope, 'nodemesh');
      assert.equal(s.resource['host.name'], s.collector);
      assert.equal(s.resource['k8s.node.name'], s.collector);
    }
    assert.equal(cs.attributes['upstream_cluster'], `outbound|80||${HOST}`);
    assert.equal(cs.attributes['upstream_cluster.name'], `outbound|80||${HOST}`);
    assert.equal(ss.attributes['upstream_cluster'], 'inbound|8080||');
    assert.equal(ss.attributes['upstream_cluster.name'], 'inbound|8080||');
    // Each side speaks for its own workload; only the destination knows the verified peer.
    assert.deepEqual([cs.attributes['istio.canonical_service'], cs.attributes['istio.namespace'], cs.service], ['client', 'a', 'client.a']);
    assert.deepEqual([ss.attributes['istio.canonical_service'], ss.attributes['istio.namespace'], ss.service], ['server', 'b', 'server.b']);
    assert.equal(cs.attributes['istio.source_principal'], undefined);
    assert.equal(ss.attributes['istio.source_principal'], 'cluster.local/ns/a/sa/client');
    for (const col of collectors) {
      assert.ok(col.posts.length > 0 && col.posts.every((p) => p.method === 'POST' && p.path === '/v1/traces' && p.contentType === 'application/x-protobuf'), `${col.node.name}: ${JSON.stringify(col.posts)}`);
    }
  });

  test('a caller’s traceparent is continued, not replaced, and its tracestate passes to the pod', async () => {
    const traceId = hex(16);
    const callerSpan = hex(8);
    const r = await call(client(), '/w3c', [`traceparent: 00-${traceId}-${callerSpan}-01`, 'tracestate: vendor=opaque,other=1']);
    assert.equal(r.code, '200', r.body);
    const { cs, ss } = await pair(traceId);
    linked(cs, ss, r.seen, traceId);
    assert.equal(cs.parentSpanId, callerSpan, 'the CLIENT span is a child of the caller’s span');
    assert.equal(r.seen['tracestate'], 'vendor=opaque,other=1');
    assert.equal(cs.traceState, 'vendor=opaque,other=1');
    assert.equal(ss.traceState, 'vendor=opaque,other=1');
    assert.equal(r.seen['x-b3-traceid'], traceId);
    assert.equal(r.seen['x-b3-spanid'], ss.spanId);
    assert.equal(r.seen['x-b3-parentspanid'], cs.spanId);
  });

  test('a B3 caller (single b3 field, 64-bit trace id) is continued in its form on both hops', async () => {
    const short = hex(8);
    const callerSpan = hex(8);
    const traceId = short.padStart(32, '0');
    const r = await call(client(), '/b3', [`b3: ${short}-${callerSpan}-1`]);
    assert.equal(r.code, '200', r.body);
    const { cs, ss } = await pair(traceId);
    linked(cs, ss, r.seen, traceId);
    assert.equal(cs.parentSpanId, callerSpan);
    assert.equal(r.seen['b3'], `${traceId}-${ss.spanId}-1-${cs.spanId}`, `pod fields ${JSON.stringify(r.seen)}`);
    assert.equal(r.seen['x-b3-traceid'], undefined, 'no x-b3-* for a caller that used the single field');
  });

  test('x-b3-* from the caller: continued, the pod gets x-b3-* naming both agents’ spans', async () => {
    const traceId = hex(16);
    const callerSpan = hex(8);
    const r = await call(client(), '/b3-multi', [`x-b3-traceid: ${traceId}`, `x-b3-spanid: ${callerSpan}`, 'x-b3-sampled: 1']);
    assert.equal(r.code, '200', r.body);
    const { cs, ss } = await pair(traceId);
    linked(cs, ss, r.seen, traceId);
    assert.equal(cs.parentSpanId, callerSpan);
    assert.deepEqual([r.seen['x-b3-traceid'], r.seen['x-b3-spanid'], r.seen['x-b3-parentspanid'], r.seen['x-b3-sampled']], [traceId, ss.spanId, cs.spanId, '1']);
  });

  test('a caller that decided not to sample: no span on either node, its fields reach the pod as sent', async () => {
    const traceId = hex(16);
    const callerSpan = hex(8);
    const tp = `00-${traceId}-${callerSpan}-00`;
    const r = await call(client(), '/unsampled', [`traceparent: ${tp}`]);
    assert.equal(r.code, '200', r.body);
    assert.equal(r.seen['traceparent'], tp);
    // A sampled request after it: once its spans are in from both agents, a span of the unsampled
    // request, finished earlier, has had as long to arrive.
    const marker = parseTraceparent((await call(client(), '/marker')).seen['traceparent'])?.traceId;
    assert.ok(marker !== undefined);
    await pair(marker);
    assert.deepEqual(spansOf(traceId), []);
  });

  test('a request the destination’s AuthorizationPolicy denies: both spans in one trace, 403 and DENY, not an error (as Envoy)', async () => {
    const traceId = hex(16);
    const callerSpan = hex(8);
    const r = await call(other(), '/denied', [`traceparent: 00-${traceId}-${callerSpan}-01`]);
    assert.equal(r.code, '403');
    assert.equal(r.body, 'RBAC: access denied');
    const { cs, ss } = await pair(traceId);
    assert.equal(cs.collector, 'node-0');
    assert.equal(ss.collector, 'node-1');
    assert.equal(cs.parentSpanId, callerSpan);
    assert.equal(ss.parentSpanId, cs.spanId, 'the denial is a child of the caller’s CLIENT span');
    for (const s of [cs, ss]) {
      assert.equal(s.attributes['http.status_code'], '403');
      assert.equal(s.attributes['http.response.status_code'], 403);
      // Envoy marks a span as an error for 5xx or no response only: a 403 is the server's answer.
      assert.equal(s.attributes['error'], undefined);
      assert.equal(s.statusCode, STATUS_UNSET);
    }
    assert.equal(ss.attributes['response_flags'], 'DENY');
    assert.equal(ss.attributes['upstream_cluster'], 'inbound|8080||');
    assert.equal(ss.attributes['upstream.address'], undefined, 'no upstream was tried');
    assert.equal(ss.attributes['istio.source_principal'], 'cluster.local/ns/a/sa/other');
    assert.equal(ss.attributes['istio.namespace'], 'b');
    assert.deepEqual([cs.attributes['istio.canonical_service'], cs.service], ['other', 'other.a']);
    denied = ss;
    // The pod never saw it: a later allowed request reaches it, the denied one did not.
    const ok = await call(client(), '/after-denial');
    assert.equal(ok.code, '200');
    await m.until(() => reached.includes('/after-denial'), 'the allowed request reached the pod');
    assert.ok(!reached.includes('/denied'), `the pod saw ${reached.join(' ')}`);
  });

  test('the SERVER span of a denied request speaks for the destination pod, as Envoy’s inbound span does', () => {
    assert.ok(denied !== undefined, 'the denial test ran');
    assert.deepEqual([denied.attributes['istio.canonical_service'], denied.attributes['istio.canonical_revision'], denied.service], ['server', 'latest', 'server.b']);
  });

  test('gRPC over HTTP/2 crosses nodes in one trace per call, with grpc.status_code on both sides', async () => {
    const r = await c.exec(client(), NODE, [path.join(__dirname, 'clients/grpc.js'), `${GRPC}:7070`], { timeoutMs: 20_000 });
    const seen = JSON.parse(r.stdout) as { failed?: { code: number }; chat?: { code: number } };
    assert.equal(seen.failed?.code, 5, r.stdout);
    assert.equal(seen.chat?.code, 0, r.stdout);
    const denied = JSON.parse((await c.exec(other(), NODE, [path.join(__dirname, 'clients/grpc.js'), `${GRPC}:7070`, 'probe'], { timeoutMs: 20_000 })).stdout) as { code: number };
    assert.equal(denied.code, 7, 'PERMISSION_DENIED');
    const grpcSpans = (): CollectedSpan[] => collectors.flatMap((col) => col.spans.filter((s) => s.name === `${GRPC_HOST}:7070/*`));
    // Unary OK, unary NOT_FOUND, the stream, and the denied probe: a CLIENT and a SERVER span each.
    await m.until(() => grpcSpans().length >= 8, 'eight gRPC spans', 15_000);
    const all = grpcSpans();
    assert.equal(all.length, 8);
    const calls = all.filter((s) => s.kind === SPAN_KIND_SERVER).map((ss) => {
      const cs = all.find((s) => s.kind === SPAN_KIND_CLIENT && s.spanId === ss.parentSpanId);
      assert.ok(cs !== undefined, `the CLIENT parent of SERVER span ${ss.spanId}`);
      assert.equal(cs.traceId, ss.traceId);
      assert.equal([cs.collector, ss.collector].join(), 'node-0,node-1');
      for (const s of [cs, ss]) {
        assert.equal(s.attributes['http.protocol'], 'HTTP/2');
        assert.equal(s.attributes['http.method'], 'POST');
        assert.equal(s.attributes['http.status_code'], '200');
        assert.equal(s.attributes['grpc.status_code'], ss.attributes['grpc.status_code'], 'both sides saw the same status');
        // Envoy tags no client-side gRPC status (NOT_FOUND, PERMISSION_DENIED) as an error.
        assert.equal(s.statusCode, STATUS_UNSET);
      }
      assert.equal(cs.attributes['upstream_cluster'], `outbound|7070||${GRPC_HOST}`);
      assert.equal(ss.attributes['upstream_cluster'], 'inbound|7070||');
      return `${String(ss.attributes['http.url']).replace(`http://${GRPC}:7070`, '')} ${ss.attributes['grpc.status_code']} ${ss.attributes['istio.source_principal']}`;
    });
    assert.equal(new Set(all.map((s) => s.traceId)).size, 4, 'one trace per call');
    assert.deepEqual(calls.sort(), [
      '/nmtest.Echo/Chat 0 cluster.local/ns/a/sa/client',
      '/nmtest.Echo/Unary 0 cluster.local/ns/a/sa/client',
      '/nmtest.Echo/Unary 5 cluster.local/ns/a/sa/client',
      '/nmtest.Echo/Unary 7 cluster.local/ns/a/sa/other',
    ]);
  });

  test('a 5xx from the pod: both spans have status ERROR and error=true', async () => {
    const r = await call(client(), '/status/503');
    assert.equal(r.code, '503', r.body);
    const traceId = parseTraceparent(r.seen['traceparent'])?.traceId;
    assert.ok(traceId !== undefined);
    const { cs, ss } = await pair(traceId);
    linked(cs, ss, r.seen, traceId);
    for (const s of [cs, ss]) {
      assert.equal(s.attributes['http.status_code'], '503');
      assert.equal(s.attributes['error'], 'true');
      assert.equal(s.statusCode, STATUS_ERROR);
      assert.equal(s.attributes['response_flags'], '-');
    }
  });
  test('Telemetry disableSpanReporting (SERVER) for the server workload: only the CLIENT span, which the pod continues', async () => {
    m.writeConfig(config(c, QUIET_SERVER));
    // A reporting destination names the source span as the pod's parent (x-b3-parentspanid); a quiet
    // one passes the source's fields as received.
    let seen: Record<string, string> = {};
    await m.until(async () => {
      const r = await call(client(), '/quiet');
      seen = r.seen;
      return r.code === '200' && seen['x-b3-parentspanid'] === undefined;
    }, 'node-1 applies the Telemetry', 15_000);
    const tp = parseTraceparent(seen['traceparent']);
    assert.ok(tp !== undefined, JSON.stringify(seen));
    await m.until(() => spansOf(tp.traceId).length >= 1, 'the CLIENT span', 15_000);
    const [cs] = spansOf(tp.traceId);
    assert.equal(cs?.kind, SPAN_KIND_CLIENT);
    assert.equal(cs?.collector, 'node-0');
    assert.equal(tp.spanId, cs?.spanId, 'the pod’s parent is the CLIENT span: no unreported span in between');
    assert.equal(seen['x-b3-spanid'], cs?.spanId);
    // Another workload of node-1 still reports: once its SERVER span is in, the quiet one would be too.
    const marker = await call(client(), '/marker', [], MARK);
    assert.equal(marker.code, '200', marker.body);
    const markTrace = parseTraceparent(marker.seen['traceparent'])?.traceId;
    assert.ok(markTrace !== undefined);
    const { ss } = await pair(markTrace);
    assert.equal(ss.service, 'marker.b');
    assert.deepEqual(spansOf(tp.traceId).map((s) => s.kind), [SPAN_KIND_CLIENT]);
  });
});
