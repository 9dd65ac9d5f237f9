// Istio's ServiceEntry resolution default, one error per problem (duplicates, misspellings), and messages
// that say what to do: kinds nodemesh does not take, near misses, enum values in another case.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closest } from '../../../src/config/fields';
import type { ConfigIssue } from '../../../src/config/model';
import { docs, loadText, loadTexts, serviceEntry } from './helpers';

type Obj = Record<string, unknown>;

const HTTP = [{ number: 80, name: 'http' }];
const show = (list: readonly ConfigIssue[]): string => list.map((i) => `${i.field}: ${i.message}`).join('\n');

interface ResolutionCase {
  readonly name: string;
  readonly spec: Obj;
  readonly meta?: Obj;
  /** The service's resolution in the built config. */
  readonly want: string;
  /** A warning on this field matching MESSAGE; none on spec.resolution when absent. */
  readonly warning?: { readonly field: string; readonly message: RegExp };
}

const RESOLUTION: readonly ResolutionCase[] = [
  { name: 'hosts and ports only: NONE, as Istio', spec: { hosts: ['a.example.com'], ports: HTTP }, want: 'NONE' },
  { name: 'hosts, addresses and ports only: NONE', spec: { hosts: ['a.example.com'], addresses: ['10.96.0.7'], ports: HTTP }, want: 'NONE' },
  { name: 'an empty endpoints list: NONE', spec: { hosts: ['a.example.com'], ports: HTTP, endpoints: [] }, want: 'NONE' },
  {
    name: 'endpoints without resolution: STATIC, with what Istio says',
    spec: { hosts: ['a.example.com'], ports: HTTP, endpoints: [{ address: '10.1.0.1' }] },
    want: 'STATIC',
    warning: { field: 'spec.resolution', message: /^is missing: Istio refuses endpoints without a resolution .*; read as STATIC; write resolution: STATIC$/ },
  },
  {
    name: 'workloadSelector without resolution: STATIC, with a warning',
    spec: { hosts: ['a.example.com'], ports: HTTP, workloadSelector: { labels: { app: 'a' } } },
    want: 'STATIC',
    warning: { field: 'spec.resolution', message: /NONE, ignores the selected workloads.*write resolution: STATIC$/ },
  },
  { name: 'explicit STATIC with endpoints', spec: { hosts: ['a.example.com'], ports: HTTP, resolution: 'STATIC', endpoints: [{ address: '10.1.0.1' }] }, want: 'STATIC' },
  {
    name: 'explicit STATIC without endpoints stays STATIC',
    spec: { hosts: ['a.example.com'], ports: HTTP, resolution: 'STATIC' },
    want: 'STATIC',
    warning: { field: 'spec.endpoints', message: /service has no endpoints/ },
  },
  { name: 'explicit DNS', spec: { hosts: ['a.example.com'], ports: HTTP, resolution: 'DNS' }, want: 'DNS' },
  {
    name: 'kernel dataplane without endpoints: NONE cannot pass through',
    spec: { hosts: ['a.example.com'], addresses: ['10.96.0.7'], ports: HTTP },
    meta: { labels: { 'nodemesh.io/dataplane': 'kernel' } },
    want: 'NONE',
    warning: { field: 'spec.resolution', message: /does not work with the kernel dataplane.*resolution: STATIC/ },
  },
];

for (const c of RESOLUTION) {
  test(`ServiceEntry resolution: ${c.name}`, () => {
    const r = loadText(docs(serviceEntry('a', c.spec, c.meta)));
    assert.ok(r.ok, r.ok ? '' : show(r.issues));
    if (!r.ok) return;
    assert.equal(r.config.services[0]?.resolution ?? 'STATIC', c.want);
    const w = c.warning;
    if (w !== undefined) {
      assert.ok(r.warnings.some((i) => i.field === w.field && w.message.test(i.message)), show(r.warnings));
    } else {
      assert.deepEqual(r.warnings.filter((i) => i.field === 'spec.resolution' || i.field === 'spec.endpoints'), []);
    }
  });
}

