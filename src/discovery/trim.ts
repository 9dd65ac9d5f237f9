// API JSON → the trimmed objects of objects.ts, one function per kind. Input is whatever a watch event or
// a list item carries (or the client library's copy of it: same field names), so nothing is trusted: a
// malformed field skips the object with a reason naming the field, and the caller logs it by name. Valid
// things nodemesh does not handle (UDP ports, IPv6 addresses, ExternalName services) are dropped or
// skipped with a reason. Unknown fields are ignored. This never throws.
import { checkIPv4, checkNamespace, checkObjectName, isIPv4 } from '../config/formats';
import type { KEndpointSlice, KKind, KMeta, KNamespace, KNode, KObject, KPod, KService, KServicePort, KSliceEndpoint, KSlicePort } from './objects';
import { workloadOf, type OwnerRef } from './owner';
import { Skip, bool, checked, int, isRecord, labels, list, obj, shown, skip, text, type Json } from './read';

export type TrimResult = { ok: KObject } | { skip: string };

/** The versions nodemesh reads; another one may mean other fields, so it is skipped rather than guessed. */
export const API_VERSIONS: Readonly<Record<KKind, string>> = {
  Service: 'v1',
  EndpointSlice: 'discovery.k8s.io/v1',
  Pod: 'v1',
  Namespace: 'v1',
  Node: 'v1',
};

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

const TRIMMERS: Readonly<Record<KKind, (raw: Json) => KObject>> = {
  Service: trimService,
  EndpointSlice: trimEndpointSlice,
  Pod: trimPod,
  Namespace: trimNamespace,
  Node: trimNode,
};

export function trimObject(kind: KKind, raw: unknown): TrimResult {
  try {
    if (!Object.hasOwn(TRIMMERS, kind)) return { skip: `unknown kind ${shown(kind)}` };
    if (!isRecord(raw)) return { skip: `not an object: ${shown(raw)}` };
    // List items carry no kind/apiVersion (and the client's copies may hold undefined): only a present,
    // different value is refused.
    const rawKind: unknown = raw.kind;
    if (rawKind !== undefined && rawKind !== null && rawKind !== kind) return { skip: `kind ${shown(rawKind)} where ${kind} was expected` };
    const version: unknown = raw.apiVersion;
    if (version !== undefined && version !== null && version !== API_VERSIONS[kind]) {
      return { skip: `apiVersion ${shown(version)} is not supported (nodemesh reads ${API_VERSIONS[kind]})` };
    }
    return { ok: TRIMMERS[kind](raw) };
  } catch (e) {
    return failure(e);
  }
}

/** What a throw inside a trimmer becomes; even a hostile thrown value (a throwing getter) cannot escape. */
function failure(e: unknown): TrimResult {
  try {
    if (e instanceof Skip) return { skip: e.reason };
    const message = e instanceof Error ? String(e.message) : String(e);
    return { skip: `could not be read: ${message.length > 200 ? `${message.slice(0, 200)}…` : message}` };
  } catch {
    return { skip: 'could not be read' };
  }
}

function readMeta(raw: Json, namespaced: boolean, checkName: (s: string) => string | undefined): KMeta {
  const m = obj(raw.metadata, 'metadata') ?? skip('metadata is missing');
  const name = checked(m.name, 'metadata.name', checkName) ?? skip('metadata.name is missing');
  const namespace = namespaced ? (checked(m.namespace, 'metadata.namespace', checkNamespace) ?? skip('metadata.namespace is missing')) : '';
  return {
    name,
    namespace,
    uid: text(m.uid, 'metadata.uid', 128) ?? '',
    resourceVersion: text(m.resourceVersion, 'metadata.resourceVersion', 64) ?? '',
    labels: labels(m.labels, 'metadata.labels'),
  };
}

/** DNS-1123 label: Service names, port names. */
function checkDnsLabel(s: string): string | undefined {
  return s.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(s) ? undefined : `"${s}" is not a DNS-1123 label`;
}

const SERVICE_TYPES = new Set(['ClusterIP', 'NodePort', 'LoadBalancer']);
// API limits: a Service or slice has at most a few hundred ports in practice; dual-stack gives 2 IPs.
const MAX_PORTS = 1000;

