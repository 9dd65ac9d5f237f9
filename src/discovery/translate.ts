// Discovery's view of the cluster (trimmed Services, EndpointSlices, Pods, Namespaces, Nodes) → the
// parsed documents assemble() joins with the ConfigMap's: a ServiceEntry-like service per Service, a
// workload per pod, a node per Node. Pure apart from its cache: this runs after every batch of changes on
// clusters of 100k pods, so a Translator remembers what it built and rebuilds only the services whose
// Service, slices, pods or pods' namespaces changed, and only the workloads whose pod or namespace did.
import { checkHost } from '../config/formats';
import type { Origin, ParsedNode, ParsedService, ParsedWorkload } from '../config/kinds/types';
import { MeshError } from '../errors';
import { isMeshed, type KEndpointSlice, type KKind, type KNamespace, type KNode, type KObject, type KPod, type KService } from './objects';
import { MultiMap } from './multimap';
import { buildService, serviceHost, type PodSource } from './service';

export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';
export const POD_FILE = 'kubernetes:Pod';
export const NODE_FILE = 'kubernetes:Node';

/** Keys: "namespace/name" for Services, EndpointSlices and Pods; the bare name for Namespaces and Nodes. */
export interface View {
  readonly services: ReadonlyMap<string, KService>;
  readonly slices: ReadonlyMap<string, KEndpointSlice>;
  readonly pods: ReadonlyMap<string, KPod>;
  readonly namespaces: ReadonlyMap<string, KNamespace>;
  readonly nodes: ReadonlyMap<string, KNode>;
}

export interface TranslateOptions {
  /** Kubernetes' cluster domain: services are `<name>.<namespace>.svc.<domain>`. */
  readonly clusterDomain?: string;
}

/** An object left out of the translation, for the caller to log by name. */
export interface Skipped {
  readonly kind: KKind;
  readonly key: string;
  readonly reason: string;
}

export interface Translation {
  readonly services: ParsedService[];
  readonly workloads: ParsedWorkload[];
  readonly nodes: ParsedNode[];
  readonly skipped: Skipped[];
}

/** A one-off translation (no cache kept). */
export function translate(view: View, options: TranslateOptions = {}): Translation {
  return new Translator(options).translate(view);
}

interface PodEntry {
  readonly key: string;
  readonly pod: KPod;
  /** Undefined when the pod is no workload (no IPv4 yet, finished, host network). */
  readonly workload: ParsedWorkload | undefined;
}

interface ServiceEntry {
  readonly svc: KService;
  readonly parsed: ParsedService | undefined;
  readonly skip: string;
  /** What the endpoints were built from: pod keys looked up, and namespaces of the pods found. */
  readonly pods: readonly string[];
  readonly namespaces: readonly string[];
}

export class Translator {
  readonly clusterDomain: string;
  private readonly namespaces = new Map<string, KNamespace>();
  private readonly pods = new Map<string, PodEntry>();
  /** Pod IP → keys of the workload pods that have it (more than one: a stale object). */
  private readonly ipClaims = new MultiMap();
  private readonly conflicted = new Set<string>();
  private readonly slices = new Map<string, { readonly slice: KEndpointSlice; readonly service: string }>();
  private readonly slicesByService = new MultiMap();
  private readonly services = new Map<string, ServiceEntry>();
  private readonly servicesByPod = new MultiMap();
  private readonly servicesByNamespace = new MultiMap();
  private readonly nodes = new Map<string, { readonly node: KNode; readonly parsed: ParsedNode | undefined }>();

  constructor(options: TranslateOptions = {}) {
    const domain = (options.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN).toLowerCase().replace(/\.$/, '');
    const problem = domain.startsWith('*') ? 'must not be a wildcard' : checkHost(domain);
    if (problem !== undefined) throw new MeshError('USAGE', `cluster domain ${problem}`);
    this.clusterDomain = domain;
  }

