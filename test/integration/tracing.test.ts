// Tracing through the engine, in-process: the trace fields backends see (new, kept, replaced), the
// spans an OTLP/HTTP receiver gets for both reporter sides, Telemetry's sampling, span and access-log
// switches, and a collector that is down or never answers costing a bounded buffer, not memory.
// The receiver is a stand-in (no OpenTelemetry Collector can be installed here) decoding the official
// OTLP protobuf schema (test/helpers/otlp-receiver.ts).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { Writable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import pino from 'pino';
import type { TelemetryPolicy } from '../../src/config/model';
import { AccessLog } from '../../src/telemetry/accesslog';
import { OtlpExporter } from '../../src/telemetry/exporter';
import { SPAN_KIND_CLIENT } from '../../src/telemetry/otlp';
import { setProcessTracing, Tracing } from '../../src/telemetry/tracing';
import { parseTraceparent } from '../../src/telemetry/tracecontext';
import { startReceiver, type Receiver } from '../helpers/otlp-receiver';
import { buildConfig } from '../../src/config/load';
import { InboundHandler } from '../../src/downstream/tunnel';
import { MeshAuthz } from '../../src/policy/authz';
import { Topology } from '../../src/state/topology';
import { Metrics } from '../../src/telemetry/metrics';
import { SPAN_KIND_SERVER } from '../../src/telemetry/otlp';
import { CLIENT_ID, LOCAL, SERVER_ID, pki, startTestServer, testPool } from './tunnel-harness';
import { h2backend, h2connect, h2request, H2Harness, meshOf } from './fixtures/h2-harness';
import { closedPort, endpoint, eventually, meshConfig, request, sample, startBackend, startProxy, type Backend, type Proxy } from './proxy-helpers';

const INFO = { scopeName: 'nodemesh', scopeVersion: '1', resource: [] };
const T = '4bf92f3577b34da6a3ce929d0e0e4736';
const S = '00f067aa0ba902b7';

after(() => setProcessTracing(new Tracing()));

interface Setup {
  readonly rx: Receiver;
  readonly tracing: Tracing;
  readonly backend: Backend;
  readonly proxy: Proxy;
  readonly lines: Record<string, unknown>[];
  close(): Promise<void>;
}

async function setup(opts: { policies?: TelemetryPolicy[] } = {}): Promise<Setup> {
  const rx = await startReceiver();
  const tracing = new Tracing({ sink: new OtlpExporter({ url: `${rx.url}/v1/traces`, intervalMs: 20, info: INFO }), nodeId: 'nodemesh~127.0.0.1~node-0' });
  tracing.setPolicies(opts.policies);
  setProcessTracing(tracing);
  const backend = await startBackend('b1');
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write: (c: Buffer, _e, cb) => (lines.push(JSON.parse(c.toString()) as Record<string, unknown>), cb()) });
  const proxy = await startProxy(meshConfig([endpoint(backend.addr)]), { accessLog: new AccessLog({ logger: pino({ level: 'info' }, sink).child({ module: 'access' }) }) });
  return {
    rx,
    tracing,
    backend,
    proxy,
    lines,
    close: async () => {
      await proxy.close();
      await backend.close();
      tracing.close();
      await rx.close();
    },
  };
}

type Seen = Record<string, string>;
const seen = (body: string): Seen => (JSON.parse(body) as { headers: Seen }).headers;

