// API JSON → trimmed objects: what is kept, every reason an object is skipped, the API's condition
// defaults, Istio's owner-chain workload names, and that no input at all makes trimObject throw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trimObject } from '../../../src/discovery/trim';
import { workloadOf } from '../../../src/discovery/owner';
import type { KEndpointSlice, KKind, KNode, KObject, KPod, KService } from '../../../src/discovery/objects';

type Raw = Record<string, unknown>;

/** Real API JSON as a watch event carries it. */
function service(over: Raw = {}, spec: Raw = {}): Raw {
  return {
    kind: 'Service',
    apiVersion: 'v1',
    metadata: { name: 'reviews', namespace: 'shop', uid: 'u-1', resourceVersion: '42', labels: { app: 'reviews' }, creationTimestamp: '2024-01-01T00:00:00Z' },
    spec: {
      type: 'ClusterIP',
      clusterIP: '10.96.0.10',
      clusterIPs: ['10.96.0.10'],
      ipFamilies: ['IPv4'],
      selector: { app: 'reviews' },
      ports: [
        { name: 'http', port: 80, protocol: 'TCP', targetPort: 'http' },
        { name: 'grpc', port: 9090, protocol: 'TCP', targetPort: 9091, appProtocol: 'grpc' },
      ],
      ...spec,
    },
    status: { loadBalancer: {} },
    ...over,
  };
}

function slice(over: Raw = {}, endpoints?: unknown[]): Raw {
  return {
    kind: 'EndpointSlice',
    apiVersion: 'discovery.k8s.io/v1',
    metadata: { name: 'reviews-abc12', namespace: 'shop', uid: 'u-2', resourceVersion: '43', labels: { 'kubernetes.io/service-name': 'reviews', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'grpc', port: 9091, protocol: 'TCP' }],
    endpoints: endpoints ?? [
      { addresses: ['10.1.0.5'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'node-a', zone: 'z1', targetRef: { kind: 'Pod', namespace: 'shop', name: 'reviews-7d9f8-abcde', uid: 'p-1' } },
    ],
    ...over,
  };
}

function pod(over: Raw = {}, meta: Raw = {}, spec: Raw = {}, status: Raw = {}): Raw {
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: {
      name: 'reviews-7d9f8-abcde',
      generateName: 'reviews-7d9f8-',
      namespace: 'shop',
      uid: 'p-1',
      resourceVersion: '44',
      labels: { app: 'reviews', 'pod-template-hash': '7d9f8' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'reviews-7d9f8', uid: 'rs-1', controller: true, blockOwnerDeletion: true }],
      ...meta,
    },
    spec: { nodeName: 'node-a', serviceAccountName: 'bookinfo-reviews', containers: [{ name: 'app', image: 'reviews:1' }], ...spec },
    status: { phase: 'Running', qosClass: 'Burstable', podIP: '10.1.0.5', podIPs: [{ ip: '10.1.0.5' }], ...status },
    ...over,
  };
}

function node(addresses: unknown[] = [{ type: 'InternalIP', address: '192.168.1.10' }, { type: 'Hostname', address: 'node-a' }]): Raw {
  return { kind: 'Node', apiVersion: 'v1', metadata: { name: 'node-a', uid: 'n-1', resourceVersion: '7', labels: { 'kubernetes.io/hostname': 'node-a' } }, status: { addresses } };
}

function ok<T extends KObject>(kind: KKind, raw: unknown): T {
  const r = trimObject(kind, raw);
  if (!('ok' in r)) throw new Error(`expected ${kind} to be kept, skipped: ${r.skip}`);
  return r.ok as T;
}

test('a Service keeps its cluster IPs, TCP ports, appProtocol and targetPort by number or name', () => {
  const s = ok<KService>('Service', service());
  assert.deepEqual(s.meta, { name: 'reviews', namespace: 'shop', uid: 'u-1', resourceVersion: '42', labels: { app: 'reviews' } });
  assert.deepEqual(s.clusterIPs, ['10.96.0.10']);
  assert.equal(s.headless, false);
  assert.deepEqual(s.ports, [
    { name: 'http', port: 80, protocol: 'TCP', appProtocol: undefined, targetPort: 'http' },
    { name: 'grpc', port: 9090, protocol: 'TCP', appProtocol: 'grpc', targetPort: 9091 },
  ]);
});

