// Values that parse but must never be applied: VIPs and endpoints that are not destinations or that are
// the agent itself, labels outside Kubernetes syntax, blank files. One row per case; each must name the
// file, the document, the object and the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULTS } from '../../../src/options';
import { formatIssue } from '../../../src/config/issues';
import { buildConfig, type ReadContext } from '../../../src/config/load';
import { DEFAULT_AGENT_PORTS, agentReserved, reservedUse } from '../../../src/config/reserved';
import { ioRetryMs, settleWait } from '../../../src/config/settle';
import { docs, echoSpec, serviceEntry, workloadEntry } from './helpers';

interface Row {
  readonly name: string;
  /** The second document of mesh.yaml (the first is a valid ServiceEntry). */
  readonly doc: Record<string, unknown>;
  readonly field: string;
  readonly message: string | RegExp;
  /** The agent's own addresses and ports; default: the default flags. */
  readonly ctx?: ReadContext;
  /** kind namespace/name of the issue; default ServiceEntry default/echo. */
  readonly who?: string;
}

const se = (spec: Record<string, unknown>, meta: Record<string, unknown> = {}): Record<string, unknown> => serviceEntry('echo', echoSpec(spec), meta);
const vip = (address: string, port = 80): Record<string, unknown> => se({ addresses: [address], ports: [{ number: port, name: 'http', targetPort: 18080 }] });
const endpoint = (e: Record<string, unknown>, targetPort = 18080): Record<string, unknown> =>
  se({ ports: [{ number: 80, name: 'http', targetPort }], endpoints: [{ address: '127.0.0.2' }, e] });
const NODE = { reserved: agentReserved({ ...DEFAULTS, nodeIp: '10.0.0.5' }) };
const LONG = 'x'.repeat(30 * 1024 * 1024);

