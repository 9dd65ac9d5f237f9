// The cross-document pass: joins validated documents into services, workloads, nodes and policies, and
// finds what no single document can show (duplicates, shared VIPs and node addresses, id collisions,
// selected endpoints, competing namespace-wide PeerAuthentications). Traffic documents are resolved
// against the assembled services by traffic-build.ts.
import { checkLocalityOutlier } from './locality-check';
import { serviceId } from './ids';
import { issue } from './issues';
import { ROOT_NAMESPACE, type AuthzPolicy, type RequestAuthn, type ConfigIssue, type Endpoint, type MeshNode, type PeerAuthn, type Service, type TelemetryPolicy, type Workload } from './model';
import type { Origin, Parsed, ParsedAuthz, ParsedRequestAuthn, ParsedNode, ParsedPeerAuthn, ParsedService, ParsedTelemetry, ParsedWorkload } from './kinds/types';
import { buildTraffic } from './traffic-build';
import { checkTelemetryScopes } from './kinds/telemetry';
import type { TrafficConfig } from './traffic';

/** connect4 keeps a fixed-size backend array per kernel-mode service. */
export const MAX_KERNEL_ENDPOINTS = 64;

export interface Assembled {
  readonly services: Service[];
  readonly workloads: Workload[];
  readonly nodes: MeshNode[];
  readonly peerAuthentications: PeerAuthn[];
  readonly authorizationPolicies: AuthzPolicy[];
  readonly requestAuthentications: RequestAuthn[];
  /** Undefined when the config has no VirtualService, DestinationRule or LocalRateLimit. */
  readonly traffic: TrafficConfig | undefined;
  readonly telemetry: TelemetryPolicy[];
}

export function assemble(parsed: readonly Parsed[], issues: ConfigIssue[], warnings: ConfigIssue[]): Assembled {
  const report = (o: Origin, field: string, message: string, to: ConfigIssue[] = issues): void => {
    to.push(issue(o.file, o.document, message, { kind: o.kind, name: o.name, field: under(o.root, field) }));
  };
  const { unique, dropped } = dropDuplicates(parsed, report);
  const workloads = unique.filter((p): p is ParsedWorkload => p.kind === 'WorkloadEntry');
  checkWorkloadAddresses(workloads, report);

  const parsedServices = unique.filter((p): p is ParsedService => p.kind === 'ServiceEntry');
  const services: Service[] = [];
  const ids = new Map<number, Origin>();
  for (const s of parsedServices) {
    const key = `${s.namespace}/${s.name}`;
    const id = serviceId(key);
    const clash = ids.get(id);
    if (clash !== undefined) report(s.origin, 'metadata.name', `service id ${id} (hash of "${key}") collides with ${where(clash)}; rename one of them`);
    else ids.set(id, s.origin);

    const endpoints = s.endpoints ?? (s.selector ? select(s, workloads) : []);
    const endpointsField = s.selector ? 'spec.workloadSelector' : 'spec.endpoints';
    // NONE sends connections where they were dialled; DNS names are resolved by the agent.
    const resolved = s.resolution === 'NONE' || (s.dnsEndpoints?.length ?? 0) > 0;
    if (endpoints.length === 0 && !resolved) report(s.origin, endpointsField, 'service has no endpoints; connections to it will fail', warnings);
    if (s.dataplane === 'kernel') {
      if (endpoints.length > MAX_KERNEL_ENDPOINTS) {
        report(s.origin, endpointsField, `kernel dataplane supports at most ${MAX_KERNEL_ENDPOINTS} endpoints, got ${endpoints.length}`);
      }
      if (s.addresses.length === 0) report(s.origin, 'spec.addresses', 'kernel dataplane needs a VIP in spec.addresses to capture connections', warnings);
      // connect4 refuses a kernel-mode connect without an endpoint; it has no pass-through.
      if (s.resolution === 'NONE') report(s.origin, 'spec.resolution', 'NONE (the default without endpoints) does not work with the kernel dataplane: connections to it fail; list endpoints with resolution: STATIC, or use the proxy dataplane', warnings);
    }
    services.push({
      key,
      id,
      name: s.name,
      namespace: s.namespace,
      hosts: s.hosts.map((h) => h.value),
      addresses: s.addresses.map((a) => a.value),
      ports: s.ports,
      dataplane: s.dataplane,
      endpoints,
      labels: s.labels,
      ...(s.resolution !== undefined ? { resolution: s.resolution } : {}),
      ...(s.location !== undefined ? { location: s.location } : {}),
      ...(s.dnsEndpoints !== undefined ? { dnsEndpoints: s.dnsEndpoints } : {}),
      ...(s.subjectAltNames !== undefined ? { subjectAltNames: s.subjectAltNames } : {}),
    });
  }
  checkClaims(parsedServices, (s) => s.addresses, 'address', report);
  checkClaims(parsedServices, (s) => s.hosts, 'host', report);

  const nodes = unique.filter((p): p is ParsedNode => p.kind === 'Node');
  checkNodes(nodes, workloads, report, warnings);
  const peerAuthns = unique.filter((p): p is ParsedPeerAuthn => p.kind === 'PeerAuthentication');
  checkPeerAuthnScopes(peerAuthns, report, warnings);
  const authz = unique.filter((p): p is ParsedAuthz => p.kind === 'AuthorizationPolicy');
  services.sort((a, b) => compare(a.key, b.key));
  const traffic = buildTraffic(unique, services, report, (o, field, message) => report(o, field, message, warnings), dropped);
  checkLocalityOutlier(unique, (o, field, message) => report(o, field, message, warnings));
  checkTelemetryScopes(unique, report);

  return {
    services,
    workloads: byKey(workloads.map((w) => w.workload)),
    nodes: nodes.map((n) => n.node).sort((a, b) => compare(a.name, b.name)),
    // Namespace/name order is also the tie-break order of the deciders (nodemesh has no creation times).
    peerAuthentications: byKey(peerAuthns.map((p) => p.policy)),
    authorizationPolicies: byKey(authz.map((p) => p.policy)),
    requestAuthentications: byKey(unique.filter((p): p is ParsedRequestAuthn => p.kind === 'RequestAuthentication').map((p) => p.policy)),
    traffic,
    telemetry: byKey(unique.filter((p): p is ParsedTelemetry => p.kind === 'Telemetry').map((p) => p.policy)),
  };
}

