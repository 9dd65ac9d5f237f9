// DestinationRule localityLbSetting, WorkloadEntry locality and the HealthCheck kind: what is read, and
// each bad document named by field with what to do instead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfigIssue } from '../../../src/config/model';
import { loadText, workloadEntry, serviceEntry, docs } from './helpers';
import { FIRST, dr, withServices } from './traffic-helpers';

type Obj = Record<string, unknown>;

const lb = (loadBalancer: Obj, more: Obj = {}): Obj => dr('reviews', { host: 'reviews', trafficPolicy: { loadBalancer, ...more } });
const OD = { outlierDetection: { consecutive5xxErrors: 1 } };
const healthCheck = (name: string, spec: Obj): Obj => ({ apiVersion: 'nodemesh.io/v1alpha1', kind: 'HealthCheck', metadata: { name }, spec });
const describe = (issues: readonly ConfigIssue[]): string => issues.map((i) => `[doc ${i.document}] ${i.field}: ${i.message}`).join('\n');

test('localityLbSetting is read into the load balancer (alone, it keeps round robin)', () => {
  const r = loadText(withServices(lb({ localityLbSetting: { enabled: true, failover: [{ from: 'r1', to: 'r2' }], failoverPriority: ['topology.istio.io/network'] } }, OD)));
  assert.ok(r.ok, r.ok ? '' : describe(r.issues));
  assert.deepEqual(r.config.traffic?.destinationRules[0]?.trafficPolicy?.loadBalancer, {
    simple: 'ROUND_ROBIN',
    locality: { enabled: true, failover: [{ from: 'r1', to: 'r2' }], failoverPriority: ['topology.istio.io/network'], distribute: [] },
  });
  const r2 = loadText(withServices(lb({ simple: 'LEAST_REQUEST', localityLbSetting: { distribute: [{ from: 'r1/z1/*', to: { 'r1/z1/*': 80, 'r1/z2/*': 20 } }] } })));
  assert.ok(r2.ok, r2.ok ? '' : describe(r2.issues));
  assert.deepEqual(r2.config.traffic?.destinationRules[0]?.trafficPolicy?.loadBalancer, {
    simple: 'LEAST_REQUEST',
    locality: { failover: [], failoverPriority: [], distribute: [{ from: 'r1/z1/*', to: { 'r1/z1/*': 80, 'r1/z2/*': 20 } }] },
  });
  assert.equal(r2.warnings.length, 0, 'distribute needs no outlierDetection');
});

test('failover without outlierDetection is accepted with a warning', () => {
  const r = loadText(withServices(lb({ localityLbSetting: { failover: [{ from: 'r1', to: 'r2' }] } })));
  assert.ok(r.ok, r.ok ? '' : describe(r.issues));
  const w = r.warnings.find((i) => i.field === 'spec.trafficPolicy.loadBalancer.localityLbSetting');
  assert.ok(w, describe(r.warnings));
  assert.match(w.message, /only with outlierDetection/);
});