test('a request without trace fields: the backend gets traceparent and B3, the receiver a CLIENT span with Envoy\'s attributes', async (t) => {
  const s = await setup();
  t.after(() => s.close());
  const r = await request(s.proxy.addr, { path: '/items?x=1', headers: { host: 'backend.default.svc.cluster.local', 'user-agent': 'test-ua' } });
  assert.equal(r.status, 200);
  const h = seen(r.body);
  const tp = parseTraceparent(h['traceparent']);
  assert.ok(tp !== undefined, `traceparent ${h['traceparent']}`);
  assert.equal(tp.sampled, true);
  assert.equal(h['x-b3-traceid'], tp.traceId);
  assert.equal(h['x-b3-spanid'], tp.spanId);
  assert.equal(h['x-b3-sampled'], '1');
  await eventually(() => s.rx.spans.length === 1, 'one span', 200, 10);
  const span = s.rx.spans[0]!;
  assert.equal(span.traceId, tp.traceId);
  assert.equal(span.spanId, tp.spanId, 'the upstream request names the agent\'s span as parent');
  assert.equal(span.parentSpanId, '');
  assert.equal(span.kind, SPAN_KIND_CLIENT);
  assert.equal(span.name, 'backend.default.svc.cluster.local:80/*');
  assert.equal(span.service, 'nodemesh', 'an unknown client workload: the default service name');
  assert.ok(span.endNs >= span.startNs && span.startNs > 0n);
  const a = span.attributes;
  assert.equal(a['upstream_cluster'], 'outbound|80||backend.default.svc.cluster.local');
  assert.equal(a['http.method'], 'GET');
  assert.equal(a['http.url'], 'http://backend.default.svc.cluster.local/items?x=1');
  assert.equal(a['http.status_code'], '200');
  assert.equal(a['http.response.status_code'], 200);
  assert.equal(a['response_flags'], '-');
  assert.equal(a['guid:x-request-id'], h['x-request-id']);
  assert.equal(a['node_id'], 'nodemesh~127.0.0.1~node-0');
  assert.equal(a['component'], 'proxy');
  assert.equal(a['user_agent'], 'test-ua');
  assert.equal(a['upstream.address'], `${s.backend.addr.address}:${s.backend.addr.port}`);
  assert.match(String(a['peer.address']), /^127\.0\.0\.1:\d+$/);
  assert.equal(s.lines.at(-1)?.['trace_id'], tp.traceId, 'the access log line carries the trace id');
});

test('an incoming sampled context: its trace id is kept and the agent\'s span becomes the parent; unsampled passes unchanged', async (t) => {
  const s = await setup();
  t.after(() => s.close());
  const r = await request(s.proxy.addr, { headers: { traceparent: `00-${T}-${S}-01`, tracestate: 'vendor=1' } });
  const h = seen(r.body);
  const tp = parseTraceparent(h['traceparent'])!;
  assert.equal(tp.traceId, T);
  assert.notEqual(tp.spanId, S);
  assert.equal(h['tracestate'], 'vendor=1');
  assert.equal(h['x-b3-parentspanid'], S);
  await eventually(() => s.rx.spans.length === 1, 'one span', 200, 10);
  assert.equal(s.rx.spans[0]!.parentSpanId, S);
  assert.equal(s.rx.spans[0]!.spanId, tp.spanId);
  assert.equal(s.rx.spans[0]!.traceState, 'vendor=1');

  const off = await request(s.proxy.addr, { headers: { traceparent: `00-${T}-${S}-00` } });
  assert.equal(seen(off.body)['traceparent'], `00-${T}-${S}-00`, 'not sampled: passed as it came');
  assert.equal(seen(off.body)['x-b3-traceid'], undefined);
  const b3 = await request(s.proxy.addr, { headers: { b3: `${T}-${S}-1` } });
  const single = seen(b3.body)['b3']!;
  assert.match(single, new RegExp(`^${T}-[0-9a-f]{16}-1-${S}$`), 'the caller\'s single b3 form is kept');
  const bad = await request(s.proxy.addr, { headers: { traceparent: 'garbage', 'x-b3-traceid': 'zz' } });
  assert.equal(bad.status, 200, 'malformed fields are a new trace, never an error');
  assert.notEqual(parseTraceparent(seen(bad.body)['traceparent']), undefined);
  await eventually(() => s.rx.spans.length === 3, 'three spans (the unsampled request has none)', 200, 10);
  assert.equal(s.lines.length, 4);
  assert.equal(s.lines[1]?.['trace_id'], T, 'an unsampled request still logs its trace id');
});

test('HTTP/2: the upstream request carries the trace fields too', async (t) => {
  const rx = await startReceiver();
  const tracing = new Tracing({ sink: new OtlpExporter({ url: `${rx.url}/v1/traces`, intervalMs: 20, info: INFO }) });
  const backend = await h2backend((stream, headers) => {
    stream.respond({ ':status': 200, 'x-tp': String(headers['traceparent'] ?? '') });
    stream.end();
  });
  const mesh = new H2Harness(meshOf([{ name: 'h2svc', vip: '127.0.102.1', endpoints: [backend.addr] }]), { engine: { tracing } });
  const client = h2connect(await mesh.entry('127.0.102.1'));
  t.after(async () => {
    client.close();
    await mesh.close();
    await backend.close();
    tracing.close();
    await rx.close();
  });
  const r = await h2request(client, { ':path': '/x', traceparent: `00-${T}-${S}-01` });
  const tp = parseTraceparent(String(r.headers['x-tp']))!;
  assert.equal(tp.traceId, T);
  await eventually(() => rx.spans.length === 1, 'one span', 200, 10);
  assert.equal(rx.spans[0]!.spanId, tp.spanId);
  assert.equal(rx.spans[0]!.attributes['http.protocol'], 'HTTP/2');
});

