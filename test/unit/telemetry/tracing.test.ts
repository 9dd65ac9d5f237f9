import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Service, TelemetryPolicy } from '../../../src/config/model';
import { UNKNOWN_SOURCE, type SourceInfo } from '../../../src/telemetry/labels';
import { SPAN_KIND_CLIENT, SPAN_KIND_SERVER, type SpanRecord } from '../../../src/telemetry/otlp';
import type { Side } from '../../../src/telemetry/policy';
import { spanOf, type SpanResult } from '../../../src/telemetry/spans';
import { Tracing, tracingFromEnv } from '../../../src/telemetry/tracing';
import { Registry } from 'prom-client';

const T = '4bf92f3577b34da6a3ce929d0e0e4736';
const S = '00f067aa0ba902b7';
const sink = (): { spans: SpanRecord[]; add(s: SpanRecord): void } => ({ spans: [], add(s) { this.spans.push(s); } });
const fields = (h: Record<string, string>) => (n: string): string | undefined => h[n];
const mesh = (over: Partial<TelemetryPolicy>): TelemetryPolicy => ({ name: 'm', namespace: 'istio-system', selector: undefined, tracing: [], accessLogging: [], ...over });

const ROWS: readonly {
  name: string;
  exporter: boolean;
  headers: Record<string, string>;
  policies?: TelemetryPolicy[];
  side?: Side;
  want: { sampled: boolean; recorded: boolean; edits: 'add' | 'replace' | 'none'; logOff?: boolean };
}[] = [
  { name: 'no exporter, new trace: unsampled fields added', exporter: false, headers: {}, want: { sampled: false, recorded: false, edits: 'add' } },
  { name: 'no exporter, sampled caller: passes as it came', exporter: false, headers: { traceparent: `00-${T}-${S}-01` }, want: { sampled: true, recorded: false, edits: 'none' } },
  { name: 'exporter, new trace: sampled and recorded', exporter: true, headers: {}, want: { sampled: true, recorded: true, edits: 'add' } },
  { name: 'exporter, sampled caller: recorded, fields replaced', exporter: true, headers: { traceparent: `00-${T}-${S}-01` }, want: { sampled: true, recorded: true, edits: 'replace' } },
  { name: 'exporter, unsampled caller: passes', exporter: true, headers: { traceparent: `00-${T}-${S}-00` }, want: { sampled: false, recorded: false, edits: 'none' } },
  { name: 'Telemetry 0 %: new trace unsampled', exporter: true, headers: {}, policies: [mesh({ tracing: [{ mode: 'CLIENT_AND_SERVER', randomSamplingPercentage: 0 }] })], want: { sampled: false, recorded: false, edits: 'add' } },
  { name: 'Telemetry 0 %: a sampled caller still wins', exporter: true, headers: { traceparent: `00-${T}-${S}-01` }, policies: [mesh({ tracing: [{ mode: 'CLIENT_AND_SERVER', randomSamplingPercentage: 0 }] })], want: { sampled: true, recorded: true, edits: 'replace' } },
  { name: 'span reporting off: sampled, not recorded', exporter: true, headers: {}, policies: [mesh({ tracing: [{ mode: 'CLIENT', disableSpanReporting: true }] })], want: { sampled: true, recorded: false, edits: 'add' } },
  { name: 'span reporting off for the client side only: the server records', exporter: true, headers: {}, side: 'SERVER', policies: [mesh({ tracing: [{ mode: 'CLIENT', disableSpanReporting: true }] })], want: { sampled: true, recorded: true, edits: 'add' } },
  { name: 'access log off', exporter: true, headers: {}, policies: [mesh({ accessLogging: [{ mode: 'CLIENT_AND_SERVER', disabled: true }] })], want: { sampled: true, recorded: true, edits: 'add', logOff: true } },
  { name: 'bare b3: 0 (deny): a new trace, unsampled, the field replaced', exporter: true, headers: { b3: '0' }, want: { sampled: false, recorded: false, edits: 'replace' } },
  { name: 'bare x-b3-sampled: 0: a new trace, unsampled, the field replaced', exporter: true, headers: { 'x-b3-sampled': '0' }, want: { sampled: false, recorded: false, edits: 'replace' } },
  { name: 'bare b3: d (debug) beats a 0 % Telemetry', exporter: true, headers: { b3: 'd' }, policies: [mesh({ tracing: [{ mode: 'CLIENT_AND_SERVER', randomSamplingPercentage: 0 }] })], want: { sampled: true, recorded: true, edits: 'replace' } },
  { name: 'bare b3 that is not a state: malformed, the sampler decides', exporter: true, headers: { b3: 'x' }, want: { sampled: true, recorded: true, edits: 'replace' } },
];