function trimService(raw: Json): KService {
  const meta = readMeta(raw, true, checkDnsLabel);
  const spec = obj(raw.spec, 'spec') ?? skip('spec is missing');
  const type = text(spec.type, 'spec.type', 32) ?? 'ClusterIP';
  if (type === 'ExternalName') skip('type ExternalName (a DNS alias, no cluster IP) is not captured');
  if (!SERVICE_TYPES.has(type)) skip(`spec.type ${shown(type)} is unknown`);

  // clusterIPs[0] is clusterIP (the API keeps them in step); older objects may have only clusterIP.
  const listed = list(spec.clusterIPs, 'spec.clusterIPs', 2).map((v, i) => text(v, `spec.clusterIPs[${i}]`, 64) ?? '');
  const single = text(spec.clusterIP, 'spec.clusterIP', 64);
  const all = listed.length > 0 ? listed : single !== undefined ? [single] : [];
  const headless = all[0] === 'None';
  const clusterIPs = headless ? [] : [...new Set(all.filter(isIPv4))];
  if (!headless && clusterIPs.length === 0) {
    skip(all.length === 0 || all[0] === '' ? 'no cluster IP allocated' : `no IPv4 cluster IP (${all.join(', ')}); only IPv4 is captured`);
  }

  const declared: KServicePort[] = [];
  list(spec.ports, 'spec.ports', MAX_PORTS).forEach((v, i) => {
    const p = servicePort(v, `spec.ports[${i}]`);
    // One number may serve TCP and UDP (DNS does), under two names.
    if (declared.some((q) => q.name === p.name)) skip(`spec.ports[${i}] repeats port name "${p.name}"`);
    if (declared.some((q) => q.port === p.port && q.protocol === p.protocol)) skip(`spec.ports[${i}] repeats port ${p.protocol} ${p.port}`);
    declared.push(p);
  });
  const ports = declared.filter((p) => p.protocol === 'TCP');
  if (ports.length === 0) skip('no TCP port (UDP and SCTP are not captured)');
  return { kind: 'Service', meta, type, clusterIPs, headless, ports };
}

function servicePort(v: unknown, path: string): KServicePort {
  const p = obj(v, path) ?? skip(`${path} is empty`);
  const port = int(p.port, `${path}.port`, 1, 65535) ?? skip(`${path}.port is missing`);
  const name = checked(p.name, `${path}.name`, checkDnsLabel) ?? '';
  const protocol = text(p.protocol, `${path}.protocol`, 16) ?? 'TCP';
  const appProtocol = text(p.appProtocol, `${path}.appProtocol`, 317);
  return { name, port, protocol, appProtocol, targetPort: targetPort(p.targetPort, `${path}.targetPort`, port) };
}

/** IntOrString: a port number, or a container port's name; absent (or 0, "") = the service port. */
function targetPort(t: unknown, path: string, port: number): number | string {
  if (t === undefined || t === null || t === 0 || t === '') return port;
  if (typeof t === 'number') return int(t, path, 1, 65535) ?? port;
  const s = checked(t, path, (x) => (/^[0-9]+$/.test(x) ? undefined : checkDnsLabel(x))) ?? '';
  // A numeric string is not a valid port name: read it as the number it spells.
  return /^[0-9]+$/.test(s) ? (int(Number(s), path, 1, 65535) ?? port) : s;
}

function trimEndpointSlice(raw: Json): KEndpointSlice {
  const meta = readMeta(raw, true, checkObjectName);
  const addressType = text(raw.addressType, 'addressType', 16) ?? skip('addressType is missing');
  if (addressType !== 'IPv4') skip(`addressType ${addressType} is not captured (IPv4 only)`);
  const service = meta.labels[SERVICE_NAME_LABEL];
  if (service === undefined || service === '') skip(`no ${SERVICE_NAME_LABEL} label (not a Service's slice)`);

  const ports: KSlicePort[] = [];
  list(raw.ports, 'ports', 100).forEach((v, i) => {
    const path = `ports[${i}]`;
    const p = obj(v, path) ?? skip(`${path} is empty`);
    const name = checked(p.name, `${path}.name`, checkDnsLabel) ?? '';
    // A nil port means "all ports" (a Service without ports): nothing to map a service port to.
    const port = int(p.port, `${path}.port`, 1, 65535);
    const protocol = text(p.protocol, `${path}.protocol`, 16) ?? 'TCP';
    const appProtocol = text(p.appProtocol, `${path}.appProtocol`, 317);
    if (ports.some((q) => q.name === name)) skip(`${path} repeats port name "${name}"`);
    if (port !== undefined && protocol === 'TCP') ports.push({ name, port, protocol, appProtocol });
  });
  const endpoints: KSliceEndpoint[] = [];
  list(raw.endpoints, 'endpoints', 1000).forEach((v, i) => {
    const e = sliceEndpoint(v, `endpoints[${i}]`, meta.namespace);
    if (e.addresses.length > 0) endpoints.push(e);
  });
  return { kind: 'EndpointSlice', meta, service, ports, endpoints };
}

