import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addedLines, applyTraceEdits, extract, extractFields, newSpanId, newTraceId, parseTraceparent, propagate, type Incoming } from '../../../src/telemetry/tracecontext';

const T = '4bf92f3577b34da6a3ce929d0e0e4736';
const S = '00f067aa0ba902b7';
const T64 = 'a3ce929d0e0e4736';

const fields = (h: Record<string, string>) => (n: string): string | undefined => h[n];

const EXTRACT: readonly { name: string; headers: Record<string, string>; want: Incoming | undefined }[] = [
  { name: 'none', headers: {}, want: undefined },
  { name: 'traceparent sampled', headers: { traceparent: `00-${T}-${S}-01` }, want: { traceId: T, spanId: S, sampled: true, format: 'w3c' } },
  { name: 'traceparent not sampled', headers: { traceparent: `00-${T}-${S}-00` }, want: { traceId: T, spanId: S, sampled: false, format: 'w3c' } },
  { name: 'traceparent upper case, spaces', headers: { traceparent: ` 00-${T.toUpperCase()}-${S}-01 ` }, want: { traceId: T, spanId: S, sampled: true, format: 'w3c' } },
  { name: 'traceparent other flags kept apart', headers: { traceparent: `00-${T}-${S}-03` }, want: { traceId: T, spanId: S, sampled: true, format: 'w3c' } },
  { name: 'traceparent future version with more fields', headers: { traceparent: `01-${T}-${S}-01-extra` }, want: { traceId: T, spanId: S, sampled: true, format: 'w3c' } },
  { name: 'traceparent version 00 with more fields: malformed', headers: { traceparent: `00-${T}-${S}-01-extra` }, want: undefined },
  { name: 'traceparent version ff: malformed', headers: { traceparent: `ff-${T}-${S}-01` }, want: undefined },
  { name: 'traceparent zero trace id: malformed', headers: { traceparent: `00-${'0'.repeat(32)}-${S}-01` }, want: undefined },
  { name: 'traceparent zero span id: malformed', headers: { traceparent: `00-${T}-${'0'.repeat(16)}-01` }, want: undefined },
  { name: 'traceparent short: malformed', headers: { traceparent: `00-${T.slice(1)}-${S}-01` }, want: undefined },
  { name: 'traceparent not hex: malformed', headers: { traceparent: `00-${T.slice(0, 31)}g-${S}-01` }, want: undefined },
  { name: 'traceparent garbage', headers: { traceparent: 'hello' }, want: undefined },
  { name: 'traceparent empty', headers: { traceparent: '' }, want: undefined },
  { name: 'malformed traceparent falls back to B3', headers: { traceparent: 'x', 'x-b3-traceid': T, 'x-b3-spanid': S, 'x-b3-sampled': '1' }, want: { traceId: T, spanId: S, sampled: true, format: 'b3' } },
  { name: 'traceparent wins over B3', headers: { traceparent: `00-${T}-${S}-00`, 'x-b3-traceid': T64, 'x-b3-spanid': S, 'x-b3-sampled': '1' }, want: { traceId: T, spanId: S, sampled: false, format: 'w3c' } },
  { name: 'B3 multi, 64-bit id padded', headers: { 'x-b3-traceid': T64, 'x-b3-spanid': S, 'x-b3-sampled': '0' }, want: { traceId: `${'0'.repeat(16)}${T64}`, spanId: S, sampled: false, format: 'b3' } },
  { name: 'B3 multi, sampling deferred', headers: { 'x-b3-traceid': T, 'x-b3-spanid': S }, want: { traceId: T, spanId: S, sampled: undefined, format: 'b3' } },
  { name: 'B3 multi, debug flag', headers: { 'x-b3-traceid': T, 'x-b3-spanid': S, 'x-b3-flags': '1' }, want: { traceId: T, spanId: S, sampled: true, format: 'b3' } },
  { name: 'B3 multi, "true"', headers: { 'x-b3-traceid': T, 'x-b3-spanid': S, 'x-b3-sampled': 'true' }, want: { traceId: T, spanId: S, sampled: true, format: 'b3' } },
  { name: 'B3 multi, bad sampled: malformed', headers: { 'x-b3-traceid': T, 'x-b3-spanid': S, 'x-b3-sampled': 'yes' }, want: undefined },
  { name: 'B3 multi, no span id: malformed', headers: { 'x-b3-traceid': T }, want: undefined },
  { name: 'B3 multi, 20-digit trace id: malformed', headers: { 'x-b3-traceid': '0123456789abcdef0123', 'x-b3-spanid': S }, want: undefined },
  { name: 'b3 single', headers: { b3: `${T}-${S}-1-${S}` }, want: { traceId: T, spanId: S, sampled: true, format: 'b3-single' } },
  { name: 'b3 single, debug', headers: { b3: `${T64}-${S}-d` }, want: { traceId: `${'0'.repeat(16)}${T64}`, spanId: S, sampled: true, format: 'b3-single' } },
  { name: 'b3 single, deferred', headers: { b3: `${T}-${S}` }, want: { traceId: T, spanId: S, sampled: undefined, format: 'b3-single' } },
  { name: 'b3 single, sampling state only: no context', headers: { b3: '0' }, want: undefined },
  { name: 'b3 single, bad parent: malformed', headers: { b3: `${T}-${S}-1-zz` }, want: undefined },
  { name: 'b3 single, too many parts: malformed', headers: { b3: `${T}-${S}-1-${S}-x` }, want: undefined },
  { name: 'traceparent wins over b3 single, whose form is kept', headers: { traceparent: `00-${T}-${S}-01`, b3: `${T}-${S}-1` }, want: { traceId: T, spanId: S, sampled: true, format: 'w3c', b3Single: true } },
  { name: 'b3 single wins over x-b3-*', headers: { b3: `${T}-${S}-0`, 'x-b3-traceid': T64, 'x-b3-spanid': S }, want: { traceId: T, spanId: S, sampled: false, format: 'b3-single' } },
];