const L = 'spec.trafficPolicy.loadBalancer.localityLbSetting';
const BAD: { name: string; setting: Obj; field: string; message: string }[] = [
  { name: 'failover from a zone', setting: { failover: [{ from: 'r1/z1', to: 'r2' }] }, field: `${L}.failover[0].from`, message: 'must be a region' },
  { name: 'failover to itself', setting: { failover: [{ from: 'r1', to: 'r1' }] }, field: `${L}.failover[0].to`, message: 'must differ' },
  { name: 'failover to missing', setting: { failover: [{ from: 'r1' }] }, field: `${L}.failover[0].to`, message: 'required' },
  { name: 'two failovers from one region', setting: { failover: [{ from: 'r1', to: 'r2' }, { from: 'r1', to: 'r3' }] }, field: `${L}.failover[1].from`, message: 'already has a failover' },
  { name: 'failoverPriority not a label key', setting: { failoverPriority: ['bad key!'] }, field: `${L}.failoverPriority[0]`, message: '' },
  { name: 'failoverPriority with a value', setting: { failoverPriority: ['topology.kubernetes.io/zone=z1'] }, field: `${L}.failoverPriority[0]`, message: 'key only' },
  { name: 'distribute weights not 100', setting: { distribute: [{ from: 'r1/*', to: { 'r1/z1': 50, 'r1/z2': 40 } }] }, field: `${L}.distribute[0].to`, message: 'sum to 100, got 90' },
  { name: 'distribute weight out of range', setting: { distribute: [{ from: 'r1/*', to: { 'r1/z1': 150 } }] }, field: `${L}.distribute[0].to["r1/z1"]`, message: 'between 0 and 100' },
  { name: 'distribute wildcard in the middle', setting: { distribute: [{ from: 'r1/*/s', to: { 'r1/z1': 100 } }] }, field: `${L}.distribute[0].from`, message: 'wildcard must be the last part' },
  { name: 'distribute and failover', setting: { distribute: [{ from: 'r1', to: { r1: 100 } }], failover: [{ from: 'r1', to: 'r2' }] }, field: L, message: 'only one of distribute, failover' },
  { name: 'failover and a topology label in failoverPriority (Istio refuses it)', setting: { failover: [{ from: 'r1', to: 'r2' }], failoverPriority: ['app-tier', 'topology.kubernetes.io/zone'] }, field: `${L}.failoverPriority`, message: 'remove it, or remove failover' },
  { name: 'distribute and failoverPriority', setting: { distribute: [{ from: 'r1', to: { r1: 100 } }], failoverPriority: ['app-tier'] }, field: L, message: 'remove failoverPriority, or distribute' },
  { name: 'unknown field', setting: { failovr: [] }, field: `${L}.failovr`, message: 'did you mean "failover"' },
  { name: 'enabled not a boolean', setting: { enabled: 'yes' }, field: `${L}.enabled`, message: 'true or false' },
];

for (const c of BAD) {
  test(`localityLbSetting rejects: ${c.name}`, () => {
    const r = loadText(withServices(lb({ localityLbSetting: c.setting }, OD)));
    assert.equal(r.ok, false);
    if (r.ok) return;
    const hit = r.issues.find((i) => i.field === c.field && i.message.includes(c.message) && i.document === FIRST);
    assert.ok(hit, `no issue at ${c.field} with "${c.message}" in:\n${describe(r.issues)}`);
  });
}

const SE = serviceEntry('db', { hosts: ['db.example.com'], addresses: ['127.0.20.1'], ports: [{ number: 5432, name: 'tcp' }], workloadSelector: { labels: { app: 'db' } } });

test('WorkloadEntry locality reaches the endpoint; a bad one is refused', () => {
  const r = loadText(docs(SE, workloadEntry('db-1', { address: '127.0.0.21', labels: { app: 'db' }, locality: 'us-east/us-east-1a' }), workloadEntry('db-2', { address: '127.0.0.22', labels: { app: 'db' } })));
  assert.ok(r.ok, r.ok ? '' : describe(r.issues));
  const eps = r.config.services.find((s) => s.name === 'db')?.endpoints ?? [];
  assert.deepEqual(eps.map((e) => e.locality), ['us-east/us-east-1a', undefined]);
  const bad = loadText(docs(SE, workloadEntry('db-1', { address: '127.0.0.21', labels: { app: 'db' }, locality: 'a/b/c/d' })));
  assert.equal(bad.ok, false);
  if (!bad.ok) assert.ok(bad.issues.some((i) => i.field === 'spec.locality' && i.message.includes('region/zone/subzone')), describe(bad.issues));
});