test('a headless Service has no cluster IP; UDP and SCTP ports are dropped; a dual-stack Service keeps its IPv4', () => {
  const h = ok<KService>('Service', service({}, { clusterIP: 'None', clusterIPs: ['None'] }));
  assert.equal(h.headless, true);
  assert.deepEqual(h.clusterIPs, []);
  const dns = ok<KService>('Service', service({}, {
    ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }, { name: 'sctp', port: 9, protocol: 'SCTP' }],
  }));
  assert.deepEqual(dns.ports.map((p) => p.name), ['dns-tcp']);
  assert.equal(dns.ports[0].targetPort, 53, 'absent targetPort = the port');
  const dual = ok<KService>('Service', service({}, { clusterIP: 'fd00::10', clusterIPs: ['fd00::10', '10.96.0.10'] }));
  assert.deepEqual(dual.clusterIPs, ['10.96.0.10']);
  const old = ok<KService>('Service', service({}, { clusterIPs: undefined }));
  assert.deepEqual(old.clusterIPs, ['10.96.0.10'], 'clusterIP alone (objects before dual-stack)');
});

test('an EndpointSlice keeps its IPv4 endpoints, TCP ports, conditions and pod references', () => {
  const s = ok<KEndpointSlice>('EndpointSlice', slice());
  assert.equal(s.service, 'reviews');
  assert.deepEqual(s.ports, [
    { name: 'http', port: 8080, protocol: 'TCP', appProtocol: undefined },
    { name: 'grpc', port: 9091, protocol: 'TCP', appProtocol: undefined },
  ]);
  assert.deepEqual(s.endpoints, [
    { addresses: ['10.1.0.5'], ready: true, serving: true, terminating: false, nodeName: 'node-a', zone: 'z1', pod: { namespace: 'shop', name: 'reviews-7d9f8-abcde' } },
  ]);
  const bare = ok<KEndpointSlice>('EndpointSlice', slice({ ports: null }, [{ addresses: ['10.1.0.6'], targetRef: { kind: 'Node', name: 'x' } }, { addresses: [] }]));
  assert.deepEqual(bare.ports, [], 'ports: null (a Service without ports) is allowed');
  assert.equal(bare.endpoints.length, 1, 'an endpoint without addresses is dropped');
  assert.equal(bare.endpoints[0].pod, undefined, 'only Pod targets are pods');
});

// discovery.k8s.io/v1: ready nil = ready; serving nil = as ready; terminating nil = false.
const CONDITIONS: readonly [string, Raw | undefined, [boolean, boolean, boolean]][] = [
  ['absent', undefined, [true, true, false]],
  ['empty', {}, [true, true, false]],
  ['ready only', { ready: true }, [true, true, false]],
  ['not ready, serving unset', { ready: false }, [false, false, false]],
  ['terminating, still serving', { ready: false, serving: true, terminating: true }, [false, true, true]],
  ['terminating, serving unset', { ready: false, terminating: true }, [false, false, true]],
  ['terminating, not serving', { ready: false, serving: false, terminating: true }, [false, false, true]],
  ['nulls', { ready: null, serving: null, terminating: null }, [true, true, false]],
];

for (const [name, conditions, [ready, serving, terminating]] of CONDITIONS) {
  test(`endpoint conditions ${name}: ready=${ready} serving=${serving} terminating=${terminating}`, () => {
    const s = ok<KEndpointSlice>('EndpointSlice', slice({}, [{ addresses: ['10.1.0.5'], ...(conditions === undefined ? {} : { conditions }) }]));
    const e = s.endpoints[0];
    assert.deepEqual([e.ready, e.serving, e.terminating], [ready, serving, terminating]);
  });
}