/**
 * Two agents cannot listen on one address. When Node documents are given, a workload placed (label
 * kubernetes.io/hostname) on a node none of them describes has no agent to tunnel to. That is a warning,
 * not an error: the rest of the config is still usable, and Node documents can lag behind node changes.
 */
function checkNodes(nodes: readonly ParsedNode[], workloads: readonly ParsedWorkload[], report: Report, warnings: ConfigIssue[]): void {
  const byAddress = new Map<string, Origin>();
  for (const n of nodes) {
    for (const a of n.addresses) {
      const first = byAddress.get(a.value);
      // The path already includes the object's root, as in checkClaims.
      if (first !== undefined) report({ ...n.origin, root: '' }, a.path, `address ${a.value} is also used by ${where(first)}`);
      else byAddress.set(a.value, n.origin);
    }
  }
  if (nodes.length === 0) return;
  const names = new Set(nodes.map((n) => n.node.name));
  for (const w of workloads) {
    const node = w.workload.node;
    if (node !== undefined && !names.has(node)) {
      report(w.origin, '', `no Node document describes node "${node}" (label kubernetes.io/hostname): peers cannot reach its agent`, warnings);
    }
  }
}

/**
 * Istio applies only the oldest of several mesh-wide (or namespace-wide) PeerAuthentications. A config
 * has no creation times to tell which that is, so two of them are refused rather than guessed between.
 * Istio ignores selector policies in the root namespace; that gets a warning.
 */
function checkPeerAuthnScopes(list: readonly ParsedPeerAuthn[], report: Report, warnings: ConfigIssue[]): void {
  const wide = new Map<string, Origin>();
  for (const p of list) {
    const { namespace, selector } = p.policy;
    if (selector !== undefined) {
      if (namespace === ROOT_NAMESPACE) {
        report(p.origin, 'spec.selector', `has no effect: Istio ignores PeerAuthentications with a selector in the root namespace ${ROOT_NAMESPACE}`, warnings);
      }
      continue;
    }
    const first = wide.get(namespace);
    const scope = namespace === ROOT_NAMESPACE ? 'mesh-wide' : `namespace-wide (namespace ${namespace})`;
    if (first === undefined) wide.set(namespace, p.origin);
    else report(p.origin, 'metadata.name', `a second ${scope} PeerAuthentication: ${where(first)} is one already; Istio would apply only the older, keep one`);
  }
}