function sliceEndpoint(v: unknown, path: string, namespace: string): KSliceEndpoint {
  const e = obj(v, path) ?? skip(`${path} is empty`);
  const addresses = list(e.addresses, `${path}.addresses`, 100).map((a, i) => checked(a, `${path}.addresses[${i}]`, checkIPv4) ?? '');
  const c = obj(e.conditions, `${path}.conditions`) ?? {};
  // discovery.k8s.io/v1: an unknown ready counts as ready, an unknown serving defers to ready, an unknown
  // terminating means not terminating.
  const ready = bool(c.ready, `${path}.conditions.ready`) ?? true;
  const serving = bool(c.serving, `${path}.conditions.serving`) ?? ready;
  const terminating = bool(c.terminating, `${path}.conditions.terminating`) ?? false;
  const ref = obj(e.targetRef, `${path}.targetRef`);
  let pod: KSliceEndpoint['pod'];
  if (ref !== undefined && text(ref.kind, `${path}.targetRef.kind`, 63) === 'Pod') {
    const name = checked(ref.name, `${path}.targetRef.name`, checkObjectName);
    const ns = checked(ref.namespace, `${path}.targetRef.namespace`, checkNamespace) ?? namespace;
    if (name !== undefined) pod = { namespace: ns, name };
  }
  return {
    addresses: [...new Set(addresses.filter((a) => a !== ''))],
    ready,
    serving,
    terminating,
    nodeName: checked(e.nodeName, `${path}.nodeName`, checkObjectName),
    zone: text(e.zone, `${path}.zone`, 253),
    pod,
  };
}

function trimPod(raw: Json): KPod {
  const meta = readMeta(raw, true, checkObjectName);
  const spec = obj(raw.spec, 'spec') ?? skip('spec is missing');
  // A pod just created has no status yet.
  const status = obj(raw.status, 'status') ?? {};
  const ips: string[] = [];
  const podIP = text(status.podIP, 'status.podIP', 64);
  if (podIP !== undefined) ips.push(podIP);
  list(status.podIPs, 'status.podIPs', 16).forEach((v, i) => {
    const ip = text(obj(v, `status.podIPs[${i}]`)?.ip, `status.podIPs[${i}].ip`, 64);
    if (ip !== undefined) ips.push(ip);
  });
  const owners = ownerRefs((raw.metadata as Json).ownerReferences);
  const workload = workloadOf(meta.name, meta.labels, owners);
  return {
    kind: 'Pod',
    meta,
    node: checked(spec.nodeName, 'spec.nodeName', checkObjectName) ?? '',
    // serviceAccount is the deprecated alias the API still fills in.
    serviceAccount: checked(spec.serviceAccountName ?? spec.serviceAccount, 'spec.serviceAccountName', checkObjectName) ?? '',
    ips: [...new Set(ips.filter(isIPv4))],
    phase: text(status.phase, 'status.phase', 32) ?? '',
    qosClass: text(status.qosClass, 'status.qosClass', 32) ?? '',
    hostNetwork: bool(spec.hostNetwork, 'spec.hostNetwork') ?? false,
    workload: workload.name,
    workloadKind: workload.kind,
  };
}

function ownerRefs(v: unknown): OwnerRef[] {
  return list(v, 'metadata.ownerReferences', 64).map((o, i) => {
    const path = `metadata.ownerReferences[${i}]`;
    const ref = obj(o, path) ?? skip(`${path} is empty`);
    return {
      kind: text(ref.kind, `${path}.kind`, 63) ?? '',
      name: checked(ref.name, `${path}.name`, checkObjectName) ?? '',
      controller: bool(ref.controller, `${path}.controller`) ?? false,
    };
  });
}

function trimNamespace(raw: Json): KNamespace {
  return { kind: 'Namespace', meta: readMeta(raw, false, checkNamespace) };
}

function trimNode(raw: Json): KNode {
  const meta = readMeta(raw, false, checkObjectName);
  const status = obj(raw.status, 'status') ?? {};
  const internalIPs: string[] = [];
  list(status.addresses, 'status.addresses', 64).forEach((v, i) => {
    const a = obj(v, `status.addresses[${i}]`) ?? skip(`status.addresses[${i}] is empty`);
    const type = text(a.type, `status.addresses[${i}].type`, 32);
    const address = text(a.address, `status.addresses[${i}].address`, 253);
    if (type === 'InternalIP' && address !== undefined && isIPv4(address) && !internalIPs.includes(address)) internalIPs.push(address);
  });
  return { kind: 'Node', meta, internalIPs };
}