  translate(view: View): Translation {
    // Keys of the services to rebuild, whatever their own version says.
    const dirty = new Set<string>();
    const changedNamespaces = this.scanNamespaces(view, dirty);
    const allWorkloads = this.scanPods(view, changedNamespaces, dirty);
    this.scanSlices(view, dirty);
    const skipped: Skipped[] = [];
    const services = this.scanServices(view, dirty, skipped);
    const workloads = this.dropStale(allWorkloads, skipped);
    const nodes = this.scanNodes(view, skipped);
    return { services, workloads, nodes, skipped };
  }

  /** Names of namespaces whose labels (the only thing read from them) changed, or that came or went. */
  private scanNamespaces(view: View, dirty: Set<string>): Set<string> {
    const changed = new Set<string>();
    for (const [name, ns] of view.namespaces) {
      const prev = this.namespaces.get(name);
      if (prev === ns) continue;
      if (prev === undefined || !sameLabels(prev.meta.labels, ns.meta.labels)) changed.add(name);
      this.namespaces.set(name, ns);
    }
    if (this.namespaces.size > view.namespaces.size) {
      for (const name of [...this.namespaces.keys()]) {
        if (view.namespaces.has(name)) continue;
        this.namespaces.delete(name);
        changed.add(name);
      }
    }
    for (const name of changed) this.servicesByNamespace.forEach(name, (s) => dirty.add(s));
    return changed;
  }

  /** Refreshes the pod cache; returns the workloads, in the view's order. */
  private scanPods(view: View, changedNamespaces: ReadonlySet<string>, dirty: Set<string>): ParsedWorkload[] {
    const out: ParsedWorkload[] = [];
    const nsChanged = changedNamespaces.size > 0;
    // forEach: the cheapest walk over a Map in V8, and this one has an entry per pod of the cluster.
    view.pods.forEach((pod, key) => {
      let e = this.pods.get(key);
      if (e === undefined || !same(e.pod, pod)) {
        if (e === undefined || !sameForEndpoints(e.pod, pod)) this.servicesByPod.forEach(key, (s) => dirty.add(s));
        e = this.setPod(key, pod, view, e);
      } else if (nsChanged && changedNamespaces.has(pod.meta.namespace)) {
        e = this.setPod(key, e.pod, view, e);
      }
      if (e.workload !== undefined) out.push(e.workload);
    });
    if (this.pods.size > view.pods.size) {
      for (const [key, e] of [...this.pods]) {
        if (view.pods.has(key)) continue;
        this.servicesByPod.forEach(key, (s) => dirty.add(s));
        if (e.workload !== undefined) this.releaseIp(e.workload.workload.address, key);
        this.pods.delete(key);
      }
    }
    return out;
  }

  private setPod(key: string, pod: KPod, view: View, prev: PodEntry | undefined): PodEntry {
    const workload = isWorkload(pod) ? toWorkload(key, pod, isMeshed(pod, view.namespaces.get(pod.meta.namespace))) : undefined;
    const before = prev?.workload?.workload.address;
    const now = workload?.workload.address;
    if (before !== now) {
      if (before !== undefined) this.releaseIp(before, key);
      if (now !== undefined) this.claimIp(now, key);
    }
    const e = { key, pod, workload };
    this.pods.set(key, e);
    return e;
  }

  private claimIp(ip: string, key: string): void {
    this.ipClaims.add(ip, key);
    if (this.ipClaims.count(ip) > 1) this.conflicted.add(ip);
  }

  private releaseIp(ip: string, key: string): void {
    this.ipClaims.delete(ip, key);
    if (this.ipClaims.count(ip) <= 1) this.conflicted.delete(ip);
  }

  /** Two pods claiming one IP: the newer object wins, the other is a stale leftover (skipped). */
  private dropStale(workloads: ParsedWorkload[], skipped: Skipped[]): ParsedWorkload[] {
    if (this.conflicted.size === 0) return workloads;
    const winners = new Map<string, PodEntry>();
    for (const ip of this.conflicted) {
      const claims = this.ipClaims.values(ip).map((k) => this.pods.get(k)).filter((e): e is PodEntry => e !== undefined);
      winners.set(ip, claims.reduce((a, b) => (newer(b, a) ? b : a)));
    }
    return workloads.filter((w) => {
      const winner = winners.get(w.workload.address);
      if (winner === undefined || winner.key === w.origin.name) return true;
      skipped.push({ kind: 'Pod', key: w.origin.name, reason: `pod IP ${w.workload.address} is also used by the newer pod ${winner.key} (a stale object)` });
      return false;
    });
  }

