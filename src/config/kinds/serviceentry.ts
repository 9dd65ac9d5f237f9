// ServiceEntry: a service (hosts, VIPs, ports) and its endpoints, inline or selected WorkloadEntries.
import { Fields, PORT_RANGE, describe, joinKey, type Item } from '../fields';
import { checkHost, unroutable, vipOf } from '../formats';
import type { Dataplane, Endpoint, PortProtocol, ServicePort } from '../model';
import { reservedUse, type Reserved } from '../reserved';
import { DATAPLANE_LABEL, readMetadata } from './metadata';
import type { At, Origin, ParsedService, ReadOptions } from './types';
import { WORKLOAD_SPEC_FIELDS, nodeOf, readWorkloadSpec } from './workloadentry';

const SPEC_FIELDS = ['hosts', 'addresses', 'ports', 'location', 'resolution', 'endpoints', 'workloadSelector', 'exportTo'];
const UNSUPPORTED_SPEC_FIELDS = ['subjectAltNames'];
const PORT_FIELDS = ['number', 'protocol', 'name', 'targetPort'];

export const PROTOCOLS: readonly PortProtocol[] = ['HTTP', 'HTTP2', 'GRPC', 'TCP', 'TLS', 'HTTPS'];
/** Istio protocols that nodemesh does not handle (yet): an error rather than a silent downgrade. */
const ISTIO_ONLY_PROTOCOLS = ['GRPC-WEB', 'MONGO', 'MYSQL', 'REDIS', 'UDP'];
const DATAPLANES: readonly Dataplane[] = ['proxy', 'kernel'];
const RESOLUTIONS = ['STATIC', 'NONE', 'DNS', 'DNS_ROUND_ROBIN'] as const;

/**
 * Istio's port naming convention `<protocol>[-<suffix>]`; undefined (sniff) for other names. grpc-web is
 * left to sniffing: it is HTTP on the wire, not gRPC framing.
 */
export function protocolFromName(name: string): PortProtocol | undefined {
  const lower = name.toLowerCase();
  if (lower === 'grpc-web' || lower.startsWith('grpc-web-')) return undefined;
  const token = lower.split('-')[0];
  return PROTOCOLS.find((p) => p.toLowerCase() === token);
}

export function readServiceEntry(doc: Fields, origin: Origin, opts: ReadOptions): ParsedService | undefined {
  const meta = readMetadata(doc, [DATAPLANE_LABEL]);
  const dataplane = meta && readDataplane(doc, meta.labels);
  const spec = doc.object('spec', SPEC_FIELDS, { required: true, unsupported: UNSUPPORTED_SPEC_FIELDS });
  if (spec === undefined) return undefined;

  const hosts = readHosts(spec);
  const addresses: At<string>[] = [];
  for (const item of spec.list('addresses') ?? []) {
    const vip = typeof item.value === 'string' ? vipOf(item.value) : undefined;
    const why = vip === undefined ? undefined : unroutable(vip);
    if (vip === undefined) spec.sink.report(item.path, `must be an IPv4 address (or a /32), got ${describe(item.value)}`);
    else if (why !== undefined) spec.sink.report(item.path, `a VIP cannot be ${why}`);
    else if (addresses.some((a) => a.value === vip)) spec.sink.report(item.path, `duplicate address ${vip}`);
    else addresses.push({ value: vip, path: item.path });
  }
  const ports = readPorts(spec);
  checkReservedVips(spec, addresses, ports, opts.reserved);
  spec.choice('location', ['MESH_INTERNAL', 'MESH_EXTERNAL']);
  const resolution = spec.choice('resolution', RESOLUTIONS);
  if (resolution !== undefined && resolution !== 'STATIC') {
    spec.report('resolution', `resolution ${resolution} is not supported yet by this nodemesh version (use STATIC)`);
  }
  // Visibility scoping: every service is visible mesh-wide in this version.
  spec.stringList('exportTo');

  const endpointItems = spec.list('endpoints');
  const endpoints = endpointItems?.map((item) => readEndpoint(spec, item, ports, meta?.namespace, opts.reserved));
  const selector = readSelector(spec);
  if (endpointItems !== undefined && selector !== undefined) {
    spec.report('workloadSelector', 'cannot be used together with spec.endpoints (choose one)');
  }

  // Kept even when other fields were bad, so cross-document checks (duplicates, shared VIPs) still run.
  if (meta === undefined) return undefined;
  return {
    kind: 'ServiceEntry',
    origin,
    name: meta.name,
    namespace: meta.namespace,
    labels: meta.labels,
    hosts,
    addresses,
    ports,
    dataplane: dataplane ?? 'proxy',
    endpoints: endpoints?.filter((e): e is Endpoint => e !== undefined),
    selector,
  };
}