for (const row of EXTRACT) {
  test(`extract: ${row.name}`, () => {
    assert.deepEqual(extract(fields(row.headers)), row.want);
  });
}

test('ids: 32 and 16 lower-case hex digits, different each time, never all zeros', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const t = newTraceId();
    const s = newSpanId();
    assert.match(t, /^[0-9a-f]{32}$/);
    assert.match(s, /^[0-9a-f]{16}$/);
    assert.notEqual(t, '0'.repeat(32));
    seen.add(t);
  }
  assert.equal(seen.size, 2000);
});

const get = (list: readonly (readonly [string, string])[], k: string): string | undefined => list.find(([n]) => n === k)?.[1];

test('propagate: no context → a new trace; traceparent and x-b3-* added, nothing removed', () => {
  for (const sampled of [true, false]) {
    const p = propagate(undefined, sampled, sampled, undefined);
    assert.equal(p.context.parentId, undefined);
    assert.equal(p.context.sampled, sampled);
    assert.deepEqual(p.edits?.remove, []);
    const add = p.edits!.add;
    assert.equal(get(add, 'traceparent'), `00-${p.context.traceId}-${p.context.spanId}-${sampled ? '01' : '00'}`);
    assert.equal(get(add, 'x-b3-traceid'), p.context.traceId);
    assert.equal(get(add, 'x-b3-spanid'), p.context.spanId);
    assert.equal(get(add, 'x-b3-sampled'), sampled ? '1' : '0');
    assert.equal(get(add, 'x-b3-parentspanid'), undefined);
    assert.ok(parseTraceparent(get(add, 'traceparent')) !== undefined, 'what is written parses');
  }
  assert.equal(propagate(undefined, true, true, undefined, T).context.traceId, T, 'a drawn trace id is used');
});

