// Bad configs, one problem each: the expected field path and message must be among the issues.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfigIssue } from '../../../src/config/model';
import { docs, echoSpec, loadText, serviceEntry, workloadEntry } from './helpers';

interface BadCase {
  readonly name: string;
  readonly yaml: string;
  /** Substring of the issue's field path; null = the issue has no field (file- or syntax-level). */
  readonly field: string | null;
  readonly message: string;
  /** Document index of the issue, when it matters. */
  readonly document?: number;
}

const se = (spec: Record<string, unknown>, meta: Record<string, unknown> = {}): string => docs(serviceEntry('echo', spec, meta));
const kernel = { labels: { 'nodemesh.io/dataplane': 'kernel' } };
const manyEndpoints = Array.from({ length: 65 }, (_, i) => ({ address: `127.0.1.${i + 1}` }));

const CASES: readonly BadCase[] = [
  // Syntax.
  { name: 'unclosed flow sequence', yaml: 'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nspec:\n  hosts: [a\n', field: null, message: 'malformed YAML' },
  { name: 'syntax error has a line', yaml: 'a: b\nc\n', field: null, message: 'line 2' },
  { name: 'duplicate YAML key', yaml: 'kind: ServiceEntry\nkind: WorkloadEntry\n', field: null, message: 'Map keys must be unique' },
  { name: 'syntax error in the second document', yaml: `${se(echoSpec())}---\nfoo: [\n`, field: null, message: 'malformed YAML', document: 1 },

  // Document type.
  { name: 'document is a list', yaml: '- a\n- b\n', field: null, message: 'must be a mapping with apiVersion and kind' },
  { name: 'missing kind', yaml: 'apiVersion: networking.istio.io/v1\nmetadata: {name: x}\n', field: 'kind', message: 'missing' },
  { name: 'missing apiVersion', yaml: 'kind: ServiceEntry\nmetadata: {name: x}\n', field: 'apiVersion', message: 'missing' },
  { name: 'unknown kind', yaml: 'apiVersion: networking.istio.io/v1\nkind: Frobnicator\nmetadata: {name: x}\n', field: 'kind', message: 'unknown kind "Frobnicator" in networking.istio.io (known: ServiceEntry' },
  { name: 'unknown apiVersion group', yaml: 'apiVersion: example.com/v1\nkind: ServiceEntry\n', field: 'apiVersion', message: 'unknown apiVersion "example.com/v1"' },
  { name: 'unknown version', yaml: 'apiVersion: networking.istio.io/v2\nkind: ServiceEntry\n', field: 'apiVersion', message: 'unknown version "v2"' },
  { name: 'kind in the wrong group', yaml: 'apiVersion: security.istio.io/v1\nkind: ServiceEntry\n', field: 'apiVersion', message: 'belongs to networking.istio.io' },
  { name: 'VirtualService without routes', yaml: 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x}\nspec: {hosts: [x]}\n', field: 'spec', message: 'must set http, tcp or tls routes' },
  { name: 'DestinationRule without spec', yaml: 'apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata: {name: x}\n', field: 'spec', message: 'required' },

  // Unknown fields, at any depth.
  { name: 'unknown top-level field', yaml: docs({ ...serviceEntry('echo', echoSpec()), specs: {} }), field: 'specs', message: 'unknown field (did you mean "spec"?)' },
  { name: 'unknown metadata field', yaml: se(echoSpec(), { nmespace: 'x' }), field: 'metadata.nmespace', message: 'unknown field' },
  { name: 'unknown spec field', yaml: se(echoSpec({ hostz: ['a'] })), field: 'spec.hostz', message: 'did you mean "hosts"' },
  {
    name: 'unknown port field deep',
    yaml: se(echoSpec({ ports: [{ number: 80, name: 'http' }, { nmber: 81, name: 'tcp' }] })),
    field: 'spec.ports[1].nmber',
    message: 'unknown field (did you mean "number"?)',
  },
  { name: 'unknown endpoint field', yaml: se(echoSpec({ endpoints: [{ address: '127.0.0.2', adress: 'x' }] })), field: 'spec.endpoints[0].adress', message: 'unknown field' },
  { name: 'unknown selector field', yaml: se(echoSpec({ endpoints: undefined, workloadSelector: { matchLabels: { a: 'b' } } })), field: 'spec.workloadSelector.matchLabels', message: 'unknown field' },
  { name: 'Istio field not implemented', yaml: docs({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'r' }, spec: { targetRef: { kind: 'Service', name: 'echo' } } }), field: 'spec.targetRef', message: 'not supported yet' },

  // Metadata.
  { name: 'name missing', yaml: docs({ apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: {}, spec: echoSpec() }), field: 'metadata.name', message: 'required' },
  { name: 'metadata missing', yaml: docs({ apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', spec: echoSpec() }), field: 'metadata', message: 'required' },
  { name: 'name not DNS-1123', yaml: docs(serviceEntry('Echo_1', echoSpec())), field: 'metadata.name', message: 'not a valid name' },
  { name: 'namespace with a dot', yaml: se(echoSpec(), { namespace: 'a.b' }), field: 'metadata.namespace', message: 'not a valid namespace' },
  { name: 'label value not a string', yaml: se(echoSpec(), { labels: { version: 1 } }), field: 'metadata.labels.version', message: 'must be a string' },
  { name: 'bad dataplane label', yaml: se(echoSpec(), { labels: { 'nodemesh.io/dataplane': 'ebpf' } }), field: 'metadata.labels["nodemesh.io/dataplane"]', message: 'must be one of proxy, kernel' },
  { name: 'unknown nodemesh label', yaml: se(echoSpec(), { labels: { 'nodemesh.io/dataplan': 'kernel' } }), field: 'metadata.labels["nodemesh.io/dataplan"]', message: 'unknown nodemesh label' },

  // ServiceEntry spec.
  { name: 'spec missing', yaml: docs({ apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name: 'x' } }), field: 'spec', message: 'required' },
  { name: 'spec not a mapping', yaml: docs(serviceEntry('echo', [] as unknown as Record<string, unknown>)), field: 'spec', message: 'must be a mapping' },
  { name: 'hosts missing', yaml: se(echoSpec({ hosts: undefined })), field: 'spec.hosts', message: 'required' },
  { name: 'hosts empty', yaml: se(echoSpec({ hosts: [] })), field: 'spec.hosts', message: 'must not be empty' },
  { name: 'host invalid', yaml: se(echoSpec({ hosts: ['bad host'] })), field: 'spec.hosts[0]', message: 'not a valid host' },
  { name: 'address is a CIDR', yaml: se(echoSpec({ addresses: ['10.0.0.0/24'] })), field: 'spec.addresses[0]', message: 'must be an IPv4 address' },
  { name: 'address is IPv6', yaml: se(echoSpec({ addresses: ['127.0.10.1', '::1'] })), field: 'spec.addresses[1]', message: 'must be an IPv4 address' },
  { name: 'bad port name', yaml: se(echoSpec({ ports: [{ number: 80, name: '@' }] })), field: 'spec.ports[0].name', message: 'not a valid port name' },
  { name: 'port 0', yaml: se(echoSpec({ ports: [{ number: 0, name: 'http' }] })), field: 'spec.ports[0].number', message: 'between 1 and 65535' },
  { name: 'port too large', yaml: se(echoSpec({ ports: [{ number: 65536, name: 'http' }] })), field: 'spec.ports[0].number', message: 'between 1 and 65535, got 65536' },
  { name: 'port not an integer', yaml: se(echoSpec({ ports: [{ number: 80.5, name: 'http' }] })), field: 'spec.ports[0].number', message: 'must be an integer' },
  { name: 'port as a string', yaml: se(echoSpec({ ports: [{ number: '80', name: 'http' }] })), field: 'spec.ports[0].number', message: 'must be an integer, got string "80"' },
  { name: 'port number missing', yaml: se(echoSpec({ ports: [{ name: 'http' }] })), field: 'spec.ports[0].number', message: 'required' },
  { name: 'targetPort out of range', yaml: se(echoSpec({ ports: [{ number: 80, name: 'http', targetPort: 70000 }] })), field: 'spec.ports[0].targetPort', message: 'between 1 and 65535' },
  { name: 'port name missing', yaml: se(echoSpec({ ports: [{ number: 80 }] })), field: 'spec.ports[0].name', message: 'required' },
  {
    name: 'duplicate port name',
    yaml: se(echoSpec({ ports: [{ number: 80, name: 'http' }, { number: 81, name: 'http' }] })),
    field: 'spec.ports[1].name',
    message: 'duplicate port name "http"',
  },
  {
    name: 'duplicate port number',
    yaml: se(echoSpec({ ports: [{ number: 80, name: 'http' }, { number: 80, name: 'tcp' }] })),
    field: 'spec.ports[1].number',
    message: 'duplicate port number 80',
  },
  { name: 'MONGO protocol', yaml: se(echoSpec({ ports: [{ number: 27017, name: 'mongo', protocol: 'MONGO' }] })), field: 'spec.ports[0].protocol', message: 'unsupported protocol "MONGO"' },
  { name: 'redis protocol', yaml: se(echoSpec({ ports: [{ number: 6379, name: 'kv', protocol: 'redis' }] })), field: 'spec.ports[0].protocol', message: 'unsupported protocol' },
  { name: 'made-up protocol', yaml: se(echoSpec({ ports: [{ number: 80, name: 'x', protocol: 'QUIC' }] })), field: 'spec.ports[0].protocol', message: 'unknown protocol "QUIC"' },
  { name: 'bad location', yaml: se(echoSpec({ location: 'INTERNAL' })), field: 'spec.location', message: 'must be one of MESH_INTERNAL, MESH_EXTERNAL' },
  { name: 'NONE resolution with endpoints', yaml: se(echoSpec({ resolution: 'NONE' })), field: 'spec.endpoints', message: 'resolution NONE takes no endpoints' },
  { name: 'DNS_ROUND_ROBIN with two endpoints', yaml: se(echoSpec({ resolution: 'DNS_ROUND_ROBIN', endpoints: [{ address: 'a.example' }, { address: 'b.example' }] })), field: 'spec.endpoints', message: 'at most one endpoint, got 2' },
  { name: 'DNS with a wildcard host and no endpoints', yaml: se(echoSpec({ resolution: 'DNS', hosts: ['*.example.com'], endpoints: undefined })), field: 'spec.hosts[0]', message: 'wildcard host *.example.com cannot be resolved' },
  { name: 'host name endpoint under STATIC', yaml: se(echoSpec({ endpoints: [{ address: 'db.example.com' }] })), field: 'spec.endpoints[0].address', message: 'is not an IPv4 address' },
  { name: 'wildcard endpoint under DNS', yaml: se(echoSpec({ resolution: 'DNS', endpoints: [{ address: '*.example.com' }] })), field: 'spec.endpoints[0].address', message: 'is a wildcard' },
  { name: 'bad endpoint name under DNS', yaml: se(echoSpec({ resolution: 'DNS', endpoints: [{ address: 'db_1.example.com' }] })), field: 'spec.endpoints[0].address', message: 'not a valid host' },
  { name: 'made-up resolution', yaml: se(echoSpec({ resolution: 'MAGIC' })), field: 'spec.resolution', message: 'must be one of' },
  { name: 'exportTo not a list', yaml: se(echoSpec({ exportTo: '*' })), field: 'spec.exportTo', message: 'must be a list' },

  // Endpoints and selection.
  { name: 'endpoint without address', yaml: se(echoSpec({ endpoints: [{ address: '127.0.0.2' }, { labels: { a: 'b' } }] })), field: 'spec.endpoints[1].address', message: 'required' },
  { name: 'endpoint address out of range', yaml: se(echoSpec({ endpoints: [{ address: '127.0.0.256' }] })), field: 'spec.endpoints[0].address', message: 'not an IPv4 address' },
  { name: 'endpoint address with leading zero', yaml: se(echoSpec({ endpoints: [{ address: '127.0.0.01' }] })), field: 'spec.endpoints[0].address', message: 'not an IPv4 address' },
  { name: 'endpoint address is a name', yaml: se(echoSpec({ endpoints: [{ address: 'db.example.com' }] })), field: 'spec.endpoints[0].address', message: 'not an IPv4 address' },
  { name: 'endpoint port unknown name', yaml: se(echoSpec({ endpoints: [{ address: '127.0.0.2', ports: { htp: 8080 } }] })), field: 'spec.endpoints[0].ports.htp', message: 'no port named "htp"' },
  { name: 'endpoint port out of range', yaml: se(echoSpec({ endpoints: [{ address: '127.0.0.2', ports: { http: 0 } }] })), field: 'spec.endpoints[0].ports.http', message: 'between 1 and 65535' },
  { name: 'endpoint weight 0', yaml: se(echoSpec({ endpoints: [{ address: '127.0.0.2', weight: 0 }] })), field: 'spec.endpoints[0].weight', message: 'between 1 and 4294967295' },
  { name: 'endpoint weight too large', yaml: se(echoSpec({ endpoints: [{ address: '127.0.0.2', weight: 2 ** 32 }] })), field: 'spec.endpoints[0].weight', message: 'between 1 and 4294967295' },
  { name: 'endpoints not a list', yaml: se(echoSpec({ endpoints: { address: '127.0.0.2' } })), field: 'spec.endpoints', message: 'must be a list' },
  { name: 'endpoints and selector together', yaml: se(echoSpec({ workloadSelector: { labels: { app: 'echo' } } })), field: 'spec.workloadSelector', message: 'cannot be used together with spec.endpoints' },
  { name: 'empty selector key', yaml: se(echoSpec({ endpoints: undefined, workloadSelector: { labels: { '': 'x' } } })), field: 'spec.workloadSelector.labels', message: 'empty label key' },
  { name: 'kernel mode over 64 endpoints', yaml: se(echoSpec({ endpoints: manyEndpoints }), kernel), field: 'spec.endpoints', message: 'at most 64 endpoints, got 65' },

  // WorkloadEntry.
  { name: 'workload without address', yaml: docs(workloadEntry('w', { labels: { app: 'x' } })), field: 'spec.address', message: 'required' },
  { name: 'workload bad address', yaml: docs(workloadEntry('w', { address: '10.1.2' })), field: 'spec.address', message: 'not an IPv4 address' },
  { name: 'workload unknown field', yaml: docs(workloadEntry('w', { address: '10.1.2.3', serviceaccount: 'sa' })), field: 'spec.serviceaccount', message: 'did you mean "serviceAccount"' },
  { name: 'workload dataplane label', yaml: docs(workloadEntry('w', { address: '10.1.2.3' }, { labels: { 'nodemesh.io/dataplane': 'kernel' } })), field: 'metadata.labels', message: 'unknown nodemesh label' },
  { name: 'workload bad service account', yaml: docs(workloadEntry('w', { address: '10.1.2.3', serviceAccount: 'Bad SA' })), field: 'spec.serviceAccount', message: 'not a valid name' },

  // Across documents.
  { name: 'duplicate ServiceEntry names', yaml: docs(serviceEntry('echo', echoSpec()), serviceEntry('echo', echoSpec({ addresses: ['127.0.10.9'] }))), field: 'metadata.name', message: 'duplicate ServiceEntry default/echo, already defined in mesh.yaml document 0', document: 1 },
  {
    name: 'duplicate WorkloadEntry names',
    yaml: docs(workloadEntry('w', { address: '10.1.2.3' }), workloadEntry('w', { address: '10.1.2.4' })),
    field: 'metadata.name',
    message: 'duplicate WorkloadEntry default/w',
  },
  {
    name: 'same VIP:port in two services',
    yaml: docs(serviceEntry('echo', echoSpec()), serviceEntry('other', echoSpec({ hosts: ['other.example'], addresses: ['127.0.10.1'] }))),
    field: 'spec.addresses[0]',
    message: 'address 127.0.10.1:80 is already claimed by ServiceEntry default/echo (mesh.yaml document 0)',
    document: 1,
  },
  {
    name: 'same host:port in two services',
    yaml: docs(serviceEntry('echo', echoSpec()), serviceEntry('other', echoSpec({ addresses: ['127.0.10.2'] }))),
    field: 'spec.hosts[0]',
    message: 'host echo.default.svc.cluster.local:80 is already claimed by ServiceEntry default/echo',
  },
  { name: 'duplicate address in one service', yaml: se(echoSpec({ addresses: ['127.0.10.1', '127.0.10.1/32'] })), field: 'spec.addresses[1]', message: 'duplicate address 127.0.10.1' },
  {
    name: 'two workloads with one address',
    yaml: docs(workloadEntry('a', { address: '10.1.2.3' }), workloadEntry('b', { address: '10.1.2.3' })),
    field: 'spec.address',
    message: 'address 10.1.2.3 is also used by WorkloadEntry default/a',
  },
  {
    // These two keys hash to the same FNV-1a value.
    name: 'service id collision',
    yaml: docs(serviceEntry('svc-4uzx', echoSpec()), serviceEntry('svc-f2ad', echoSpec({ hosts: ['b.example'], addresses: ['127.0.10.2'] }))),
    field: 'metadata.name',
    message: 'collides with ServiceEntry default/svc-4uzx',
  },

  // kind: List (kubectl get -o yaml of several objects).
  {
    name: 'error inside a List item',
    yaml: docs({ apiVersion: 'v1', kind: 'List', items: [serviceEntry('echo', echoSpec()), serviceEntry('bad', echoSpec({ ports: [{ number: 80, name: 'http', prot: 'HTTP' }] }))] }),
    field: 'items[1].spec.ports[0].prot',
    message: 'unknown field',
  },
];

function describeIssues(issues: readonly ConfigIssue[]): string {
  return issues.map((i) => `  [doc ${i.document}] ${i.field ?? '-'}: ${i.message}`).join('\n');
}

for (const c of CASES) {
  test(`rejects: ${c.name}`, () => {
    const r = loadText(c.yaml);
    assert.equal(r.ok, false, 'expected the config to be rejected');
    if (r.ok) return;
    const match = r.issues.find(
      (i) =>
        (c.field === null ? i.field === undefined : (i.field ?? '').includes(c.field)) &&
        i.message.includes(c.message) &&
        (c.document === undefined || i.document === c.document),
    );
    assert.ok(match, `no issue with field ${c.field ?? '(none)'} and message "${c.message}" in:\n${describeIssues(r.issues)}`);
    assert.equal(match.file, 'mesh.yaml');
  });
}

test('reports every problem, across documents, not only the first', () => {
  const r = loadText(
    docs(
      serviceEntry('a', echoSpec({ ports: [{ number: 0, name: 'http' }] })),
      serviceEntry('b', echoSpec({ hosts: ['b.example'], addresses: ['127.0.10.2'], resolution: 'MAGIC' })),
      workloadEntry('w', { address: 'nope' }),
    ) + '---\nkind: [\n',
  );
  assert.equal(r.ok, false);
  if (r.ok) return;
  const got = r.issues.map((i) => [i.document, i.field ?? null]);
  assert.deepEqual(got, [
    [0, 'spec.ports[0].number'],
    [1, 'spec.resolution'],
    [2, 'spec.address'],
    [3, null],
  ]);
});

test('issues name the kind and namespace/name when known', () => {
  const r = loadText(se(echoSpec({ location: 'x' }), { namespace: 'shop' }));
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(r.issues[0], {
    file: 'mesh.yaml',
    document: 0,
    kind: 'ServiceEntry',
    name: 'shop/echo',
    field: 'spec.location',
    message: 'must be one of MESH_INTERNAL, MESH_EXTERNAL, got "x"',
  });
});