function readDataplane(doc: Fields, labels: Readonly<Record<string, string>>): Dataplane | undefined {
  const v = labels[DATAPLANE_LABEL];
  if (v === undefined) return 'proxy';
  const found = DATAPLANES.find((d) => d === v);
  if (found === undefined) {
    doc.sink.report(joinKey(joinKey(doc.at('metadata'), 'labels'), DATAPLANE_LABEL), `must be one of ${DATAPLANES.join(', ')}, got "${v}"`);
  }
  return found;
}

/** spec.hosts: valid, lower-cased, without duplicates (ServiceEntry and VirtualService alike). */
export function readHosts(spec: Fields): At<string>[] {
  const hosts: At<string>[] = [];
  for (const item of spec.list('hosts', { required: true }) ?? []) {
    const problem = typeof item.value === 'string' ? checkHost(item.value) : `must be a string, got ${describe(item.value)}`;
    if (problem !== undefined) {
      spec.sink.report(item.path, problem);
      continue;
    }
    const host = (item.value as string).toLowerCase();
    if (hosts.some((h) => h.value === host)) spec.sink.report(item.path, `duplicate host ${host}`);
    else hosts.push({ value: host, path: item.path });
  }
  return hosts;
}

function readPorts(spec: Fields): ServicePort[] {
  const ports: ServicePort[] = [];
  for (const item of spec.list('ports', { required: true }) ?? []) {
    const p = Fields.open(spec.sink, item.path, item.value, PORT_FIELDS);
    if (p === undefined) continue;
    const number = p.int('number', PORT_RANGE, true);
    const name = p.string('name', { required: true });
    const declared = readProtocol(p);
    const targetPort = p.int('targetPort', PORT_RANGE);
    if (name !== undefined && ports.some((q) => q.name === name)) p.report('name', `duplicate port name "${name}"`);
    else if (number !== undefined && ports.some((q) => q.number === number)) p.report('number', `duplicate port number ${number}`);
    else if (number !== undefined && name !== undefined) {
      const protocol = declared === 'derive' ? protocolFromName(name) : declared;
      ports.push({ number, name, protocol, targetPort: targetPort ?? number });
    }
  }
  return ports;
}

/** The declared protocol, 'derive' when none is declared, undefined when the declared one is bad. */
function readProtocol(p: Fields): PortProtocol | 'derive' | undefined {
  const s = p.string('protocol');
  if (!p.has('protocol')) return 'derive';
  if (s === undefined) return undefined;
  const upper = s.toUpperCase();
  const found = PROTOCOLS.find((x) => x === upper);
  if (found !== undefined) return found;
  const what = ISTIO_ONLY_PROTOCOLS.includes(upper) ? 'unsupported protocol' : 'unknown protocol';
  p.report('protocol', `${what} "${s}" (supported: ${PROTOCOLS.join(', ')})`);
  return undefined;
}

function readEndpoint(spec: Fields, item: Item, ports: readonly ServicePort[], namespace: string | undefined, reserved: Reserved): Endpoint | undefined {
  const f = Fields.open(spec.sink, item.path, item.value, WORKLOAD_SPEC_FIELDS);
  if (f === undefined) return undefined;
  const w = readWorkloadSpec(f);
  for (const portName of Object.keys(w.ports)) {
    if (!ports.some((p) => p.name === portName)) {
      spec.sink.report(joinKey(f.at('ports'), portName), `no port named "${portName}" in spec.ports`);
    }
  }
  if (w.address === undefined) return undefined;
  for (const p of ports) {
    const use = reservedUse(reserved, w.address, w.ports[p.name] ?? p.targetPort);
    if (use !== undefined) f.report('address', `${use}: port ${p.name} of the service would loop back into the agent`);
  }
  return {
    address: w.address,
    ports: w.ports,
    labels: w.labels,
    namespace: namespace ?? '',
    serviceAccount: w.serviceAccount,
    workload: undefined,
    node: nodeOf(w.labels),
    weight: w.weight,
  };
}

/** A VIP:port on loopback or the node address must not take one of the agent's own ports. */
function checkReservedVips(spec: Fields, addresses: readonly At<string>[], ports: readonly ServicePort[], reserved: Reserved): void {
  for (const a of addresses) {
    for (const p of ports) {
      const use = reservedUse(reserved, a.value, p.number);
      if (use !== undefined) spec.sink.report(a.path, `${use}: a VIP there would capture connections meant for the agent (port ${p.name})`);
    }
  }
}

function readSelector(spec: Fields): At<Readonly<Record<string, string>>> | undefined {
  const sel = spec.object('workloadSelector', ['labels']);
  if (sel === undefined) return undefined;
  const labels = sel.labelMap('labels');
  if (labels === undefined || Object.keys(labels).length === 0) {
    sel.report('labels', 'must name at least one label (an empty selector would select every workload)');
    return undefined;
  }
  return { value: labels, path: spec.at('workloadSelector') };
}