const vs = (name: string, spec: Obj): Obj => ({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name, namespace: 'shop' }, spec });
const dr = (name: string, spec: Obj): Obj => ({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name, namespace: 'shop' }, spec });
const se = (name: string, host: string, vip: string): Obj =>
  serviceEntry(name, { hosts: [host], addresses: [vip], ports: HTTP, resolution: 'STATIC', endpoints: [{ address: '10.1.0.1', labels: { version: 'v1' } }] }, { namespace: 'shop' });
const routes = vs('reviews', {
  hosts: ['reviews'],
  http: [{ route: [{ destination: { host: 'reviews', subset: 'v1' } }] }, { route: [{ destination: { host: 'reviews' } }] }],
});
const subsets = (names: string[]): Obj => dr('reviews', { host: 'reviews.shop.svc.cluster.local', subsets: names.map((n) => ({ name: n, labels: { version: n } })) });

interface DuplicateCase {
  readonly name: string;
  /** File name → documents (files load in name order). */
  readonly files: Record<string, Obj[]>;
  /** Every issue, as `field: message` substrings, in order. */
  readonly want: readonly string[];
}

const DUPLICATES: readonly DuplicateCase[] = [
  {
    name: 'a ServiceEntry defined twice: the host of the dropped one is not reported again',
    files: {
      'a.yaml': [se('reviews', 'reviews2.shop.svc.cluster.local', '127.88.0.10')],
      'b.yaml': [se('reviews', 'reviews.shop.svc.cluster.local', '127.88.0.10'), routes, subsets(['v1'])],
    },
    want: ['metadata.name: duplicate ServiceEntry shop/reviews, already defined in a.yaml document 0'],
  },
  {
    name: 'a DestinationRule defined twice: a subset of the dropped one is not reported again',
    files: {
      'a.yaml': [se('reviews', 'reviews.shop.svc.cluster.local', '127.88.0.10'), subsets(['v2'])],
      'b.yaml': [subsets(['v1']), routes],
    },
    want: ['metadata.name: duplicate DestinationRule shop/reviews, already defined in a.yaml document 1'],
  },
  {
    name: 'a host that nothing defines is still reported next to a duplicate',
    files: {
      'a.yaml': [se('reviews', 'reviews2.shop.svc.cluster.local', '127.88.0.10')],
      'b.yaml': [se('reviews', 'reviews.shop.svc.cluster.local', '127.88.0.10'), vs('other', { hosts: ['nothere'], http: [{ route: [{ destination: { host: 'nothere' } }] }] })],
    },
    want: ['metadata.name: duplicate ServiceEntry', 'spec.hosts[0]: host nothere matches no ServiceEntry host', 'destination.host: host nothere matches no ServiceEntry host'],
  },
];

for (const c of DUPLICATES) {
  test(`duplicates: ${c.name}`, () => {
    const r = loadTexts(Object.fromEntries(Object.entries(c.files).map(([f, list]) => [f, docs(...list)])));
    assert.equal(r.ok, false);
    if (r.ok) return;
    const got = r.issues.map((i) => `${i.field}: ${i.message}`);
    assert.equal(got.length, c.want.length, got.join('\n'));
    c.want.forEach((w, i) => assert.ok(got[i]!.includes(w), `${got[i]} should include ${w}`));
  });
}

interface MessageCase {
  readonly name: string;
  readonly yaml: string;
  readonly field: string;
  readonly message: RegExp;
  /** How many issues the whole config has (one problem, one error). */
  readonly count?: number;
}

const doc = (apiVersion: string, kind: string, spec: Obj = {}): string => docs({ apiVersion, kind, metadata: { name: 'x', namespace: 'shop' }, spec });
const goodSpec = (over: Obj = {}): Obj => ({ hosts: ['a.example.com'], addresses: ['10.96.0.7'], ports: HTTP, resolution: 'STATIC', endpoints: [{ address: '10.1.0.1' }], ...over });
const route = (over: Obj): string =>
  docs(serviceEntry('a', goodSpec(), { namespace: 'shop' }), vs('a', { hosts: ['a.example.com'], http: [{ route: [{ destination: { host: 'a.example.com' } }], ...over }] }));