const mesh = (over: Partial<TelemetryPolicy>): TelemetryPolicy => ({ name: 'mesh-default', namespace: 'istio-system', selector: undefined, tracing: [], accessLogging: [], ...over });

test('Telemetry: span reporting off keeps propagation; sampling 0 % marks new traces unsampled; access log off', async (t) => {
  const s = await setup({ policies: [mesh({ tracing: [{ mode: 'CLIENT', disableSpanReporting: true }], accessLogging: [{ mode: 'CLIENT_AND_SERVER', disabled: true }] })] });
  t.after(() => s.close());
  const r = await request(s.proxy.addr);
  assert.equal(parseTraceparent(seen(r.body)['traceparent'])?.sampled, true);
  s.tracing.setPolicies([mesh({ tracing: [{ mode: 'CLIENT_AND_SERVER', randomSamplingPercentage: 0 }] })]);
  const z = await request(s.proxy.addr);
  assert.equal(parseTraceparent(seen(z.body)['traceparent'])?.sampled, false);
  const kept = await request(s.proxy.addr, { headers: { traceparent: `00-${T}-${S}-01` } });
  assert.equal(parseTraceparent(seen(kept.body)['traceparent'])?.traceId, T, 'a caller\'s decision still wins');
  await eventually(() => s.rx.spans.length === 1, 'only the sampled caller\'s span', 200, 10);
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(s.rx.spans.length, 1);
  assert.equal(s.lines.length, 2, 'the first request (access log off) wrote no line');
});

test('the destination side behind the tunnel: a SERVER span, child of the source span, with the pod\'s workload', async (t) => {
  const rx = await startReceiver();
  const tracing = new Tracing({ sink: new OtlpExporter({ url: `${rx.url}/v1/traces`, intervalMs: 20, info: INFO }), nodeId: 'nodemesh~127.0.0.1~node-0' });
  setProcessTracing(tracing);
  const pod = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end(String(req.headers['traceparent'] ?? '')));
  });
  pod.listen(0, LOCAL);
  await new Promise((r) => pod.once('listening', r));
  const port = (pod.address() as { port: number }).port;
  const yaml = [
    'apiVersion: nodemesh.io/v1alpha1\nkind: Node\nmetadata: {name: node-0}\nspec: {addresses: [127.0.0.1]}\n',
    `apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: backend-0, namespace: shop, labels: {app: backend, kubernetes.io/hostname: node-0}}\nspec: {address: ${LOCAL}, serviceAccount: backend, labels: {app: backend, version: v2, kubernetes.io/hostname: node-0}}\n`,
    `apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: web, namespace: shop}\nspec:\n  hosts: [web.shop.svc.cluster.local]\n  addresses: [10.96.0.10]\n  ports: [{number: 80, name: http, protocol: HTTP, targetPort: ${port}}]\n  resolution: STATIC\n  workloadSelector: {labels: {app: backend}}\n`,
  ].join('---\n');
  const built = buildConfig({ files: [{ path: 'mesh.yaml', name: 'mesh.yaml', content: yaml }], issues: [], warnings: [] });
  if (!built.ok) throw new Error(JSON.stringify(built.issues));
  const topo = new Topology(built.config, 'node-0', 'cluster.local');
  const authz = new MeshAuthz(built.config.authorizationPolicies);
  const inbound = new InboundHandler({ topology: () => topo, authz: () => authz, metrics: new Metrics({ cluster: 'Kubernetes' }), deliveryAddress: undefined, connectTimeoutMs: 2_000 });
  const p = await pki([CLIENT_ID, SERVER_ID]);
  const tunnel = await startTestServer(p, { onStream: (ctx) => inbound.onStream(ctx) });
  const pool = testPool(p);
  t.after(async () => {
    await pool.close();
    await tunnel.server.close(100);
    inbound.close();
    pod.close();
    tracing.close();
    await rx.close();
  });
  const stream = await pool.open({ sourceIdentity: CLIENT_ID, destinationIdentities: [SERVER_ID], node: tunnel.addr, target: { address: LOCAL, port }, forwardedFor: { address: '10.1.2.3', port: 40000 } });
  let out = '';
  stream.setEncoding('latin1');
  stream.on('data', (d: string) => (out += d));
  stream.write(`GET /hello HTTP/1.1\r\nhost: web.shop.svc.cluster.local\r\ntraceparent: 00-${T}-${S}-01\r\nconnection: close\r\n\r\n`);
  await new Promise((r) => stream.once('end', r));
  stream.end();
  const seenByPod = parseTraceparent(out.slice(out.indexOf('\r\n\r\n') + 4).trim());
  assert.equal(seenByPod?.traceId, T, out);
  assert.notEqual(seenByPod?.spanId, S);
  await eventually(() => rx.spans.length === 1, 'one span', 200, 10);
  const span = rx.spans[0]!;
  assert.equal(span.kind, SPAN_KIND_SERVER);
  assert.equal(span.traceId, T);
  assert.equal(span.parentSpanId, S, 'the source agent\'s span is the parent');
  assert.equal(span.spanId, seenByPod?.spanId, 'the pod sees the destination span as its parent');
  assert.equal(span.service, 'backend.shop');
  assert.equal(span.attributes['istio.canonical_service'], 'backend');
  assert.equal(span.attributes['istio.canonical_revision'], 'v2');
  assert.equal(span.attributes['istio.namespace'], 'shop');
  assert.equal(span.attributes['istio.source_principal'], 'cluster.local/ns/shop/sa/frontend');
  assert.equal(span.attributes['upstream_cluster'], `inbound|${port}||`);
  assert.equal(span.attributes['http.status_code'], '200');
});