const ROWS: readonly Row[] = [
  // VIPs.
  { name: 'VIP on the metrics port of loopback', doc: vip('127.0.0.1', 15020), field: 'spec.addresses[0]', message: "127.0.0.1:15020 is the agent's own metrics port" },
  { name: 'VIP on the outbound port of loopback', doc: vip('127.0.0.1', 15001), field: 'spec.addresses[0]', message: "127.0.0.1:15001 is the agent's own outbound port" },
  { name: 'VIP on the ready port of loopback', doc: vip('127.0.0.1', 15021), field: 'spec.addresses[0]', message: "agent's own ready port" },
  { name: 'VIP on the tunnel port of the node IP', doc: vip('10.0.0.5', 15008), field: 'spec.addresses[0]', message: "10.0.0.5:15008 is the agent's own tunnel port (the node address)", ctx: NODE },
  { name: 'VIP 0.0.0.0', doc: vip('0.0.0.0'), field: 'spec.addresses[0]', message: 'a VIP cannot be the unspecified address 0.0.0.0' },
  { name: 'VIP broadcast', doc: vip('255.255.255.255'), field: 'spec.addresses[0]', message: 'a VIP cannot be the broadcast address' },
  { name: 'VIP multicast', doc: vip('239.1.2.3'), field: 'spec.addresses[0]', message: 'a VIP cannot be a multicast address' },
  { name: 'VIP /32 form of 0.0.0.0', doc: vip('0.0.0.0/32'), field: 'spec.addresses[0]', message: 'unspecified address' },

  // Endpoints.
  { name: 'endpoint 0.0.0.0', doc: endpoint({ address: '0.0.0.0' }), field: 'spec.endpoints[1].address', message: 'an endpoint cannot be the unspecified address 0.0.0.0' },
  { name: 'endpoint broadcast', doc: endpoint({ address: '255.255.255.255' }), field: 'spec.endpoints[1].address', message: 'an endpoint cannot be the broadcast address' },
  { name: 'endpoint multicast', doc: endpoint({ address: '224.0.0.251' }), field: 'spec.endpoints[1].address', message: 'multicast' },
  {
    name: "endpoint is the agent's outbound port (targetPort)",
    doc: endpoint({ address: '127.0.0.1' }, 15001),
    field: 'spec.endpoints[1].address',
    message: "127.0.0.1:15001 is the agent's own outbound port (loopback): port http of the service would loop back into the agent",
  },
  { name: "endpoint is the agent's tunnel port (per-endpoint port)", doc: endpoint({ address: '127.0.0.9', ports: { http: 15008 } }), field: 'spec.endpoints[1].address', message: "agent's own tunnel port" },
  { name: "endpoint is the agent's metrics port on the node IP", doc: endpoint({ address: '10.0.0.5' }, 15020), field: 'spec.endpoints[1].address', message: "10.0.0.5:15020 is the agent's own metrics port", ctx: NODE },
  {
    name: "WorkloadEntry on the agent's ready port",
    doc: workloadEntry('w', { address: '127.0.0.1', ports: { http: 15021 } }),
    field: 'spec.ports.http',
    message: "127.0.0.1:15021 is the agent's own ready port",
    who: 'WorkloadEntry default/w',
  },
  { name: 'WorkloadEntry 0.0.0.0', doc: workloadEntry('w', { address: '0.0.0.0' }), field: 'spec.address', message: 'an endpoint cannot be the unspecified address', who: 'WorkloadEntry default/w' },

  // Labels (Kubernetes syntax).
  { name: 'label value with a NUL byte', doc: se({}, { labels: { app: 'we\u0000b' } }), field: 'metadata.labels.app', message: 'label value "we\\u0000b" is invalid' },
  { name: 'label value 30 MB long', doc: se({}, { labels: { app: LONG } }), field: 'metadata.labels.app', message: `label value is ${LONG.length} characters long, at most 63` },
  { name: 'label value of 64 characters', doc: se({}, { labels: { app: 'a'.repeat(64) } }), field: 'metadata.labels.app', message: 'at most 63' },
  { name: 'label value with a space', doc: se({}, { labels: { app: 'my app' } }), field: 'metadata.labels.app', message: 'is invalid' },
  { name: 'label value ending in a dash', doc: se({}, { labels: { app: 'web-' } }), field: 'metadata.labels.app', message: 'starting and ending alphanumeric' },
  { name: 'label key with a bad prefix', doc: se({}, { labels: { 'Example.com/app': 'web' } }), field: 'metadata.labels["Example.com/app"]', message: 'the prefix before "/" must be a DNS subdomain' },
  { name: 'label key with two slashes', doc: se({}, { labels: { 'a/b/c': 'web' } }), field: 'metadata.labels["a/b/c"]', message: 'label key "a/b/c"' },
  { name: 'label key too long', doc: se({}, { labels: { ['k'.repeat(64)]: 'v' } }), field: 'metadata.labels', message: 'the name is 64 characters long' },
  { name: 'endpoint label with a NUL byte', doc: endpoint({ address: '127.0.0.3', labels: { version: 'v\u00001' } }), field: 'spec.endpoints[1].labels.version', message: 'is invalid' },
  { name: 'selector label value invalid', doc: se({ endpoints: undefined, workloadSelector: { labels: { app: 'a b' } } }), field: 'spec.workloadSelector.labels.app', message: 'is invalid' },
  { name: 'WorkloadEntry spec label too long', doc: workloadEntry('w', { address: '10.0.0.9', labels: { app: 'x'.repeat(64 * 1024) } }), field: 'spec.labels.app', message: 'characters long', who: 'WorkloadEntry default/w' },
];

const FIRST = docs(serviceEntry('first', echoSpec({ hosts: ['first'], addresses: ['127.0.10.9'] })));

for (const row of ROWS) {
  test(`refused: ${row.name}`, () => {
    const r = buildConfig({ files: [{ path: 'mesh.yaml', name: 'mesh.yaml', content: `${FIRST}---\n${docs(row.doc)}` }], issues: [], warnings: [] }, row.ctx);
    assert.equal(r.ok, false, `${row.name}: applied`);
    if (r.ok) return;
    const hit = r.issues.find((i) => i.field?.startsWith(row.field) && (typeof row.message === 'string' ? i.message.includes(row.message) : row.message.test(i.message)));
    assert.ok(hit, `no issue at ${row.field} with ${String(row.message)} in:\n${r.issues.map(formatIssue).join('\n').slice(0, 2000)}`);
    assert.equal(hit.file, 'mesh.yaml');
    assert.equal(hit.document, 1);
    assert.equal(`${hit.kind} ${hit.name}`, row.who ?? 'ServiceEntry default/echo');
    // One readable line, even for a 30 MB value.
    const line = formatIssue(hit);
    assert.ok(line.startsWith(`mesh.yaml: document 1 (${row.who ?? 'ServiceEntry default/echo'}): ${row.field}`), line);
    assert.ok(line.length < 400 && !line.includes('\n') && !line.includes('\u0000'), line.slice(0, 400));
  });
}

