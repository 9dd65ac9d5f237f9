import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SAMPLER, otlpSettings, parseSampler, ratioKeeps, sample, type Sampler } from '../../../src/telemetry/sampler';

const PARSE: readonly { name?: string; arg?: string; want: Sampler | RegExp }[] = [
  { want: DEFAULT_SAMPLER },
  { name: 'always_on', want: { kind: 'always_on', ratio: 1, parentBased: false } },
  { name: 'ALWAYS_OFF', want: { kind: 'always_off', ratio: 0, parentBased: false } },
  { name: 'traceidratio', arg: '0.25', want: { kind: 'traceidratio', ratio: 0.25, parentBased: false } },
  { name: 'traceidratio', want: { kind: 'traceidratio', ratio: 1, parentBased: false } },
  { name: 'parentbased_always_on', want: { kind: 'always_on', ratio: 1, parentBased: true } },
  { name: 'parentbased_always_off', want: { kind: 'always_off', ratio: 0, parentBased: true } },
  { name: 'parentbased_traceidratio', arg: '0', want: { kind: 'traceidratio', ratio: 0, parentBased: true } },
  { name: 'traceidratio', arg: '1.5', want: /must be a number from 0 to 1/ },
  { name: 'traceidratio', arg: 'half', want: /must be a number from 0 to 1/ },
  { name: 'jaeger_remote', want: /is not one of always_on, always_off/ },
];

for (const row of PARSE) {
  test(`parseSampler(${row.name ?? '-'}, ${row.arg ?? '-'})`, () => {
    const got = parseSampler(row.name, row.arg);
    if (row.want instanceof RegExp) assert.match(String(got), row.want);
    else assert.deepEqual(got, row.want);
  });
}

const LOW = '00000000000000000000000000000001';
const HIGH = '0000000000000000ffffffffffffffff';

const DECIDE: readonly { s: Sampler; parent: boolean | undefined; id: string; want: boolean }[] = [
  { s: { kind: 'always_on', ratio: 1, parentBased: false }, parent: false, id: HIGH, want: true },
  { s: { kind: 'always_on', ratio: 1, parentBased: true }, parent: false, id: HIGH, want: false },
  { s: { kind: 'always_on', ratio: 1, parentBased: true }, parent: undefined, id: HIGH, want: true },
  { s: { kind: 'always_off', ratio: 0, parentBased: false }, parent: true, id: LOW, want: false },
  { s: { kind: 'always_off', ratio: 0, parentBased: true }, parent: true, id: LOW, want: true },
  { s: { kind: 'traceidratio', ratio: 0.5, parentBased: false }, parent: undefined, id: LOW, want: true },
  { s: { kind: 'traceidratio', ratio: 0.5, parentBased: false }, parent: undefined, id: HIGH, want: false },
  { s: { kind: 'traceidratio', ratio: 0.5, parentBased: true }, parent: true, id: HIGH, want: true },
  { s: { kind: 'traceidratio', ratio: 0, parentBased: false }, parent: undefined, id: LOW, want: false },
];

for (const [i, row] of DECIDE.entries()) {
  test(`sample #${i}: ${row.s.parentBased ? 'parentbased_' : ''}${row.s.kind} parent=${String(row.parent)}`, () => {
    assert.equal(sample(row.s, row.parent, row.id), row.want);
  });
}

test('ratioKeeps: the share kept follows the ratio over random ids, and is the same for the same id', () => {
  let kept = 0;
  const n = 20_000;
  for (let i = 0; i < n; i++) {
    const id = [...Array(32)].map(() => Math.floor(Math.random() * 16).toString(16)).join('');
    if (ratioKeeps(0.1, id)) kept++;
    assert.equal(ratioKeeps(0.1, id), ratioKeeps(0.1, id));
  }
  assert.ok(kept > n * 0.08 && kept < n * 0.12, `kept ${kept} of ${n}`);
});

test('otlpSettings: endpoints, headers, timeout, service name, sampler', () => {
  const a = otlpSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' });
  assert.equal(a.settings.url, 'http://collector:4318/v1/traces');
  assert.deepEqual(a.problems, []);
  const b = otlpSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://t:443/custom', OTEL_EXPORTER_OTLP_HEADERS: 'api-key=a%20b, X-Tenant=t1', OTEL_EXPORTER_OTLP_TIMEOUT: '2500', OTEL_SERVICE_NAME: 'mesh', OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.01' });
  assert.equal(b.settings.url, 'https://t:443/custom', 'the traces endpoint is used as it is');
  assert.deepEqual(b.settings.headers, { 'api-key': 'a b', 'x-tenant': 't1' });
  assert.equal(b.settings.timeoutMs, 2500);
  assert.equal(b.settings.serviceName, 'mesh');
  assert.deepEqual(b.settings.sampler, { kind: 'traceidratio', ratio: 0.01, parentBased: true });
  const none = otlpSettings({});
  assert.equal(none.settings.url, undefined);
  assert.deepEqual(none.settings.sampler, DEFAULT_SAMPLER);
  const bad = otlpSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318', OTEL_EXPORTER_OTLP_HEADERS: 'novalue', OTEL_EXPORTER_OTLP_TIMEOUT: '-1', OTEL_TRACES_SAMPLER: 'nope', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' });
  assert.equal(bad.settings.url, undefined);
  assert.equal(bad.settings.timeoutMs, 10_000);
  assert.equal(bad.problems.length, 5, bad.problems.join('\n'));
});

test('otlpSettings: each problem names the variable to fix and what applies instead', () => {
  const bad = otlpSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318', OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'novalue', OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '1.5', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' });
  assert.deepEqual(bad.problems, [
    'OTEL_EXPORTER_OTLP_ENDPOINT "collector:4318" must be an http:// or https:// URL (such as http://collector:4318): no spans are exported',
    `OTEL_EXPORTER_OTLP_PROTOCOL "grpc" is not supported: spans are sent as http/protobuf (point the endpoint at the collector's OTLP/HTTP port, 4318)`,
    'OTEL_EXPORTER_OTLP_TRACES_HEADERS: header "novalue" is not key=value; it is not sent',
    'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT "1.5" must be a positive whole number of milliseconds; 10000 applies',
  ]);
  const traces = otlpSettings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'ftp://x/v1/traces', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://ok:4318' });
  assert.equal(traces.settings.url, undefined);
  assert.match(traces.problems[0] ?? '', /^OTEL_EXPORTER_OTLP_TRACES_ENDPOINT "ftp:\/\/x\/v1\/traces" must be/);
  // A ratio that does not parse keeps the sampler named, with its default ratio: not the parent-based default.
  const ratio = otlpSettings({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '10%' });
  assert.deepEqual(ratio.settings.sampler, { kind: 'traceidratio', ratio: 1, parentBased: false });
  assert.match(ratio.problems[0] ?? '', /^OTEL_TRACES_SAMPLER_ARG "10%" must be a number from 0 to 1 .*; 1 applies$/);
  const name = otlpSettings({ OTEL_TRACES_SAMPLER: 'nope' });
  assert.deepEqual(name.settings.sampler, DEFAULT_SAMPLER);
  assert.match(name.problems[0] ?? '', /; parentbased_always_on applies$/);
});