test('propagate: a recorded hop replaces the fields with its own span as parent, in the caller\'s B3 form', () => {
  const rows: readonly { incoming: Incoming; b3: 'multi' | 'single' }[] = [
    { incoming: { traceId: T, spanId: S, sampled: true, format: 'w3c' }, b3: 'multi' },
    { incoming: { traceId: T, spanId: S, sampled: true, format: 'b3' }, b3: 'multi' },
    { incoming: { traceId: T, spanId: S, sampled: true, format: 'b3-single' }, b3: 'single' },
    { incoming: { traceId: T, spanId: S, sampled: true, format: 'w3c', b3Single: true }, b3: 'single' },
  ];
  for (const { incoming, b3 } of rows) {
    const p = propagate(incoming, false, true, 'vendor=x');
    assert.equal(p.context.traceId, T, 'the trace id is kept');
    assert.equal(p.context.parentId, S);
    assert.notEqual(p.context.spanId, S);
    assert.equal(p.context.tracestate, 'vendor=x');
    assert.ok(p.edits!.remove.includes('traceparent') && p.edits!.remove.includes('x-b3-spanid') && p.edits!.remove.includes('b3'));
    assert.ok(!p.edits!.remove.includes('tracestate'), 'tracestate passes');
    const add = p.edits!.add;
    assert.equal(get(add, 'traceparent'), `00-${T}-${p.context.spanId}-01`);
    if (b3 === 'single') assert.equal(get(add, 'b3'), `${T}-${p.context.spanId}-1-${S}`);
    else {
      assert.equal(get(add, 'x-b3-spanid'), p.context.spanId);
      assert.equal(get(add, 'x-b3-parentspanid'), S);
    }
  }
});

test('propagate: the caller\'s decision wins; a deferred one takes ours', () => {
  assert.equal(propagate({ traceId: T, spanId: S, sampled: false, format: 'w3c' }, true, true, undefined).context.sampled, false);
  assert.equal(propagate({ traceId: T, spanId: S, sampled: undefined, format: 'b3' }, true, true, undefined).context.sampled, true);
});

test('propagate: an unrecorded hop passes the fields unchanged', () => {
  const p = propagate({ traceId: T, spanId: S, sampled: true, format: 'w3c' }, true, false, undefined);
  assert.equal(p.edits, undefined);
  assert.equal(p.context.traceId, T);
});

test('applyTraceEdits and addedLines', () => {
  const list: [string, string][] = [['a', '1'], ['traceparent', 'old'], ['tracestate', 'v=1']];
  assert.equal(applyTraceEdits(list, undefined), list);
  assert.deepEqual(applyTraceEdits(list, { remove: ['traceparent'], add: [['traceparent', 'new']] }), [['a', '1'], ['tracestate', 'v=1'], ['traceparent', 'new']]);
  assert.equal(addedLines({ remove: [], add: [['traceparent', 'x'], ['x-b3-sampled', '1']] }), 'traceparent: x\r\nx-b3-sampled: 1\r\n');
  assert.equal(addedLines({ remove: ['traceparent'], add: [] }), undefined);
});

test('extractFields: a bare B3 sampling state is the caller\'s decision, without a context', () => {
  assert.deepEqual(extractFields(fields({ b3: '0' })), { incoming: undefined, present: true, sampled: false });
  assert.deepEqual(extractFields(fields({ b3: 'd' })), { incoming: undefined, present: true, sampled: true });
  assert.deepEqual(extractFields(fields({ 'x-b3-sampled': 'false' })), { incoming: undefined, present: true, sampled: false });
  assert.deepEqual(extractFields(fields({ 'x-b3-flags': '1' })), { incoming: undefined, present: true, sampled: true });
  assert.deepEqual(extractFields(fields({ b3: 'maybe' })), { incoming: undefined, present: true });
  // ids that do not parse are not a bare state: the sampler decides
  assert.deepEqual(extractFields(fields({ 'x-b3-spanid': 'zz', 'x-b3-sampled': '1' })), { incoming: undefined, present: true });
});

test('extractFields and propagate: malformed fields are present, and replaced by the new trace\'s', () => {
  assert.deepEqual(extractFields(fields({})), { incoming: undefined, present: false });
  assert.equal(extractFields(fields({ traceparent: 'garbage' })).present, true);
  assert.equal(extractFields(fields({ 'x-b3-spanid': S })).present, true);
  const p = propagate(undefined, true, true, undefined, undefined, true);
  assert.ok(p.edits!.remove.includes('traceparent') && p.edits!.remove.includes('x-b3-traceid'));
  assert.equal(addedLines(p.edits!), undefined, 'replacing needs the field list, not the raw head copy');
});