test('a Pod keeps node, service account, IPv4 IPs, phase, QoS class and its workload', () => {
  const p = ok<KPod>('Pod', pod({}, {}, {}, { podIP: 'fd00::5', podIPs: [{ ip: 'fd00::5' }, { ip: '10.1.0.5' }] }));
  assert.equal(p.node, 'node-a');
  assert.equal(p.serviceAccount, 'bookinfo-reviews');
  assert.deepEqual(p.ips, ['10.1.0.5']);
  assert.equal(p.phase, 'Running');
  assert.equal(p.qosClass, 'Burstable');
  assert.equal(p.hostNetwork, false);
  assert.deepEqual([p.workload, p.workloadKind], ['reviews', 'Deployment']);
  const fresh = ok<KPod>('Pod', pod({ status: undefined }, {}, { nodeName: undefined }));
  assert.deepEqual([fresh.node, fresh.ips, fresh.phase], ['', [], ''], 'an unscheduled pod without status');
  assert.equal(ok<KPod>('Pod', pod({}, {}, { hostNetwork: true })).hostNetwork, true);
});

test('a Node keeps its IPv4 InternalIP addresses only', () => {
  const n = ok<KNode>('Node', node([
    { type: 'ExternalIP', address: '203.0.113.7' },
    { type: 'InternalIP', address: 'fd00::a' },
    { type: 'InternalIP', address: '192.168.1.10' },
    { type: 'InternalIP', address: '192.168.1.10' },
    { type: 'Hostname', address: 'node-a' },
  ]));
  assert.deepEqual(n.internalIPs, ['192.168.1.10']);
  assert.deepEqual(ok<KNode>('Node', { metadata: { name: 'bare' } }).internalIPs, []);
  assert.equal(ok<KObject>('Namespace', { metadata: { name: 'shop', labels: { 'istio.io/dataplane-mode': 'ambient' } } }).meta.labels['istio.io/dataplane-mode'], 'ambient');
});

test('unknown fields are ignored, and the client library copies (undefined fields, Dates, no kind) read the same', () => {
  const withExtras = { ...service(), futureField: { x: 1 }, spec: { ...(service().spec as Raw), newSetting: true } };
  assert.deepEqual(ok<KService>('Service', withExtras), ok<KService>('Service', service()));
  // What a list returns after deserialization: class instances without kind/apiVersion, absent fields
  // present as undefined, timestamps as Dates.
  const copied = pod({ kind: undefined, apiVersion: undefined }, { creationTimestamp: new Date(0), annotations: undefined, deletionTimestamp: undefined }, { hostNetwork: undefined });
  assert.deepEqual(ok<KPod>('Pod', copied), ok<KPod>('Pod', pod()));
});

const long = (n: number, c = 'a'): string => c.repeat(n);
const manyLabels = Object.fromEntries(Array.from({ length: 513 }, (_, i) => [`l${i}`, 'v']));

