// The span encoder against the official OTLP .proto files (test/fixtures/otlp/), decoded by protobufjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeExport, SPAN_KIND_CLIENT, SPAN_KIND_SERVER, type SpanRecord } from '../../../src/telemetry/otlp';
import { OtlpExporter } from '../../../src/telemetry/exporter';
import { decodeExport, startReceiver } from '../../helpers/otlp-receiver';
import { eventually } from '../../integration/proxy-helpers';

const T = '4bf92f3577b34da6a3ce929d0e0e4736';

function span(over: Partial<SpanRecord> = {}): SpanRecord {
  return {
    traceId: T,
    spanId: '00f067aa0ba902b7',
    parentId: undefined,
    tracestate: undefined,
    name: 'reviews.default.svc.cluster.local:9080/*',
    kind: SPAN_KIND_CLIENT,
    startMs: 1767225600123.456,
    endMs: 1767225600200.5,
    attributes: [['http.method', 'GET'], ['http.response.status_code', 200], ['ratio', 0.5], ['ok', true], ['neg', -3]],
    error: false,
    service: 'productpage.default',
    ...over,
  };
}

const INFO = { scopeName: 'nodemesh', scopeVersion: '1', resource: [['k8s.node.name', 'node-a']] as const };

test('encodeExport: every field decodes with the official schema', () => {
  const spans = decodeExport(encodeExport([span({ parentId: 'b7ad6b7169203331', tracestate: 'v=1', error: true, kind: SPAN_KIND_SERVER })], INFO));
  assert.equal(spans.length, 1);
  const s = spans[0]!;
  assert.equal(s.traceId, T);
  assert.equal(s.spanId, '00f067aa0ba902b7');
  assert.equal(s.parentSpanId, 'b7ad6b7169203331');
  assert.equal(s.traceState, 'v=1');
  assert.equal(s.name, 'reviews.default.svc.cluster.local:9080/*');
  assert.equal(s.kind, SPAN_KIND_SERVER);
  assert.equal(s.startNs, 1767225600123456000n);
  assert.equal(s.endNs, 1767225600200500000n);
  assert.deepEqual(s.attributes, { 'http.method': 'GET', 'http.response.status_code': 200, ratio: 0.5, ok: true, neg: -3 });
  assert.equal(s.statusCode, 2);
  assert.equal(s.flags, 1);
  assert.equal(s.service, 'productpage.default');
  assert.equal(s.scope, 'nodemesh');
});

test('encodeExport: spans grouped by service; long values and many spans keep their lengths right', () => {
  const long = 'x'.repeat(70_000);
  const list: SpanRecord[] = [];
  for (let i = 0; i < 600; i++) list.push(span({ spanId: i.toString(16).padStart(16, '0'), service: i % 3 === 0 ? 'a.ns' : 'b.ns', attributes: [['i', i], ['long', i === 5 ? long : 'é']] }));
  const got = decodeExport(encodeExport(list, INFO));
  assert.equal(got.length, 600);
  assert.equal(got.filter((s) => s.service === 'a.ns').length, 200);
  const five = got.find((s) => s.attributes['i'] === 5)!;
  assert.equal(five.attributes['long'], long);
  assert.equal(got.find((s) => s.attributes['i'] === 7)!.attributes['long'], 'é');
  assert.equal(five.parentSpanId, '', 'a root span has no parent');
});

test('OtlpExporter: batches reach the receiver as application/x-protobuf on /v1/traces', async (t) => {
  const rx = await startReceiver();
  const ex = new OtlpExporter({ url: `${rx.url}/v1/traces`, intervalMs: 20, batch: 50, info: INFO });
  t.after(async () => {
    ex.close();
    await rx.close();
  });
  for (let i = 0; i < 120; i++) ex.add(span({ spanId: (i + 1).toString(16).padStart(16, '0') }));
  // The receiver has a batch before the exporter has read the answer that counts it: wait for both.
  await eventually(() => rx.spans.length === 120 && ex.stats.exported === 120, 'all spans received and counted', 300, 20);
  assert.ok(rx.posts.length >= 3, 'in batches of at most 50');
  assert.ok(rx.posts.every((p) => p.contentType === 'application/x-protobuf' && p.path === '/v1/traces'));
  assert.equal(ex.stats.exported, 120);
  assert.equal(ex.stats.dropped, 0);
});

test('OtlpExporter: a full buffer drops and counts; a receiver that never answers times out and backs off', async (t) => {
  const rx = await startReceiver({ blackhole: true });
  const ex = new OtlpExporter({ url: `${rx.url}/v1/traces`, intervalMs: 10, batch: 10, maxQueue: 100, timeoutMs: 100, info: INFO });
  t.after(async () => {
    ex.close();
    await rx.close();
  });
  for (let i = 0; i < 1000; i++) ex.add(span());
  assert.ok(ex.queued <= 100);
  await eventually(() => ex.stats.failures >= 1, 'the first send timed out', 200, 10);
  assert.ok(ex.stats.dropped >= 900, `dropped ${ex.stats.dropped}`);
  const posts = rx.posts.length;
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(rx.posts.length <= posts + 1, 'backed off instead of sending every 10 ms');
});
