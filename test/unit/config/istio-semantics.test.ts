// Istio's behaviour for what real configs do: several VirtualServices or DestinationRules for one host,
// VirtualServices bound to gateways, header values with `%`, `:authority` set as a header, and the
// hint a host of no service gets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadText } from './helpers';
import { FIRST, REVIEWS_DR, dr, reviewsVs, to, vs, withServices } from './traffic-helpers';

function load(...objects: Record<string, unknown>[]) {
  const r = loadText(withServices(...objects));
  if (!r.ok) throw new Error(r.issues.map((i) => `[doc ${i.document}] ${i.field}: ${i.message}`).join('\n'));
  return r;
}

const warned = (r: ReturnType<typeof load>, doc: number, text: string): boolean =>
  r.warnings.some((w) => w.document === FIRST + doc && w.message.includes(text));

test('two VirtualServices for one host: the first in config order applies, the second is warned about', () => {
  const r = load(reviewsVs(to('reviews')), vs('other', { hosts: ['reviews.default.svc.cluster.local'], http: [to('ratings')] }));
  const vss = r.config.traffic?.virtualServices ?? [];
  assert.deepEqual(vss.find((v) => v.name === 'reviews')?.services, ['default/reviews']);
  assert.deepEqual(vss.find((v) => v.name === 'other')?.services, []);
  assert.ok(warned(r, 1, 'is already routed by VirtualService default/reviews'));
});

test('two DestinationRules for one host are merged: subsets added, the first traffic policy applies', () => {
  const r = load(
    dr('a', { host: 'reviews', trafficPolicy: { loadBalancer: { simple: 'RANDOM' } }, subsets: [{ name: 'v1', labels: { version: 'v1' } }] }),
    dr('b', { host: 'reviews', trafficPolicy: { loadBalancer: { simple: 'LEAST_REQUEST' } }, subsets: [{ name: 'v1', labels: { version: 'x' } }, { name: 'v2', labels: { version: 'v2' } }] }),
    reviewsVs(to('reviews', { subset: 'v2' })),
  );
  const rules = r.config.traffic?.destinationRules ?? [];
  assert.equal(rules.length, 1);
  assert.deepEqual(rules[0]?.subsets.map((s) => [s.name, s.labels.version]), [['v1', 'v1'], ['v2', 'v2']]);
  assert.deepEqual(rules[0]?.trafficPolicy?.loadBalancer, { simple: 'RANDOM' });
  assert.ok(warned(r, 1, 'merged into it as Istio does'));
});

test('a VirtualService for other gateways only is validated, warned about and not applied', () => {
  const r = load(vs('ingress', { hosts: ['*'], gateways: ['istio-system/ingress'], http: [to('reviews')] }));
  assert.deepEqual(r.config.traffic?.virtualServices, []);
  assert.ok(warned(r, 0, 'bound to gateways istio-system/ingress only: not served by the node agent'));
});

test('a VirtualService for the mesh and a gateway applies to the mesh, the gateway part is warned about', () => {
  const r = load(vs('both', { hosts: ['reviews'], gateways: ['mesh', 'ingress'], http: [to('ratings')] }));
  assert.deepEqual(r.config.traffic?.virtualServices.map((v) => v.services), [['default/reviews']]);
  assert.ok(warned(r, 0, 'the part for gateways ingress is not served'));
});

test('header values: %% is a literal %, and request.set[":authority"] rewrites the authority', () => {
  const r = load(REVIEWS_DR, reviewsVs({ ...to('reviews'), headers: { request: { set: { 'x-off': '50%% off', ':authority': 'reviews.internal' } } } }));
  const route = r.config.traffic?.virtualServices[0]?.http[0];
  assert.deepEqual(route?.headers?.request?.set, { 'x-off': '50% off' });
  assert.equal(route?.rewrite?.authority, 'reviews.internal');
});

test('weights are relative: 60 and 30 load as given', () => {
  const r = load(REVIEWS_DR, reviewsVs({ route: [{ destination: { host: 'reviews', subset: 'v1' }, weight: 60 }, { destination: { host: 'reviews', subset: 'v2' }, weight: 30 }] }));
  assert.deepEqual(r.config.traffic?.virtualServices[0]?.http[0]?.route?.map((w) => w.weight), [60, 30]);
});

test('a host of no service names the ServiceEntry (or Kubernetes Service) to add', () => {
  const r = loadText(withServices(reviewsVs(to('reviewz'))));
  assert.equal(r.ok, false);
  if (r.ok) return;
  const m = r.issues.map((i) => i.message).join('\n');
  assert.match(m, /host reviewz matches no ServiceEntry host; .*add a ServiceEntry with hosts: \[reviewz\.default\.svc\.cluster\.local\] and its ports \(or, with Kubernetes discovery, a Service reviewz in namespace default\)/);
});

test('Istio forms that load: UNSPECIFIED balancer, http2KeepAlive, delay.percent, a ServiceEntry without ports', () => {
  const r = load(
    dr('lb', { host: 'reviews', trafficPolicy: { loadBalancer: { simple: 'UNSPECIFIED' }, connectionPool: { http: { http2KeepAlive: { interval: '15s', timeout: '5s' } } } } }),
    reviewsVs({ ...to('reviews'), fault: { delay: { fixedDelay: '1s', percent: 10 } } }),
    { apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name: 'noports' }, spec: { hosts: ['*-api.example.org'], workloadSelector: {} } },
  );
  assert.deepEqual(r.config.traffic?.destinationRules[0]?.trafficPolicy?.loadBalancer, { simple: 'ROUND_ROBIN' });
  assert.equal(r.config.traffic?.virtualServices[0]?.http[0]?.fault?.delay?.percent, 10);
  assert.deepEqual(r.config.services.find((s) => s.name === 'noports')?.ports, []);
});

test('an unsupported field says what to do instead', () => {
  const r = loadText(withServices(reviewsVs({ ...to('reviews'), corsPolicy: { allowOrigins: [{ exact: '*' }] } })));
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.match(r.issues[0]?.message ?? '', /^field is not supported yet by this nodemesh version: CORS headers are not added: /);
});

test('dry-run with AUDIT and bad WorkloadEntry port names are refused', () => {
  const r = loadText(
    withServices(
      { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'a', annotations: { 'istio.io/dry-run': 'true' } }, spec: { action: 'AUDIT', rules: [{}] } },
      { apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: { name: 'w' }, spec: { address: '10.0.0.9', ports: { '@': 80 } } },
    ),
  );
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(
    r.issues.map((i) => [i.document - FIRST, i.field]),
    [
      [0, 'metadata.annotations.istio.io/dry-run'],
      [1, 'spec.ports["@"]'],
    ],
  );
});