/** [kind, what, input, part of the reason]: each way an object is skipped. */
const SKIPS: readonly [KKind, string, unknown, string][] = [
  ['Pod', 'null', null, 'not an object'],
  ['Pod', 'a list', [pod()], 'not an object'],
  ['Pod', 'a string', 'pod', 'not an object'],
  ['Pod', 'another kind', pod({ kind: 'Service' }), 'kind string "Service" where Pod was expected'],
  ['EndpointSlice', 'a newer apiVersion', slice({ apiVersion: 'discovery.k8s.io/v2' }), 'apiVersion string "discovery.k8s.io/v2" is not supported'],
  ['EndpointSlice', 'an older apiVersion', slice({ apiVersion: 'discovery.k8s.io/v1beta1' }), 'is not supported'],
  ['Service', 'a newer core version', service({ apiVersion: 'v2' }), 'apiVersion string "v2"'],
  ['Pod', 'no metadata', pod({ metadata: undefined }), 'metadata is missing'],
  ['Pod', 'metadata not a mapping', pod({ metadata: 'x' }), 'metadata must be a mapping'],
  ['Pod', 'no name', pod({}, { name: undefined }), 'metadata.name is missing'],
  ['Pod', 'a name of the wrong type', pod({}, { name: 7 }), 'metadata.name must be a string'],
  ['Pod', 'an invalid name', pod({}, { name: 'Bad_Name' }), 'is not a valid name'],
  ['Pod', 'a huge name', pod({}, { name: long(1_000_000) }), 'a 1000000-character string'],
  ['Pod', 'a NUL in the name', pod({}, { name: 'a\u0000b' }), 'is not a valid name'],
  ['Pod', 'no namespace', pod({}, { namespace: undefined }), 'metadata.namespace is missing'],
  ['Pod', 'an invalid namespace', pod({}, { namespace: 'a.b' }), 'is not a valid namespace'],
  ['Pod', 'a uid of the wrong type', pod({}, { uid: 5 }), 'metadata.uid must be a string'],
  ['Pod', 'a NUL in the resourceVersion', pod({}, { resourceVersion: '1\u00002' }), 'metadata.resourceVersion contains a control character'],
  ['Pod', 'labels not a mapping', pod({}, { labels: ['a'] }), 'metadata.labels must be a mapping'],
  ['Pod', 'too many labels', pod({}, { labels: manyLabels }), 'has 513 labels, more than 512'],
  ['Pod', 'a label key too long', pod({}, { labels: { [`${long(253)}/${long(64)}`]: 'v' } }), 'characters long'],
  ['Pod', 'a label name too long', pod({}, { labels: { [long(64)]: 'v' } }), 'is not a valid label name'],
  ['Pod', 'a label prefix invalid', pod({}, { labels: { 'Example.com/x': 'v' } }), 'has an invalid prefix'],
  ['Pod', 'a label value too long', pod({}, { labels: { app: long(64) } }), 'is 64 characters long, more than 63'],
  ['Pod', 'a NUL in a label value', pod({}, { labels: { app: 'a\u0000b' } }), 'is not a valid label value'],
  ['Pod', 'a label value not a string', pod({}, { labels: { app: 1 } }), 'must be a string, got number 1'],
  ['Pod', 'a prototype label key', pod({}, { labels: JSON.parse('{"__proto__": "x"}') }), 'is not a valid label name'],
  ['Pod', 'no spec', pod({ spec: undefined }), 'spec is missing'],
  ['Pod', 'an invalid nodeName', pod({}, {}, { nodeName: 'Node A' }), 'spec.nodeName'],
  ['Pod', 'hostNetwork not a boolean', pod({}, {}, { hostNetwork: 'yes' }), 'spec.hostNetwork must be true or false'],
  ['Pod', 'status not a mapping', pod({ status: 3 }), 'status must be a mapping'],
  ['Pod', 'podIPs not a list', pod({}, {}, {}, { podIPs: { ip: '10.1.0.5' } }), 'status.podIPs must be a list'],
  ['Pod', 'a podIP of the wrong type', pod({}, {}, {}, { podIP: 167837957 }), 'status.podIP must be a string'],
  ['Pod', 'a control character in the phase', pod({}, {}, {}, { phase: 'Run\nning' }), 'status.phase contains a control character'],
  ['Pod', 'ownerReferences not a list', pod({}, { ownerReferences: {} }), 'metadata.ownerReferences must be a list'],
  ['Pod', 'an owner without a mapping', pod({}, { ownerReferences: [null] }), 'metadata.ownerReferences[0] is empty'],
  ['Pod', 'an owner controller not a boolean', pod({}, { ownerReferences: [{ kind: 'ReplicaSet', name: 'x', controller: 'true' }] }), 'controller must be true or false'],
  ['Service', 'no spec', service({ spec: null }), 'spec is missing'],
  ['Service', 'ExternalName', service({}, { type: 'ExternalName', externalName: 'db.example.com', clusterIP: undefined, clusterIPs: undefined }), 'ExternalName'],
  ['Service', 'an unknown type', service({}, { type: 'Magic' }), 'spec.type string "Magic" is unknown'],
  ['Service', 'no cluster IP yet', service({}, { clusterIP: '', clusterIPs: undefined }), 'no cluster IP allocated'],
  ['Service', 'IPv6 only', service({}, { clusterIP: 'fd00::10', clusterIPs: ['fd00::10'] }), 'no IPv4 cluster IP (fd00::10)'],
  ['Service', 'more than two cluster IPs', service({}, { clusterIPs: ['10.96.0.1', '10.96.0.2', '10.96.0.3'] }), 'spec.clusterIPs has 3 items'],
  ['Service', 'an invalid Service name', service({ metadata: { name: 'a.b', namespace: 'shop' } }), 'is not a DNS-1123 label'],
  ['Service', 'ports not a list', service({}, { ports: 'http' }), 'spec.ports must be a list'],
  ['Service', 'a port out of range', service({}, { ports: [{ name: 'x', port: 70000 }] }), 'spec.ports[0].port must be an integer 1-65535'],
  ['Service', 'a port as a string', service({}, { ports: [{ name: 'x', port: '80' }] }), 'spec.ports[0].port must be an integer'],
  ['Service', 'a port without a number', service({}, { ports: [{ name: 'x' }] }), 'spec.ports[0].port is missing'],
  ['Service', 'a repeated port name', service({}, { ports: [{ name: 'x', port: 80 }, { name: 'x', port: 81 }] }), 'repeats port name "x"'],
  ['Service', 'a repeated port number', service({}, { ports: [{ name: 'x', port: 80 }, { name: 'y', port: 80 }] }), 'repeats port TCP 80'],
  ['Service', 'UDP ports only', service({}, { ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] }), 'no TCP port'],
  ['Service', 'no ports', service({}, { ports: [] }), 'no TCP port'],
  ['Service', 'an invalid targetPort name', service({}, { ports: [{ name: 'x', port: 80, targetPort: 'Not A Name' }] }), 'spec.ports[0].targetPort'],
  ['Service', 'a targetPort out of range', service({}, { ports: [{ name: 'x', port: 80, targetPort: -1 }] }), 'spec.ports[0].targetPort must be an integer'],
  ['Service', 'a NUL in appProtocol', service({}, { ports: [{ name: 'x', port: 80, appProtocol: 'h\u0000' }] }), 'appProtocol contains a control character'],
  ['EndpointSlice', 'no addressType', slice({ addressType: undefined }), 'addressType is missing'],
  ['EndpointSlice', 'IPv6', slice({ addressType: 'IPv6' }), 'addressType IPv6 is not captured'],
  ['EndpointSlice', 'FQDN', slice({ addressType: 'FQDN' }), 'addressType FQDN is not captured'],
  ['EndpointSlice', 'no service-name label', slice({ metadata: { name: 's', namespace: 'shop', labels: {} } }), 'no kubernetes.io/service-name label'],
  ['EndpointSlice', 'too many endpoints', slice({}, Array.from({ length: 1001 }, () => ({ addresses: ['10.1.0.5'] }))), 'endpoints has 1001 items, more than 1000'],
  ['EndpointSlice', 'an address that is not IPv4', slice({}, [{ addresses: ['10.1.0.300'] }]), 'endpoints[0].addresses[0]'],
  ['EndpointSlice', 'a condition of the wrong type', slice({}, [{ addresses: ['10.1.0.5'], conditions: { ready: 'true' } }]), 'endpoints[0].conditions.ready must be true or false'],
  ['EndpointSlice', 'a repeated port name', slice({ ports: [{ name: 'a', port: 1 }, { name: 'a', port: 2 }] }), 'ports[1] repeats port name "a"'],
  ['EndpointSlice', 'an endpoint that is not a mapping', slice({}, ['10.1.0.5']), 'endpoints[0] must be a mapping'],
  ['Node', 'an address that is not a mapping', node(['192.168.1.10']), 'status.addresses[0] must be a mapping'],
  ['Namespace', 'an invalid namespace name', { metadata: { name: 'a.b' } }, 'is not a valid namespace'],
  ['Bogus' as KKind, 'an unknown kind', pod(), 'unknown kind'],
];