  private scanSlices(view: View, dirty: Set<string>): void {
    view.slices.forEach((slice, key) => {
      const e = this.slices.get(key);
      if (e !== undefined && same(e.slice, slice)) return;
      const service = `${slice.meta.namespace}/${slice.service}`;
      if (e !== undefined) {
        dirty.add(e.service);
        if (e.service !== service) this.slicesByService.delete(e.service, key);
      }
      this.slicesByService.add(service, key);
      dirty.add(service);
      this.slices.set(key, { slice, service });
    });
    if (this.slices.size > view.slices.size) {
      for (const [key, e] of [...this.slices]) {
        if (view.slices.has(key)) continue;
        dirty.add(e.service);
        this.slicesByService.delete(e.service, key);
        this.slices.delete(key);
      }
    }
  }

  private scanServices(view: View, dirty: ReadonlySet<string>, skipped: Skipped[]): ParsedService[] {
    const out: ParsedService[] = [];
    view.services.forEach((svc, key) => {
      let e = this.services.get(key);
      if (e === undefined || !same(e.svc, svc) || dirty.has(key)) e = this.buildService(key, svc, view, e);
      if (e.parsed !== undefined) out.push(e.parsed);
      else skipped.push({ kind: 'Service', key, reason: e.skip });
    });
    if (this.services.size > view.services.size) {
      for (const [key, e] of [...this.services]) {
        if (view.services.has(key)) continue;
        this.track(key, e, undefined);
        this.services.delete(key);
      }
    }
    return out;
  }

  private buildService(key: string, svc: KService, view: View, prev: ServiceEntry | undefined): ServiceEntry {
    const host = serviceHost(svc, this.clusterDomain);
    if (host.length > 253) {
      const e: ServiceEntry = { svc, parsed: undefined, skip: `host ${host} is longer than 253 characters`, pods: [], namespaces: [] };
      this.track(key, prev, e);
      this.services.set(key, e);
      return e;
    }
    const slices = this.slicesByService
      .values(key)
      .sort()
      .map((k) => this.slices.get(k)?.slice)
      .filter((s): s is KEndpointSlice => s !== undefined);
    const podKeys = new Set<string>();
    const namespaces = new Set<string>();
    const source: PodSource = {
      pod: (namespace, name) => {
        const k = `${namespace}/${name}`;
        podKeys.add(k);
        const pod = view.pods.get(k);
        if (pod !== undefined) namespaces.add(pod.meta.namespace);
        return pod;
      },
      namespace: (name) => view.namespaces.get(name),
    };
    const parsed = buildService(svc, slices, source, this.clusterDomain);
    const e: ServiceEntry = { svc, parsed, skip: '', pods: [...podKeys], namespaces: [...namespaces] };
    this.track(key, prev, e);
    this.services.set(key, e);
    return e;
  }

  /** Moves KEY's entries in the reverse indexes from what PREV was built from to what NEXT is. */
  private track(key: string, prev: ServiceEntry | undefined, next: ServiceEntry | undefined): void {
    for (const p of prev?.pods ?? []) this.servicesByPod.delete(p, key);
    for (const n of prev?.namespaces ?? []) this.servicesByNamespace.delete(n, key);
    for (const p of next?.pods ?? []) this.servicesByPod.add(p, key);
    for (const n of next?.namespaces ?? []) this.servicesByNamespace.add(n, key);
  }

