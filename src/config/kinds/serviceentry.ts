// ServiceEntry: a service (hosts, VIPs, ports) and its endpoints, inline or selected WorkloadEntries.
import { Fields, PORT_RANGE, describe, joinKey, type Item } from '../fields';
import { checkHost, isIPv4, unroutable, vipOf } from '../formats';
import type { Dataplane, Endpoint, MeshLocation, PortProtocol, Resolution, ServicePort } from '../model';
import { reservedUse, type Reserved } from '../reserved';
import { DATAPLANE_LABEL, readMetadata } from './metadata';
import type { At, Origin, ParsedService, ReadOptions } from './types';
import { WORKLOAD_SPEC_FIELDS, nodeOf, readWorkloadSpec, type EndpointNames } from './workloadentry';

const SPEC_FIELDS = ['hosts', 'addresses', 'ports', 'location', 'resolution', 'endpoints', 'workloadSelector', 'exportTo', 'subjectAltNames'];
const UNSUPPORTED_SPEC_FIELDS: readonly string[] = [];
const PORT_FIELDS = ['number', 'protocol', 'name', 'targetPort'];

export const PROTOCOLS: readonly PortProtocol[] = ['HTTP', 'HTTP2', 'GRPC', 'TCP', 'TLS', 'HTTPS'];
/** Istio protocols that nodemesh does not handle (yet): an error rather than a silent downgrade. */
const ISTIO_ONLY_PROTOCOLS = ['GRPC-WEB', 'MONGO', 'MYSQL', 'REDIS', 'UDP'];
const DATAPLANES: readonly Dataplane[] = ['proxy', 'kernel'];
const RESOLUTIONS: readonly Resolution[] = ['STATIC', 'NONE', 'DNS', 'DNS_ROUND_ROBIN'];
const LOCATIONS: readonly MeshLocation[] = ['MESH_INTERNAL', 'MESH_EXTERNAL'];

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
    if (vip === undefined) spec.sink.report(item.path, `must be an IPv4 address (or a /32), got ${describe(item.value)}${addressHint(item.value)}`);
    else if (why !== undefined) spec.sink.report(item.path, `a VIP cannot be ${why}`);
    else if (addresses.some((a) => a.value === vip)) spec.sink.report(item.path, `duplicate address ${vip}`);
    else addresses.push({ value: vip, path: item.path });
  }
  const ports = readPorts(spec);
  checkReservedVips(spec, addresses, ports, opts.reserved);
  const location = spec.choice('location', LOCATIONS);
  const resolution = readResolution(spec);
  const dns = resolution === 'DNS' || resolution === 'DNS_ROUND_ROBIN';
  // Visibility scoping: every service is visible mesh-wide in this version.
  spec.stringList('exportTo');
  // The identities the endpoints must present over mesh mTLS (meshplane checks them per endpoint).
  const subjectAltNames = spec.stringList('subjectAltNames', { check: (s) => (s === '' ? 'must not be empty' : undefined) });

  const endpointItems = spec.list('endpoints');
  const endpoints = endpointItems?.map((item) => readEndpoint(spec, item, ports, meta?.namespace, opts.reserved, dns ? 'hostnames' : resolution === 'STATIC' ? 'hint' : 'addresses'));
  const selector = readSelector(spec);
  if (endpointItems !== undefined && selector !== undefined) {
    spec.report('workloadSelector', 'cannot be used together with spec.endpoints (choose one)');
  }
  const read = endpoints?.filter((e): e is Endpoint => e !== undefined);
  const named = read?.filter((e) => !isIPv4(e.address));
  checkResolution(spec, resolution, hosts, endpointItems?.length, selector !== undefined);

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
    endpoints: read?.filter((e) => isIPv4(e.address)),
    selector,
    ...(resolution !== undefined && resolution !== 'STATIC' ? { resolution } : {}),
    ...(location === 'MESH_EXTERNAL' ? { location } : {}),
    ...(subjectAltNames !== undefined && subjectAltNames.length > 0 ? { subjectAltNames } : {}),
    // Selected WorkloadEntries are addresses; without endpoints or a selector the hosts are the names.
    ...(dns ? { dnsEndpoints: endpointItems !== undefined ? (named ?? []) : selector !== undefined ? [] : hostEndpoints(hosts, meta?.namespace ?? '') } : {}),
  };
}

/** What to do instead of an address that is no IPv4 VIP: IPv6, or a CIDR wider than /32. */
function addressHint(v: unknown): string {
  if (typeof v !== 'string') return '';
  if (v.includes(':')) return ': IPv6 is not supported (this version is IPv4 only)';
  const slash = v.indexOf('/');
  if (slash > 0 && isIPv4(v.slice(0, slash))) return ': a CIDR wider than /32 is not supported (list the addresses to capture one by one)';
  return '';
}

/**
 * spec.resolution. Absent, it is Istio's default NONE (connections go to the address the client dialled)
 * for an entry without endpoints and workloadSelector; with them STATIC, and a warning, since Istio's
 * NONE refuses endpoints and ignores a selector. Istio's DYNAMIC_DNS (a DNS lookup per connection) gets
 * its alternatives.
 */