for (const [kind, what, raw, reason] of SKIPS) {
  test(`${kind} with ${what} is skipped: ${reason}`, () => {
    const r = trimObject(kind, raw);
    assert.ok('skip' in r, `expected a skip, got ${JSON.stringify(r).slice(0, 200)}`);
    assert.ok(r.skip.includes(reason), r.skip);
    assert.ok(r.skip.length < 400, `the reason stays short for the log (${r.skip.length} characters)`);
  });
}

test('an object whose fields cannot be read (a throwing getter) is skipped, not thrown', () => {
  const raw = pod();
  Object.defineProperty(raw, 'spec', { get: () => { throw new Error('boom'); }, enumerable: true });
  assert.deepEqual(trimObject('Pod', raw), { skip: 'could not be read: boom' });
  const hostile = new Proxy({}, { get: () => { throw 'not an Error'; }, ownKeys: () => { throw new Error('x'); } });
  assert.deepEqual(trimObject('Service', hostile), { skip: 'could not be read: not an Error' });
  const unprintable = new Proxy({}, { getPrototypeOf: () => { throw new Error('no'); }, get: () => { throw new Error('no'); } });
  const worse = pod();
  Object.defineProperty(worse, 'spec', { get: () => { throw unprintable; }, enumerable: true });
  assert.deepEqual(trimObject('Pod', worse), { skip: 'could not be read' });
});