const MESSAGES: readonly MessageCase[] = [
  // Near misses: kinds and fields, one mechanism.
  { name: 'misspelled kind', yaml: doc('networking.istio.io/v1', 'VirtualSevice'), field: 'kind', message: /^unknown kind "VirtualSevice" in networking.istio.io \(did you mean "VirtualService"\?\)$/, count: 1 },
  { name: 'misspelled kind in another case', yaml: doc('security.istio.io/v1', 'Authorizationpolicy'), field: 'kind', message: /did you mean "AuthorizationPolicy"/ },
  { name: 'singular of a plural field', yaml: route({ retry: { attempts: 2 } }), field: 'spec.http[0].retry', message: /^unknown field \(did you mean "retries"\?\)$/, count: 1 },
  { name: 'one letter off', yaml: route({ timout: '1s' }), field: 'spec.http[0].timout', message: /did you mean "timeout"/, count: 1 },
  { name: 'plural of a field', yaml: docs(serviceEntry('a', goodSpec({ endpoints: undefined, endpoint: [{ address: '10.1.0.1' }] }))), field: 'spec.endpoint', message: /did you mean "endpoints"/ },
  // A near miss of a required field is said once, not also as missing.
  { name: 'misspelled required field', yaml: docs(serviceEntry('a', goodSpec({ ports: [{ nmber: 80, name: 'http' }] }))), field: 'spec.ports[0].nmber', message: /did you mean "number"/, count: 1 },
  { name: 'misspelled hosts', yaml: docs(serviceEntry('a', goodSpec({ hosts: undefined, hots: ['a.example.com'] }))), field: 'spec.hots', message: /did you mean "hosts"/, count: 1 },
  { name: 'misspelled route action', yaml: docs(serviceEntry('a', goodSpec()), vs('a', { hosts: ['a.example.com'], http: [{ rout: [{ destination: { host: 'a.example.com' } }] }] })), field: 'spec.http[0].rout', message: /did you mean "route"/, count: 1 },
  // Kinds nodemesh does not take: what to do instead.
  { name: 'Gateway', yaml: doc('networking.istio.io/v1', 'Gateway'), field: 'kind', message: /^Gateway is not supported: ingress and egress gateways keep running as they are/, count: 1 },
  { name: 'Sidecar', yaml: doc('networking.istio.io/v1beta1', 'Sidecar'), field: 'kind', message: /^Sidecar is not needed: .*capture is per namespace label \(istio\.io\/dataplane-mode=ambient\)/ },
  { name: 'EnvoyFilter', yaml: doc('networking.istio.io/v1alpha3', 'EnvoyFilter'), field: 'kind', message: /^EnvoyFilter is not supported: there is no Envoy here/ },
  { name: 'WorkloadGroup', yaml: doc('networking.istio.io/v1', 'WorkloadGroup'), field: 'kind', message: /write a WorkloadEntry per workload/ },
  { name: 'WasmPlugin', yaml: doc('extensions.istio.io/v1alpha1', 'WasmPlugin'), field: 'kind', message: /no Envoy here/ },
  { name: 'Gateway API route', yaml: doc('gateway.networking.k8s.io/v1', 'HTTPRoute'), field: 'kind', message: /Gateway API objects are not read: .*VirtualService/ },
  { name: 'Kubernetes Service', yaml: doc('v1', 'Service'), field: 'kind', message: /^Kubernetes Services are discovered from the API server: leave it out \(with --no-kubernetes, write a ServiceEntry\)$/, count: 1 },
  { name: 'Kubernetes Pod', yaml: doc('v1', 'Pod'), field: 'kind', message: /with --no-kubernetes, write a WorkloadEntry/ },
  { name: 'apiVersion without a version', yaml: doc('networking.istio.io', 'Frob'), field: 'apiVersion', message: /^unknown apiVersion "networking.istio.io"$/ },
  { name: 'other Kubernetes object', yaml: doc('apps/v1', 'Deployment'), field: 'apiVersion', message: /^unknown apiVersion "apps\/v1": Kubernetes objects are not read from the config/ },
  // What to write instead.
  { name: 'STATIC endpoint given as a host name', yaml: docs(serviceEntry('a', goodSpec({ endpoints: [{ address: 'db.example.com' }] }))), field: 'spec.endpoints[0].address', message: /is not an IPv4 address \(a host name needs resolution: DNS\)$/ },
  { name: 'endpoint host name without resolution', yaml: docs(serviceEntry('a', goodSpec({ resolution: undefined, endpoints: [{ address: 'db.example.com' }] }))), field: 'spec.endpoints[0].address', message: /needs resolution: DNS/ },
  { name: 'retries without attempts', yaml: route({ retries: { perTryTimeout: '1s' } }), field: 'spec.http[0].retries.attempts', message: /^required field is missing: write attempts: N.*attempts: 2; 0 turns retries off/, count: 1 },
];

