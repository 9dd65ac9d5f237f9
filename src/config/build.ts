// The cross-document pass: joins validated documents into services and workloads, and finds what no
// single document can show (duplicates, shared VIPs, id collisions, selected endpoints).
import { serviceId } from './ids';
import { issue } from './issues';
import type { ConfigIssue, Endpoint, Service, Workload } from './model';
import type { Origin, Parsed, ParsedService, ParsedWorkload } from './kinds/types';

/** connect4 keeps a fixed-size backend array per kernel-mode service. */
export const MAX_KERNEL_ENDPOINTS = 64;

export interface Assembled {
  readonly services: Service[];
  readonly workloads: Workload[];
}

export function assemble(parsed: readonly Parsed[], issues: ConfigIssue[], warnings: ConfigIssue[]): Assembled {
  const report = (o: Origin, field: string, message: string, to: ConfigIssue[] = issues): void => {
    to.push(issue(o.file, o.document, message, { kind: o.kind, name: o.name, field: under(o.root, field) }));
  };
  const unique = dropDuplicates(parsed, report);
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
    if (endpoints.length === 0) report(s.origin, endpointsField, 'service has no endpoints; connections to it will fail', warnings);
    if (s.dataplane === 'kernel') {
      if (endpoints.length > MAX_KERNEL_ENDPOINTS) {
        report(s.origin, endpointsField, `kernel dataplane supports at most ${MAX_KERNEL_ENDPOINTS} endpoints, got ${endpoints.length}`);
      }
      if (s.addresses.length === 0) report(s.origin, 'spec.addresses', 'kernel dataplane needs a VIP in spec.addresses to capture connections', warnings);
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
    });
  }
  checkClaims(parsedServices, (s) => s.addresses, 'address', report);
  checkClaims(parsedServices, (s) => s.hosts, 'host', report);

  return {
    services: services.sort((a, b) => compare(a.key, b.key)),
    workloads: workloads.map((w) => w.workload).sort((a, b) => compare(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`)),
  };
}

type Report = (o: Origin, field: string, message: string, to?: ConfigIssue[]) => void;

function dropDuplicates(parsed: readonly Parsed[], report: Report): Parsed[] {
  const seen = new Map<string, Origin>();
  return parsed.filter((p) => {
    const key = `${p.kind} ${p.origin.name}`;
    const first = seen.get(key);
    if (first === undefined) {
      seen.set(key, p.origin);
      return true;
    }
    report(p.origin, 'metadata.name', `duplicate ${p.kind} ${p.origin.name}, already defined in ${at(first)}`);
    return false;
  });
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