/** Istio's owner-chain rule: [what, pod name, labels, owners, expected name, expected kind]. */
const OWNERS: readonly [string, string, Record<string, string>, { kind: string; name: string; controller: boolean }[], string, string][] = [
  ['Deployment (ReplicaSet <name>-<pod-template-hash>)', 'web-5d9c7-x1', { 'pod-template-hash': '5d9c7' }, [{ kind: 'ReplicaSet', name: 'web-5d9c7', controller: true }], 'web', 'Deployment'],
  ['Deployment with dashes in its name', 'my-web-app-6b5f-x', { 'pod-template-hash': '6b5f' }, [{ kind: 'ReplicaSet', name: 'my-web-app-6b5f', controller: true }], 'my-web-app', 'Deployment'],
  ['bare ReplicaSet (no hash label)', 'rs-x1', {}, [{ kind: 'ReplicaSet', name: 'rs', controller: true }], 'rs', 'ReplicaSet'],
  ['ReplicaSet whose name does not end in the hash', 'rs-x1', { 'pod-template-hash': 'abc' }, [{ kind: 'ReplicaSet', name: 'rs', controller: true }], 'rs', 'ReplicaSet'],
  ['ReplicaSet named only the hash', 'x', { 'pod-template-hash': 'abc' }, [{ kind: 'ReplicaSet', name: '-abc', controller: true }], '-abc', 'ReplicaSet'],
  ['Argo Rollout', 'r-77f-x', { 'rollouts-pod-template-hash': '77f' }, [{ kind: 'ReplicaSet', name: 'r-77f', controller: true }], 'r', 'Rollout'],
  ['StatefulSet', 'db-0', { 'controller-revision-hash': 'db-6f' }, [{ kind: 'StatefulSet', name: 'db', controller: true }], 'db', 'StatefulSet'],
  ['DaemonSet', 'agent-x7k2p', {}, [{ kind: 'DaemonSet', name: 'agent', controller: true }], 'agent', 'DaemonSet'],
  ['Job', 'migrate-x7k2p', {}, [{ kind: 'Job', name: 'migrate', controller: true }], 'migrate', 'Job'],
  ['CronJob (Job <cronjob>-<minutes>)', 'backup-28391040-abc', {}, [{ kind: 'Job', name: 'backup-28391040', controller: true }], 'backup', 'CronJob'],
  ['Job ending in too few digits', 'j-1234567-x', {}, [{ kind: 'Job', name: 'j-1234567', controller: true }], 'j-1234567', 'Job'],
  ['Job ending in too many digits', 'j-12345678901-x', {}, [{ kind: 'Job', name: 'j-12345678901', controller: true }], 'j-12345678901', 'Job'],
  ['OpenShift DeploymentConfig', 'frontend-1-x', { deploymentconfig: 'frontend' }, [{ kind: 'ReplicationController', name: 'frontend-1', controller: true }], 'frontend', 'DeploymentConfig'],
  ['ReplicationController', 'rc-x', {}, [{ kind: 'ReplicationController', name: 'rc', controller: true }], 'rc', 'ReplicationController'],
  ['no owner', 'standalone', {}, [], 'standalone', 'Pod'],
  ['an owner that is not the controller', 'adopted', {}, [{ kind: 'ReplicaSet', name: 'rs', controller: false }], 'adopted', 'Pod'],
  ['the controller among several owners', 'p', { 'pod-template-hash': 'h' }, [{ kind: 'ConfigMap', name: 'c', controller: false }, { kind: 'ReplicaSet', name: 'w-h', controller: true }], 'w', 'Deployment'],
  ['a mirror pod (owned by its Node)', 'kube-apiserver-node-a', {}, [{ kind: 'Node', name: 'node-a', controller: true }], 'kube-apiserver-node-a', 'Pod'],
  ['a custom controller', 'x-0', {}, [{ kind: 'CloneSet', name: 'x', controller: true }], 'x', 'CloneSet'],
];