for (const c of MESSAGES) {
  test(`messages: ${c.name}`, () => {
    const r = loadText(c.yaml);
    assert.equal(r.ok, false);
    if (r.ok) return;
    const hit = r.issues.find((i) => i.field === c.field);
    assert.ok(hit, show(r.issues));
    assert.match(hit.message, c.message);
    if (c.count !== undefined) assert.equal(r.issues.length, c.count, show(r.issues));
  });
}

interface CaseCase {
  readonly name: string;
  readonly yaml: string;
  readonly field: string;
  readonly canonical: string;
}

const policy = (kind: string, spec: Obj): string => docs({ apiVersion: 'security.istio.io/v1', kind, metadata: { name: 'p', namespace: 'shop' }, spec });
const CASES: readonly CaseCase[] = [
  { name: 'AuthorizationPolicy action', yaml: policy('AuthorizationPolicy', { action: 'allow' }), field: 'spec.action', canonical: 'ALLOW' },
  { name: 'PeerAuthentication mode', yaml: policy('PeerAuthentication', { mtls: { mode: 'Strict' } }), field: 'spec.mtls.mode', canonical: 'STRICT' },
  { name: 'ServiceEntry resolution', yaml: docs(serviceEntry('a', goodSpec({ resolution: 'static' }))), field: 'spec.resolution', canonical: 'STATIC' },
  { name: 'ServiceEntry location', yaml: docs(serviceEntry('a', goodSpec({ location: 'mesh_external' }))), field: 'spec.location', canonical: 'MESH_EXTERNAL' },
  {
    name: 'DestinationRule loadBalancer',
    yaml: docs(serviceEntry('a', goodSpec(), { namespace: 'shop' }), dr('a', { host: 'a.example.com', trafficPolicy: { loadBalancer: { simple: 'least_request' } } })),
    field: 'spec.trafficPolicy.loadBalancer.simple',
    canonical: 'LEAST_REQUEST',
  },
  {
    name: 'DestinationRule tls mode',
    yaml: docs(serviceEntry('a', goodSpec(), { namespace: 'shop' }), dr('a', { host: 'a.example.com', trafficPolicy: { tls: { mode: 'Disable' } } })),
    field: 'spec.trafficPolicy.tls.mode',
    canonical: 'DISABLE',
  },
];

for (const c of CASES) {
  test(`enum case: ${c.name} is read, with a warning naming Istio's spelling`, () => {
    const r = loadText(c.yaml);
    assert.ok(r.ok, r.ok ? '' : show(r.issues));
    if (!r.ok) return;
    const hit = r.warnings.find((i) => i.field === c.field);
    assert.ok(hit, show(r.warnings));
    assert.match(hit.message, new RegExp(`is read as ${c.canonical}, but Istio refuses it: write ${c.canonical}$`));
    const exact = loadText(c.yaml.replace(/: (allow|Strict|static|mesh_external|least_request|Disable)$/m, `: ${c.canonical}`));
    assert.ok(exact.ok && !exact.warnings.some((i) => i.field === c.field), exact.ok ? show(exact.warnings) : show(exact.issues));
  });
}

const NEAR: readonly [string, readonly string[], string | undefined][] = [
  ['retry', ['route', 'rewrite', 'retries', 'redirect'], 'retries'],
  ['timout', ['timeout', 'retries'], 'timeout'],
  ['hots', ['hosts', 'ports'], 'hosts'],
  ['adress', ['address', 'addresses'], 'address'],
  ['VirtualSevice', ['ServiceEntry', 'VirtualService'], 'VirtualService'],
  ['maxConection', ['maxConnections', 'connectTimeout'], 'maxConnections'],
  ['xyz', ['hosts', 'ports'], undefined],
  ['retry', ['rules'], undefined],
];

test('closest: the known name a key is a misspelling of', () => {
  for (const [key, known, want] of NEAR) assert.equal(closest(key, known), want, `${key} in ${known.join(', ')}`);
});