test('the same ports elsewhere, and valid labels, are accepted', () => {
  const ok = docs(
    serviceEntry('a', echoSpec({ addresses: ['10.96.0.10'], ports: [{ number: 15020, name: 'http', targetPort: 15001 }], endpoints: [{ address: '10.0.1.5' }] })),
    serviceEntry('b', echoSpec({ hosts: ['b'], addresses: ['127.0.10.2'], endpoints: [{ address: '127.0.0.1', labels: { 'app.kubernetes.io/name': 'b', empty: '' } }] }), {
      labels: { 'example.com/tier': 'Front_end.v1', version: 'v1' },
    }),
  );
  const r = buildConfig({ files: [{ path: 'mesh.yaml', name: 'mesh.yaml', content: ok }], issues: [], warnings: [] });
  assert.ok(r.ok, r.ok ? '' : r.issues.map(formatIssue).join('\n'));
});

test("the agent's flags decide which ports are its own", () => {
  const flags = { reserved: agentReserved({ ...DEFAULTS, outboundPort: 16001 }) };
  const at = (port: number): boolean => buildConfig({ files: [{ path: 'm.yaml', name: 'm.yaml', content: docs(vip('127.0.0.1', port)) }], issues: [], warnings: [] }, flags).ok;
  assert.equal(at(15001), true);
  assert.equal(at(16001), false);
  assert.equal(at(15020), false);
});

test('the default reserved ports are the agent defaults', () => {
  assert.deepEqual(DEFAULT_AGENT_PORTS, { outbound: DEFAULTS.outboundPort, tunnel: DEFAULTS.tunnelPort, metrics: DEFAULTS.metricsPort, ready: DEFAULTS.readyPort });
});

test('reservedUse: loopback and the given addresses only', () => {
  const r = agentReserved({ ...DEFAULTS, nodeIp: '10.0.0.5', adminHost: '10.0.0.6' });
  const table: [string, number, boolean][] = [
    ['127.0.0.1', 15001, true],
    ['127.3.4.5', 15020, true],
    ['10.0.0.5', 15008, true],
    ['10.0.0.6', 15021, true],
    ['10.0.0.7', 15001, false],
    ['127.0.0.1', 8080, false],
  ];
  for (const [a, p, want] of table) assert.equal(reservedUse(r, a, p) !== undefined, want, `${a}:${p}`);
});

test('a blank file is an unfinished write; a document of only --- or a comment is an empty mesh', () => {
  for (const content of ['', '\n', '  \n\t\n']) {
    const r = buildConfig({ files: [{ path: 'mesh.yaml', name: 'mesh.yaml', content }], issues: [], warnings: [] });
    assert.equal(r.ok, false, JSON.stringify(content));
    if (!r.ok) assert.match(formatIssue(r.issues[0]!), /^mesh\.yaml: the file is empty: taken as an unfinished write.*"---"/);
  }
  for (const content of ['---\n', '# no services yet\n']) {
    const r = buildConfig({ files: [{ path: 'mesh.yaml', name: 'mesh.yaml', content }], issues: [], warnings: [] });
    assert.ok(r.ok && r.config.services.length === 0, JSON.stringify(content));
  }
});

test('settleWait: no wait for files untouched for a settle period, else the rest of it', () => {
  const f = (modifiedMs?: number) => ({ path: 'p', name: 'p', content: 'x', ...(modifiedMs !== undefined ? { modifiedMs } : {}) });
  const table: [ReturnType<typeof f>[], number][] = [
    [[f(1000)], 0], // quiet for 1000 ms
    [[f(1000), f(1950)], 250], // one was written 50 ms ago
    [[f(2000)], 300], // just now
    [[f(9000)], 300], // in the future (clock skew): one period
    [[f()], 300], // unknown
    [[], 0],
  ];
  for (const [files, want] of table) assert.equal(settleWait(files, 2000, 300), want, JSON.stringify(files));
  assert.equal(settleWait([f(2000)], 2000, 0), 0);
});

test('ioRetryMs: doubling from the base, capped', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 100].map((n) => ioRetryMs(n, 200, 5000)), [200, 400, 800, 1600, 3200, 5000, 5000]);
});