for (const row of ROWS) {
  test(`Tracing.begin: ${row.name}`, () => {
    const tr = new Tracing(row.exporter ? { sink: sink() } : {});
    tr.setPolicies(row.policies);
    const r = tr.begin(fields(row.headers), row.side ?? 'CLIENT', undefined);
    assert.equal(r.context.sampled, row.want.sampled);
    assert.equal(r.recorded, row.want.recorded);
    assert.equal(r.accessLogOff, row.want.logOff ?? false);
    const kind = r.edits === undefined ? 'none' : r.edits.remove.length > 0 ? 'replace' : 'add';
    assert.equal(kind, row.want.edits);
  });
}

test('Tracing: per-workload decisions are cached and forgotten on a new config', () => {
  const tr = new Tracing({ sink: sink() });
  const wl = { namespace: 'shop', labels: { app: 'cart' } };
  tr.setPolicies([mesh({ namespace: 'shop', selector: { app: 'cart' }, tracing: [{ mode: 'CLIENT_AND_SERVER', randomSamplingPercentage: 0 }] })]);
  assert.equal(tr.begin(fields({}), 'CLIENT', wl).context.sampled, false);
  tr.setPolicies([]);
  assert.equal(tr.begin(fields({}), 'CLIENT', wl).context.sampled, true);
});

test('tracingFromEnv: no endpoint, no exporter; the counters are registered either way', async () => {
  const registry = new Registry();
  const tr = tracingFromEnv({ OTEL_TRACES_SAMPLER: 'always_off' }, registry, 'n');
  assert.equal(tr.sink, undefined);
  assert.equal(tr.sampler.kind, 'always_off');
  const text = await registry.metrics();
  assert.match(text, /nodemesh_trace_spans_dropped_total/);
  assert.match(text, /nodemesh_trace_spans_exported_total/);
  // Both drop reasons have a series at 0 before any drop, so rates and alerts on them are defined.
  assert.match(text, /^nodemesh_trace_spans_dropped_total\{reason="queue_full"\} 0$/m);
  assert.match(text, /^nodemesh_trace_spans_dropped_total\{reason="export_failed"\} 0$/m);
});

const service: Service = { key: 'shop/web', id: 1, name: 'web', namespace: 'shop', hosts: ['web.shop.svc.cluster.local'], addresses: [], ports: [], dataplane: 'proxy', endpoints: [], labels: {} };
const source: SourceInfo = { ...UNKNOWN_SOURCE, workload: 'front', namespace: 'shop', canonicalService: 'front', canonicalRevision: 'v1', principal: 'cluster.local/ns/shop/sa/front' };
const conn = { source, port: { number: 80 }, peerText: '10.0.0.5:4000', vipText: '10.96.0.1:80' };
const req = { method: 'POST', path: '/buy', protocol: 'HTTP/1.1', authority: 'web', grpc: false, header: () => undefined };
const result = (over: Partial<SpanResult> = {}): SpanResult => ({ code: 200, flags: '-', grpcStatus: '', durationMs: 12, requestBytes: 3, responseBytes: 9, service, target: undefined, cluster: 'outbound|80||web.shop.svc.cluster.local', requestId: 'rid', ...over });

test('spanOf: kind, name, timing, service name and status by side and outcome', () => {
  const tr = new Tracing({ sink: sink(), nodeId: 'node' });
  const client = tr.begin(fields({ traceparent: `00-${T}-${S}-01` }), 'CLIENT', undefined);
  const s = spanOf(client, conn, req, result(), 1000);
  assert.equal(s.kind, SPAN_KIND_CLIENT);
  assert.equal(s.name, 'web.shop.svc.cluster.local:80/*');
  assert.equal(s.parentId, S);
  assert.equal(s.startMs, 988);
  assert.equal(s.service, 'front.shop');
  assert.equal(s.error, false);
  const attrs = Object.fromEntries(s.attributes);
  assert.equal(attrs['http.url'], 'http://web/buy');
  assert.equal(attrs['istio.canonical_service'], 'front');
  assert.equal(attrs['istio.source_principal'], 'cluster.local/ns/shop/sa/front');
  assert.equal(attrs['guid:x-request-id'], 'rid');
  assert.equal(attrs['error'], undefined);

  const server = tr.begin(fields({}), 'SERVER', undefined);
  const ep = { address: '10.0.0.9', ports: {}, labels: { app: 'web', version: 'v3' }, namespace: 'shop', serviceAccount: 'web', workload: 'web-0', node: undefined, weight: 1 };
  const f = spanOf(server, conn, req, result({ code: 503, flags: 'UF', target: { key: '10.0.0.9:8080', endpoint: ep } }), 1000);
  assert.equal(f.kind, SPAN_KIND_SERVER);
  assert.equal(f.service, 'web.shop');
  assert.equal(f.error, true);
  const fa = Object.fromEntries(f.attributes);
  assert.equal(fa['istio.canonical_revision'], 'v3');
  assert.equal(fa['error'], 'true');
  assert.equal(fa['response_flags'], 'UF');
  assert.equal(spanOf(server, conn, req, result({ code: 0 })).error, true, 'no response is an error');
  assert.equal(spanOf(new Tracing({ serviceName: 'fixed' }).begin(fields({}), 'CLIENT', undefined), conn, req, result()).service, 'fixed');
});