  private scanNodes(view: View, skipped: Skipped[]): ParsedNode[] {
    const out: ParsedNode[] = [];
    for (const [key, node] of view.nodes) {
      let e = this.nodes.get(key);
      if (e === undefined || !same(e.node, node)) {
        e = { node, parsed: toNode(node) };
        this.nodes.set(key, e);
      }
      if (e.parsed !== undefined) out.push(e.parsed);
      else skipped.push({ kind: 'Node', key, reason: 'no IPv4 InternalIP address: peers cannot tunnel to its agent' });
    }
    if (this.nodes.size > view.nodes.size) {
      for (const key of [...this.nodes.keys()]) if (!view.nodes.has(key)) this.nodes.delete(key);
    }
    return out;
  }
}

/** Meshed pods scheduled on NODE (the ones whose cgroups the agent there puts in the kernel map), by key. */
export function meshedPodsOn(view: Pick<View, 'pods' | 'namespaces'>, node: string): KPod[] {
  const out: [string, KPod][] = [];
  for (const [key, pod] of view.pods) {
    if (pod.node !== node || pod.phase === 'Succeeded' || pod.phase === 'Failed') continue;
    if (isMeshed(pod, view.namespaces.get(pod.meta.namespace))) out.push([key, pod]);
  }
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, pod]) => pod);
}

/** A pod that holds a workload identity: has an IPv4 address, is not finished, has its own network. */
function isWorkload(pod: KPod): boolean {
  return (pod.phase === 'Running' || pod.phase === 'Pending') && pod.ips.length > 0 && !pod.hostNetwork;
}

function toWorkload(key: string, pod: KPod, meshed: boolean): ParsedWorkload {
  const origin: Origin = { file: POD_FILE, document: 0, kind: 'Pod', name: key, root: '' };
  return {
    kind: 'WorkloadEntry',
    origin,
    workload: {
      name: pod.workload,
      namespace: pod.meta.namespace,
      address: pod.ips[0],
      labels: pod.meta.labels,
      serviceAccount: pod.serviceAccount || undefined,
      // Only a meshed pod has the node's agent in front of it (peers tunnel there).
      node: meshed ? pod.node || undefined : undefined,
    },
    ports: {},
    weight: 1,
  };
}

function toNode(node: KNode): ParsedNode | undefined {
  if (node.internalIPs.length === 0) return undefined;
  const name = node.meta.name;
  return {
    kind: 'Node',
    origin: { file: NODE_FILE, document: 0, kind: 'Node', name, root: '' },
    node: { name, addresses: node.internalIPs },
    addresses: node.internalIPs.map((value) => ({ value, path: 'status.addresses' })),
  };
}

/** The same version of the same object (a re-list hands out new copies of unchanged objects). */
function same(a: KObject, b: KObject): boolean {
  if (a === b) return true;
  return a.meta.resourceVersion !== '' && a.meta.resourceVersion === b.meta.resourceVersion && a.meta.uid === b.meta.uid;
}

/** Whether endpoints built from pod A are still right for pod B (most pod updates are status noise). */
function sameForEndpoints(a: KPod, b: KPod): boolean {
  return (
    a.node === b.node &&
    a.serviceAccount === b.serviceAccount &&
    a.workload === b.workload &&
    a.hostNetwork === b.hostNetwork &&
    a.ips.length === b.ips.length &&
    a.ips.every((ip, i) => b.ips[i] === ip) &&
    sameLabels(a.meta.labels, b.meta.labels)
  );
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  if (a === b) return true;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => Object.hasOwn(b, k) && b[k] === a[k]);
}

/** resourceVersions are etcd revisions in practice: compare them as decimal numbers of any length. */
function newer(a: PodEntry, b: PodEntry): boolean {
  const x = a.pod.meta.resourceVersion;
  const y = b.pod.meta.resourceVersion;
  const nx = /^[0-9]+$/.test(x) ? x.replace(/^0+(?=.)/, '') : '';
  const ny = /^[0-9]+$/.test(y) ? y.replace(/^0+(?=.)/, '') : '';
  if (nx !== ny) return nx.length !== ny.length ? nx.length > ny.length : nx > ny;
  return a.key < b.key;
}
