// The Telemetry kind: what loads into the model, and the errors a bad document gets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { docs, loadText, mustLoad } from './helpers';

const tel = (name: string, spec: Record<string, unknown>, namespace?: string): Record<string, unknown> => ({
  apiVersion: 'telemetry.istio.io/v1',
  kind: 'Telemetry',
  metadata: { name, ...(namespace !== undefined ? { namespace } : {}) },
  spec,
});

function problems(text: string): string[] {
  const r = loadText(text);
  return r.ok ? [] : r.issues.map((i) => `${i.kind} ${i.name} ${i.field}: ${i.message}`);
}

test('Telemetry: mesh-wide, namespace and workload documents load into the model, sorted', () => {
  const cfg = mustLoad(docs(
    tel('wl', { selector: { matchLabels: { app: 'cart' } }, tracing: [{ match: { mode: 'server' }, randomSamplingPercentage: 100, providers: [{ name: 'otel' }] }], accessLogging: [{ disabled: true }] }, 'shop'),
    tel('mesh-default', { tracing: [{ randomSamplingPercentage: 1.5, disableSpanReporting: false }] }, 'istio-system'),
    { ...tel('alpha', { accessLogging: [{ match: { mode: 'CLIENT' }, disabled: false }] }, 'shop'), apiVersion: 'telemetry.istio.io/v1alpha1' },
  ));
  assert.deepEqual(cfg.telemetry, [
    { name: 'mesh-default', namespace: 'istio-system', selector: undefined, tracing: [{ mode: 'CLIENT_AND_SERVER', randomSamplingPercentage: 1.5, disableSpanReporting: false }], accessLogging: [] },
    { name: 'alpha', namespace: 'shop', selector: undefined, tracing: [], accessLogging: [{ mode: 'CLIENT', disabled: false }] },
    { name: 'wl', namespace: 'shop', selector: { app: 'cart' }, tracing: [{ mode: 'SERVER', randomSamplingPercentage: 100 }], accessLogging: [{ mode: 'CLIENT_AND_SERVER', disabled: true }] },
  ]);
  assert.equal(mustLoad(docs(tel('empty', {}))).telemetry?.length, 1);
  // Istio's default, spelled out, is what spans always do.
  assert.deepEqual(mustLoad(docs(tel('tags', { tracing: [{ enableIstioTags: true }] }))).telemetry?.[0]?.tracing, [{ mode: 'CLIENT_AND_SERVER' }]);
});

const BAD: readonly { name: string; spec: Record<string, unknown>; want: RegExp }[] = [
  { name: 'typo', spec: { tracing: [{ randomSamplingPercentag: 5 }] }, want: /spec\.tracing\[0\]\.randomSamplingPercentag: unknown field \(did you mean "randomSamplingPercentage"\?\)/ },
  { name: 'percent', spec: { tracing: [{ randomSamplingPercentage: 150 }] }, want: /spec\.tracing\[0\]\.randomSamplingPercentage: must be between 0 and 100, got 150/ },
  { name: 'percent-type', spec: { tracing: [{ randomSamplingPercentage: '5' }] }, want: /randomSamplingPercentage: must be a number/ },
  { name: 'disable-type', spec: { tracing: [{ disableSpanReporting: 'yes' }] }, want: /disableSpanReporting: must be true or false/ },
  { name: 'mode', spec: { accessLogging: [{ match: { mode: 'INBOUND' } }] }, want: /spec\.accessLogging\[0\]\.match\.mode: must be one of CLIENT, SERVER, CLIENT_AND_SERVER, got "INBOUND"/ },
  { name: 'provider', spec: { tracing: [{ providers: [{ name: '' }] }] }, want: /providers\[0\]\.name: must not be empty/ },
  { name: 'metrics', spec: { metrics: [{ providers: [{ name: 'prometheus' }] }] }, want: /spec\.metrics: field is not supported yet by this nodemesh version: leave it out: the Istio standard metrics are always reported/ },
  { name: 'filter', spec: { accessLogging: [{ filter: { expression: 'true' } }] }, want: /accessLogging\[0\]\.filter: .*CEL filters are not evaluated/ },
  { name: 'tags', spec: { tracing: [{ customTags: {} }] }, want: /tracing\[0\]\.customTags: .*fixed set of attributes/ },
  { name: 'istio-tags-off', spec: { tracing: [{ enableIstioTags: false }] }, want: /tracing\[0\]\.enableIstioTags: false is not supported: spans always carry the istio\.\* attributes; leave it out or set true/ },
  { name: 'target', spec: { targetRef: { kind: 'Service', name: 'x' } }, want: /spec\.targetRef: .*spec\.selector/ },
  { name: 'list', spec: { tracing: { randomSamplingPercentage: 5 } }, want: /spec\.tracing: must be a list/ },
];

for (const row of BAD) {
  test(`Telemetry refused: ${row.name}`, () => {
    const found = problems(docs(tel(row.name, row.spec)));
    assert.ok(found.some((p) => row.want.test(p) && p.startsWith(`Telemetry default/${row.name}`)), found.join('\n'));
  });
}

test('Telemetry: two namespace-wide documents in one namespace are refused, one mesh-wide per mesh', () => {
  const found = problems(docs(tel('a', {}, 'shop'), tel('b', {}, 'shop'), tel('c', { selector: { matchLabels: { app: 'x' } } }, 'shop'), tel('m1', {}, 'istio-system'), tel('m2', {}, 'istio-system')));
  assert.equal(found.length, 2, found.join('\n'));
  assert.match(found[0]!, /Telemetry shop\/b metadata\.name: a second namespace-wide \(namespace shop\) Telemetry: Telemetry shop\/a/);
  assert.match(found[1]!, /Telemetry istio-system\/m2 metadata\.name: a second mesh-wide Telemetry/);
});