function gc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** N requests, C at a time, over keep-alive connections. */
async function load(addr: { address: string; port: number }, n: number, c: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: c });
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      next++;
      const r = await request(addr, { agent });
      assert.equal(r.status, 200);
    }
  };
  await Promise.all(Array.from({ length: c }, worker));
  agent.destroy();
}

for (const mode of ['refused', 'blackhole'] as const) {
  test(`a collector that is ${mode === 'refused' ? 'down (connection refused)' : 'a black hole (never answers)'}: requests unaffected, bounded buffer, dropped spans counted, memory flat`, async (t) => {
    const rx = mode === 'blackhole' ? await startReceiver({ blackhole: true }) : undefined;
    const url = rx !== undefined ? `${rx.url}/v1/traces` : `http://127.0.0.1:${(await closedPort()).port}/v1/traces`;
    const backend = await startBackend('b1');
    const proxy = await startProxy(meshConfig([endpoint(backend.addr)]));
    const exporter = new OtlpExporter({ url, intervalMs: 50, timeoutMs: 200, registry: proxy.metrics.registry, info: INFO });
    const tracing = new Tracing({ sink: exporter });
    setProcessTracing(tracing);
    t.after(async () => {
      await proxy.close();
      await backend.close();
      tracing.close();
      await rx?.close();
    });
    // Warm-up: connections, pools and the buffer fill before the measured run.
    await load(proxy.addr, 1500, 20);
    gc();
    const before = process.memoryUsage();
    await load(proxy.addr, 5000, 20);
    gc();
    const afterLoad = process.memoryUsage();
    assert.ok(exporter.queued <= 2048, `queued ${exporter.queued}`);
    await eventually(() => exporter.stats.failures >= 1, 'an export failed', 300, 20);
    const dropped = await sample(proxy.metrics, 'nodemesh_trace_spans_dropped_total');
    assert.ok(dropped >= 6500 - 2048 - 512, `dropped ${dropped}`);
    assert.equal(await sample(proxy.metrics, 'nodemesh_trace_spans_exported_total'), 0);
    const heapMiB = (afterLoad.heapUsed - before.heapUsed) / 2 ** 20;
    const rssMiB = (afterLoad.rss - before.rss) / 2 ** 20;
    process.stdout.write(`collector ${mode}: dropped ${dropped}, queued ${exporter.queued}, heap ${heapMiB.toFixed(1)} MiB, rss ${rssMiB.toFixed(1)} MiB over 5000 requests\n`);
    // 5000 unexported spans would be several MiB of heap if they were kept; the buffer holds at most 2048.
    assert.ok(heapMiB < 16, `heap grew ${heapMiB.toFixed(1)} MiB`);
    assert.ok(rssMiB < 96, `rss grew ${rssMiB.toFixed(1)} MiB`);
  });
}