test('HealthCheck is read and resolved to its service and subset', () => {
  const rule = dr('reviews', { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }] });
  const r = loadText(withServices(rule, healthCheck('hc', { host: 'reviews', subset: 'v1', http: { path: '/healthz', expectedStatuses: [200, 204] }, interval: '2s', timeout: '500ms', unhealthyThreshold: 2, healthyThreshold: 3 })));
  assert.ok(r.ok, r.ok ? '' : describe(r.issues));
  assert.deepEqual(r.config.traffic?.healthChecks, [
    {
      name: 'hc',
      namespace: 'default',
      service: 'default/reviews',
      subset: 'v1',
      subsetLabels: { version: 'v1' },
      check: { http: { path: '/healthz', expectedStatuses: [200, 204] } },
      intervalMs: 2000,
      timeoutMs: 500,
      unhealthyThreshold: 2,
      healthyThreshold: 3,
    },
  ]);
  const tcp = loadText(withServices(healthCheck('hc', { host: 'ratings', tcp: {} })));
  assert.ok(tcp.ok, tcp.ok ? '' : describe(tcp.issues));
  assert.deepEqual(tcp.config.traffic?.healthChecks?.[0]?.check, { tcp: true });
  assert.equal(tcp.config.traffic?.healthChecks?.[0]?.unhealthyThreshold, 3);
});

const HC_BAD: { name: string; docs: Obj[]; field: string; message: string; doc?: number }[] = [
  { name: 'neither http nor tcp', docs: [healthCheck('hc', { host: 'reviews' })], field: 'spec', message: 'exactly one of http, tcp' },
  { name: 'both http and tcp', docs: [healthCheck('hc', { host: 'reviews', http: {}, tcp: {} })], field: 'spec', message: 'exactly one of http, tcp' },
  { name: 'path without slash', docs: [healthCheck('hc', { host: 'reviews', http: { path: 'healthz' } })], field: 'spec.http.path', message: 'must start with "/"' },
  { name: 'bad status', docs: [healthCheck('hc', { host: 'reviews', http: { expectedStatuses: [999] } })], field: 'spec.http.expectedStatuses[0]', message: 'HTTP status' },
  { name: 'threshold 0', docs: [healthCheck('hc', { host: 'reviews', tcp: {}, unhealthyThreshold: 0 })], field: 'spec.unhealthyThreshold', message: '' },
  { name: 'timeout zero', docs: [healthCheck('hc', { host: 'reviews', tcp: {}, timeout: '0s' })], field: 'spec.timeout', message: '' },
  { name: 'unknown host', docs: [healthCheck('hc', { host: 'nope', tcp: {} })], field: 'spec.host', message: 'matches no ServiceEntry host' },
  { name: 'unknown port', docs: [healthCheck('hc', { host: 'reviews', port: 1, tcp: {} })], field: 'spec.port', message: 'has no port 1' },
  { name: 'unknown subset', docs: [healthCheck('hc', { host: 'reviews', subset: 'v9', tcp: {} })], field: 'spec.subset', message: 'no DestinationRule defines subsets' },
  { name: 'two checks of one service', docs: [healthCheck('a', { host: 'reviews', tcp: {} }), healthCheck('b', { host: 'reviews', tcp: {} })], field: 'spec.host', message: 'already checked by HealthCheck', doc: 1 },
];

for (const c of HC_BAD) {
  test(`HealthCheck rejects: ${c.name}`, () => {
    const r = loadText(withServices(...c.docs));
    assert.equal(r.ok, false);
    if (r.ok) return;
    const hit = r.issues.find((i) => i.field === c.field && i.message.includes(c.message) && i.document === FIRST + (c.doc ?? 0));
    assert.ok(hit, `no issue at ${c.field} with "${c.message}" in:\n${describe(r.issues)}`);
    assert.equal(hit.kind, 'HealthCheck');
  });
}

test('a Node document carries its labels (the agent takes its locality from them without --locality)', () => {
  const node = { apiVersion: 'nodemesh.io/v1alpha1', kind: 'Node', metadata: { name: 'n1', labels: { 'topology.kubernetes.io/region': 'r1', 'topology.kubernetes.io/zone': 'z1' } }, spec: { addresses: ['10.0.0.1'] } };
  const r = loadText(docs(node));
  assert.ok(r.ok, r.ok ? '' : describe(r.issues));
  assert.deepEqual(r.config.nodes[0]?.labels, { 'topology.kubernetes.io/region': 'r1', 'topology.kubernetes.io/zone': 'z1' });
});
