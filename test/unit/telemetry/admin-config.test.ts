// The admin API's Config answers (what `nodemesh config` prints): this node's view of workloads,
// services, policies and certificates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuthzPolicy, MeshConfig, PeerAuthn, Service } from '../../../src/config/model';
import { createRootCa } from '../../../src/identity/certs';
import { certificateViews, policyViews, serviceViews, workloadViews } from '../../../src/telemetry/admin-config';

const ep = (address: string, node: string | undefined) => ({ address, ports: {}, labels: {}, namespace: 'shop', serviceAccount: undefined, workload: `w-${address}`, node, weight: 1 });

const service: Service = {
  key: 'shop/cart', id: 1, name: 'cart', namespace: 'shop', hosts: ['cart.shop.svc.cluster.local'], addresses: ['10.96.0.5'],
  ports: [{ number: 80, name: 'http', protocol: 'HTTP', targetPort: 8080 }], dataplane: 'proxy',
  endpoints: [ep('10.0.0.1', 'n1'), ep('10.0.1.1', 'n2'), ep('10.0.9.9', undefined)], labels: {},
};

const policy = (name: string, namespace: string, selector: Record<string, string> | undefined, extra: Partial<AuthzPolicy> = {}): AuthzPolicy =>
  ({ name, namespace, selector, action: 'ALLOW', rules: [{}, {}], ...extra });
const peer = (name: string, namespace: string): PeerAuthn => ({ name, namespace, selector: undefined, mode: 'STRICT', portLevel: { '8080': 'PERMISSIVE' } });

const cfg: MeshConfig = {
  services: [service],
  workloads: [
    { name: 'cart-1', namespace: 'shop', address: '10.0.0.1', labels: { app: 'cart' }, serviceAccount: 'cart', node: 'n1' },
    { name: 'cart-2', namespace: 'shop', address: '10.0.1.1', labels: { app: 'cart' }, serviceAccount: undefined, node: 'n2' },
    { name: 'legacy', namespace: 'apps', address: '10.0.9.9', labels: {}, serviceAccount: undefined, node: undefined },
  ],
  nodes: [{ name: 'n1', addresses: ['192.168.0.1'] }, { name: 'n2', addresses: ['192.168.0.2'] }],
  peerAuthentications: [peer('mesh', 'istio-system')],
  authorizationPolicies: [policy('all', 'istio-system', undefined), policy('ns', 'shop', undefined, { action: 'DENY' }), policy('sel', 'shop', { app: 'cart' }, { dryRun: true })],
  requestAuthentications: [{ name: 'jwt', namespace: 'shop', selector: undefined, targetServices: ['shop/cart'], jwtRules: [] }],
  source: { files: [], hash: 'h' },
};

test('workloads: identity, whether on this node, and how they are reached (tunnel or direct)', () => {
  const w = workloadViews(cfg, 'n1', 'example.org');
  assert.deepEqual(w.map((x) => [x.namespace, x.name, x.local, x.protocol, x.identity]), [
    ['apps', 'legacy', false, 'TCP', 'spiffe://example.org/ns/apps/sa/default'],
    ['shop', 'cart-1', true, 'HBONE', 'spiffe://example.org/ns/shop/sa/cart'],
    ['shop', 'cart-2', false, 'HBONE', 'spiffe://example.org/ns/shop/sa/default'],
  ]);
  assert.deepEqual(w[1]?.labels, { app: 'cart' });
});

test('services: VIPs, ports and where each endpoint is from this node', () => {
  const [s] = serviceViews(cfg, 'n1', 'cluster.local');
  assert.deepEqual(s?.ports, [{ number: 80, name: 'http', protocol: 'HTTP', target_port: 8080 }]);
  assert.deepEqual(s?.endpoints.map((e) => e.placement), ['local', 'remote', 'direct']);
  assert.equal(s?.resolution, 'STATIC');
  assert.equal(s?.location, 'MESH_INTERNAL');
});

test('policies: every kind, with Istio scope (Global, Namespace, WorkloadSelector, TargetRef)', () => {
  assert.deepEqual(policyViews(cfg).map((p) => [p.namespace, p.name, p.kind, p.action, p.scope, p.rules, p.dry_run]), [
    ['istio-system', 'all', 'AuthorizationPolicy', 'ALLOW', 'Global', 2, false],
    ['istio-system', 'mesh', 'PeerAuthentication', 'STRICT', 'Global', 1, false],
    ['shop', 'jwt', 'RequestAuthentication', 'JWT', 'TargetRef', 0, false],
    ['shop', 'ns', 'AuthorizationPolicy', 'DENY', 'Namespace', 2, false],
    ['shop', 'sel', 'AuthorizationPolicy', 'ALLOW', 'WorkloadSelector', 2, true],
  ]);
});

test('certificates: leaf per identity (Pending until issued, Expired after), intermediates, then ROOTCA', async () => {
  const root = await createRootCa('cluster.local');
  const now = Date.parse('2030-01-01T00:00:00Z');
  const leaf = (notAfter: string) => ({
    keyPem: '', certChainPem: ['leaf', root.certPem], rootPem: root.certPem,
    notBefore: new Date('2029-12-31T00:00:00Z'), notAfter: new Date(notAfter), serial: 'ab12',
  });
  const views = certificateViews({
    root: root.certPem,
    held: [
      { identity: 'spiffe://cluster.local/ns/shop/sa/b', material: undefined },
      { identity: 'spiffe://cluster.local/ns/shop/sa/a', material: leaf('2030-01-02T00:00:00Z') },
      { identity: 'spiffe://cluster.local/ns/shop/sa/c', material: leaf('2029-12-31T12:00:00Z') },
    ],
  }, now);
  assert.deepEqual(views.map((v) => [v.identity.replace('spiffe://cluster.local/ns/shop/sa/', ''), v.type, v.status, v.valid]), [
    ['a', 'Leaf', 'Available', true],
    ['a', 'Intermediate', 'Available', true],
    ['b', 'Leaf', 'Pending', false],
    ['c', 'Leaf', 'Expired', false],
    ['c', 'Intermediate', 'Available', true],
    ['ROOTCA', 'CA', 'Available', true],
  ]);
  assert.equal(views[0]?.not_after, '2030-01-02T00:00:00.000Z');
  assert.match(views[5]?.serial ?? '', /^[0-9a-f]+$/);
  assert.deepEqual(certificateViews({ root: undefined, held: [] }, now), []);
});