for (const [what, podName, labels, owners, name, kind] of OWNERS) {
  test(`workload of a pod from ${what}: ${kind} ${name}`, () => {
    assert.deepEqual(workloadOf(podName, labels, owners), { name, kind });
  });
}

test('the owner chain is read from the pod JSON', () => {
  const p = ok<KPod>('Pod', pod({}, { name: 'backup-28391040-q', labels: {}, ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: 'backup-28391040', uid: 'j', controller: true }] }));
  assert.deepEqual([p.workload, p.workloadKind], ['backup', 'CronJob']);
  const bare = ok<KPod>('Pod', pod({}, { name: 'solo', ownerReferences: undefined }));
  assert.deepEqual([bare.workload, bare.workloadKind], ['solo', 'Pod']);
});

/** A small deterministic generator: the same run every time. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const ODD_VALUES: readonly unknown[] = [null, undefined, 0, -1, 1.5, 2 ** 53, '', 'x', '\u0000', long(5000), true, [], [null], {}, { a: 1 }, NaN, new Date(0)];

/** Replaces one value somewhere inside V (a structural copy). */
function mutate(v: unknown, rnd: () => number, depth = 0): unknown {
  if (depth > 0 && (typeof v !== 'object' || v === null || rnd() < 0.25)) return ODD_VALUES[Math.floor(rnd() * ODD_VALUES.length)];
  if (Array.isArray(v)) {
    if (v.length === 0) return [ODD_VALUES[Math.floor(rnd() * ODD_VALUES.length)]];
    const i = Math.floor(rnd() * v.length);
    return v.map((x, j) => (j === i ? mutate(x, rnd, depth + 1) : x));
  }
  if (typeof v === 'object' && v !== null && !(v instanceof Date)) {
    const keys = Object.keys(v);
    const k = rnd() < 0.1 || keys.length === 0 ? 'extra' : keys[Math.floor(rnd() * keys.length)];
    return { ...(v as Raw), [k]: mutate((v as Raw)[k], rnd, depth + 1) };
  }
  return v;
}

test('random damage to valid objects never throws, and what is kept has the right shape', () => {
  const rnd = prng(8);
  const samples: readonly [KKind, Raw][] = [['Service', service()], ['EndpointSlice', slice()], ['Pod', pod()], ['Node', node()], ['Namespace', { metadata: { name: 'shop' } }]];
  let kept = 0;
  let skipped = 0;
  for (let i = 0; i < 3000; i++) {
    const [kind, raw] = samples[i % samples.length];
    let v: unknown = raw;
    for (let n = 1 + Math.floor(rnd() * 3); n > 0; n--) v = mutate(v, rnd);
    const r = trimObject(kind, v);
    if ('ok' in r) {
      kept++;
      assert.equal(r.ok.kind, kind);
      assert.equal(typeof r.ok.meta.name, 'string');
      for (const [k, val] of Object.entries(r.ok.meta.labels)) assert.ok(typeof val === 'string' && !k.includes('\u0000') && !val.includes('\u0000'));
    } else {
      skipped++;
      assert.equal(typeof r.skip, 'string');
      assert.ok(r.skip.length > 0 && r.skip.length < 400, r.skip);
    }
  }
  assert.ok(kept > 100 && skipped > 100, `both outcomes exercised (kept ${kept}, skipped ${skipped})`);
});