function readResolution(spec: Fields): Resolution | undefined {
  if (!spec.has('resolution')) {
    const endpoints = spec.raw('endpoints');
    const why = endpoints !== undefined && !(Array.isArray(endpoints) && endpoints.length === 0)
      ? 'Istio refuses endpoints without a resolution (its default, NONE, takes none)'
      : spec.has('workloadSelector')
        ? 'Istio\'s default, NONE, ignores the selected workloads (connections go to the address the client dialled)'
        : undefined;
    if (why === undefined) return 'NONE';
    if (spec.misspelled('resolution') === undefined) spec.sink.warn(spec.at('resolution'), `is missing: ${why}; read as STATIC; write resolution: STATIC`);
    return 'STATIC';
  }
  const raw = spec.raw('resolution');
  if (typeof raw === 'string' && raw.toUpperCase() === 'DYNAMIC_DNS') {
    spec.report(
      'resolution',
      'DYNAMIC_DNS is not supported: use DNS (the agent looks each host up, and again when its TTL runs out); a wildcard host cannot be looked up: list its endpoints with STATIC, or use NONE',
    );
    return undefined;
  }
  return spec.choice('resolution', RESOLUTIONS);
}

/**
 * Istio's rules: NONE takes no endpoints (connections go where the client sent them); DNS_ROUND_ROBIN
 * at most one; DNS without endpoints resolves the hosts themselves, so none may be a wildcard.
 */
function checkResolution(spec: Fields, resolution: Resolution | undefined, hosts: readonly At<string>[], endpoints: number | undefined, selector: boolean): void {
  if (resolution === 'NONE' && endpoints !== undefined && endpoints > 0) {
    spec.report('endpoints', 'resolution NONE takes no endpoints: connections go to the address the client dialled (use STATIC or DNS to list endpoints)');
  }
  if (resolution === 'DNS_ROUND_ROBIN' && endpoints !== undefined && endpoints > 1) {
    spec.report('endpoints', `resolution DNS_ROUND_ROBIN takes at most one endpoint, got ${endpoints} (use DNS for several)`);
  }
  if ((resolution === 'DNS' || resolution === 'DNS_ROUND_ROBIN') && endpoints === undefined && !selector) {
    for (const h of hosts) {
      if (h.value.startsWith('*')) spec.sink.report(h.path, `wildcard host ${h.value} cannot be resolved: with resolution ${resolution} and no spec.endpoints every host is looked up in DNS`);
    }
  }
}

/** DNS resolution without spec.endpoints: each host is the name of an endpoint. */
function hostEndpoints(hosts: readonly At<string>[], namespace: string): Endpoint[] {
  return hosts.map((h) => ({ address: h.value, ports: {}, labels: {}, namespace, serviceAccount: undefined, workload: undefined, node: undefined, weight: 1 }));
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

/** Port names: letters, digits, '-', '_' and '.', starting and ending alphanumeric (Istio refuses others). */
export function checkPortName(s: string): string | undefined {
  if (/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(s) && s.length <= 63) return undefined;
  return `"${s}" is not a valid port name (like http, grpc-api or tcp-db: letters, digits and '-', at most 63)`;
}

function readPorts(spec: Fields): ServicePort[] {
  const ports: ServicePort[] = [];
  // No ports is valid in Istio (a service known by name only): no port of it is captured.
  for (const item of spec.list('ports') ?? []) {
    const p = Fields.open(spec.sink, item.path, item.value, PORT_FIELDS);
    if (p === undefined) continue;
    const number = p.int('number', PORT_RANGE, true);
    const name = p.string('name', { required: true, check: checkPortName });
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

function readEndpoint(spec: Fields, item: Item, ports: readonly ServicePort[], namespace: string | undefined, reserved: Reserved, names: EndpointNames): Endpoint | undefined {
  const f = Fields.open(spec.sink, item.path, item.value, WORKLOAD_SPEC_FIELDS);
  if (f === undefined) return undefined;
  const w = readWorkloadSpec(f, { names });
  for (const portName of Object.keys(w.ports)) {
    if (!ports.some((p) => p.name === portName)) {
      spec.sink.report(joinKey(f.at('ports'), portName), `no port named "${portName}" in spec.ports`);
    }
  }
  if (w.address === undefined) return undefined;
  // A host name's addresses are checked against the agent's own ones when it resolves.
  for (const p of isIPv4(w.address) ? ports : []) {
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
    ...(w.locality !== undefined ? { locality: w.locality } : {}),
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
  const raw = sel.raw('labels');
  if (raw !== undefined && typeof raw === 'object' && raw !== null && Object.hasOwn(raw, '')) {
    sel.report('labels', 'empty label key (name the label to select on)');
    return undefined;
  }
  const labels = sel.labelMap('labels');
  if (sel.has('labels') && labels === undefined) return undefined;
  // An empty selector is valid in Istio: it selects every WorkloadEntry of the namespace.
  return { value: labels ?? {}, path: spec.at('workloadSelector') };
}