type Report = (o: Origin, field: string, message: string, to?: ConfigIssue[]) => void;

/** Sorted by "namespace/name", each key built once (a cluster has 10^5 workloads, sorted on every change). */
function byKey<T extends { readonly namespace: string; readonly name: string }>(list: readonly T[]): T[] {
  return list
    .map((v) => ({ k: `${v.namespace}/${v.name}`, v }))
    .sort((a, b) => compare(a.k, b.k))
    .map((e) => e.v);
}

/** Duplicate keys by document; documents are reused across reloads (discovery's unchanged objects). */
const dupKeys = new WeakMap<Parsed, string>();

function dupKey(p: Parsed): string {
  let k = dupKeys.get(p);
  if (k === undefined) dupKeys.set(p, (k = `${p.kind} ${p.origin.name}`));
  return k;
}

/**
 * The first document of each kind and name; the later ones are reported and DROPPED. The cross-document
 * checks do not report what only a dropped one defines (a host, a subset): one problem, one error.
 */
function dropDuplicates(parsed: readonly Parsed[], report: Report): { unique: Parsed[]; dropped: Parsed[] } {
  const seen = new Map<string, Origin>();
  const unique: Parsed[] = [];
  const dropped: Parsed[] = [];
  for (const p of parsed) {
    const key = dupKey(p);
    const first = seen.get(key);
    if (first === undefined) {
      seen.set(key, p.origin);
      unique.push(p);
      continue;
    }
    report(p.origin, 'metadata.name', `duplicate ${p.kind} ${p.origin.name}, already defined in ${at(first)}`);
    dropped.push(p);
  }
  return { unique, dropped };
}

function checkWorkloadAddresses(workloads: readonly ParsedWorkload[], report: Report): void {
  const byAddress = new Map<string, Origin>();
  for (const w of workloads) {
    const first = byAddress.get(w.workload.address);
    if (first !== undefined) report(w.origin, 'spec.address', `address ${w.workload.address} is also used by ${where(first)}`);
    else byAddress.set(w.workload.address, w.origin);
  }
}

/** WorkloadEntries of the service's namespace whose labels include every selector label. */
function select(s: ParsedService, workloads: readonly ParsedWorkload[]): Endpoint[] {
  const wanted = Object.entries(s.selector?.value ?? {});
  return workloads
    .filter((w) => w.workload.namespace === s.namespace && wanted.every(([k, v]) => w.workload.labels[k] === v))
    .sort((a, b) => compare(a.workload.name, b.workload.name))
    .map((w) => ({
      address: w.workload.address,
      ports: w.ports,
      labels: w.workload.labels,
      namespace: w.workload.namespace,
      serviceAccount: w.workload.serviceAccount,
      workload: w.workload.name,
      node: w.workload.node,
      weight: w.weight,
      ...(w.locality !== undefined ? { locality: w.locality } : {}),
    }));
}

/**
 * Two services claiming the same VIP:port (or host:port) cannot both be routed to: reported once per
 * claimed value on the later document, naming the earlier one.
 */
function checkClaims(
  services: readonly ParsedService[],
  values: (s: ParsedService) => readonly { readonly value: string; readonly path: string }[],
  what: string,
  report: Report,
): void {
  const owner = new Map<string, ParsedService>();
  for (const s of services) {
    for (const v of values(s)) {
      const clashes = new Map<ParsedService, number[]>();
      for (const p of s.ports) {
        const claim = `${v.value}:${p.number}`;
        const first = owner.get(claim);
        if (first === undefined) owner.set(claim, s);
        else clashes.set(first, [...(clashes.get(first) ?? []), p.number]);
      }
      for (const [first, ports] of clashes) {
        const claimed = ports.map((n) => `${v.value}:${n}`).join(', ');
        // The path already includes the object's root (it was read under it), so report it as is.
        report({ ...s.origin, root: '' }, v.path, `${what} ${claimed} is already claimed by ${where(first.origin)}`);
      }
    }
  }
}

function under(root: string, field: string): string {
  return root === '' ? field : `${root}.${field}`;
}

function at(o: Origin): string {
  return `${o.file} document ${o.document}${o.root ? ` ${o.root}` : ''}`;
}

function where(o: Origin): string {
  return `${o.kind} ${o.name} (${at(o)})`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
