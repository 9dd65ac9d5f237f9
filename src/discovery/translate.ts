// Discovery's view of the cluster (trimmed Services, EndpointSlices, Pods, Namespaces, Nodes) → the
// parsed documents assemble() joins with the ConfigMap's: a ServiceEntry-like service per Service, a
// workload per pod, a node per Node. Pure apart from its cache: this runs after every batch of changes on
// clusters of 100k pods, so a Translator remembers what it built and rebuilds only the services whose
// Service, slices, pods or pods' namespace labels changed, and only the workloads whose pod or namespace
// did. Told which keys changed, it does not even compare the rest.
import { checkHost } from '../config/formats';
import type { ParsedNode, ParsedService, ParsedWorkload } from '../config/kinds/types';
import { MeshError } from '../errors';
import { isMeshed, type KEndpointSlice, type KKind, type KNamespace, type KNode, type KPod, type KService } from './objects';
import { MultiMap } from './multimap';
import { buildService, serviceHost, type PodSource } from './service';
import { WorkloadCache, sameLabels, sameVersion } from './workloads';

export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';
export const NODE_FILE = 'kubernetes:Node';

/** Keys: "namespace/name" for Services, EndpointSlices and Pods; the bare name for Namespaces and Nodes. */
export interface View {
  readonly services: ReadonlyMap<string, KService>;
  readonly slices: ReadonlyMap<string, KEndpointSlice>;
  readonly pods: ReadonlyMap<string, KPod>;
  readonly namespaces: ReadonlyMap<string, KNamespace>;
  readonly nodes: ReadonlyMap<string, KNode>;
}

/** Keys set or deleted in the view since the previous translate, by kind (all of them, of every kind). */
export type Changes = { readonly [K in KKind]?: Iterable<string> };

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

/** In the order the translator first saw the objects. The lists are shared between calls: do not modify. */
export interface Translation {
  readonly services: readonly ParsedService[];
  readonly workloads: readonly ParsedWorkload[];
  readonly nodes: readonly ParsedNode[];
  readonly skipped: readonly Skipped[];
}

/** A one-off translation (no cache kept). */
export function translate(view: View, options: TranslateOptions = {}): Translation {
  return new Translator(options).translate(view);
}

interface ServiceEntry {
  readonly svc: KService;
  readonly parsed: ParsedService | undefined;
  readonly skip: string;
  /** What the endpoints were built from: pod keys looked up, and namespaces of the pods found. */
  readonly pods: readonly string[];
  readonly namespaces: readonly string[];
}

interface Output<T> {
  readonly list: readonly T[];
  readonly skipped: readonly Skipped[];
}

export class Translator {
  readonly clusterDomain: string;
  private primed = false;
  private readonly namespaces = new Map<string, KNamespace>();
  private readonly workloads = new WorkloadCache();
  private readonly slices = new Map<string, { readonly slice: KEndpointSlice; readonly service: string }>();
  private readonly slicesByService = new MultiMap();
  private readonly services = new Map<string, ServiceEntry>();
  private readonly servicesByPod = new MultiMap();
  private readonly servicesByNamespace = new MultiMap();
  private servicesOut: Output<ParsedService> | undefined;
  private readonly nodes = new Map<string, { readonly node: KNode; readonly parsed: ParsedNode | undefined }>();
  private nodesOut: Output<ParsedNode> | undefined;

  constructor(options: TranslateOptions = {}) {
    const domain = (options.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN).toLowerCase().replace(/\.$/, '');
    const problem = domain.startsWith('*') ? 'must not be a wildcard' : checkHost(domain);
    if (problem !== undefined) throw new MeshError('USAGE', `cluster domain ${problem}`);
    this.clusterDomain = domain;
  }

  /**
   * Without CHANGES every object is compared with what the last call saw. With CHANGES (the keys the
   * informers set or deleted since the last call) only those are looked at; the first call compares all.
   */
  translate(view: View, changes?: Changes): Translation {
    const tracked = changes !== undefined && this.primed;
    // Keys of the services to rebuild whatever their own version says.
    const dirty = new Set<string>();
    const stalePod = (key: string): void => this.servicesByPod.forEach(key, (s) => dirty.add(s));

    const changedNamespaces = new Set<string>();
    if (tracked) for (const name of changes.Namespace ?? []) this.updateNamespace(name, view.namespaces.get(name), changedNamespaces);
    else {
      view.namespaces.forEach((ns, name) => this.updateNamespace(name, ns, changedNamespaces));
      sweep(this.namespaces, view.namespaces, (name) => this.updateNamespace(name, undefined, changedNamespaces));
    }
    for (const name of changedNamespaces) this.servicesByNamespace.forEach(name, (s) => dirty.add(s));

    // A namespace's labels decide whether each of its pods is meshed: that takes the walk over all pods.
    if (tracked && changedNamespaces.size === 0) {
      for (const key of changes.Pod ?? []) if (this.workloads.update(key, view.pods.get(key), view.namespaces)) stalePod(key);
    } else this.workloads.scan(view.pods, view.namespaces, changedNamespaces, stalePod);

    if (tracked) for (const key of changes.EndpointSlice ?? []) this.updateSlice(key, view.slices.get(key), dirty);
    else {
      view.slices.forEach((slice, key) => this.updateSlice(key, slice, dirty));
      sweep(this.slices, view.slices, (key) => this.updateSlice(key, undefined, dirty));
    }

    if (tracked) {
      for (const key of changes.Service ?? []) if (!dirty.has(key)) this.updateService(key, view.services.get(key), view, false);
      for (const key of dirty) this.updateService(key, view.services.get(key), view, true);
    } else {
      view.services.forEach((svc, key) => this.updateService(key, svc, view, dirty.has(key)));
      sweep(this.services, view.services, (key) => this.updateService(key, undefined, view, false));
    }

    if (tracked) for (const key of changes.Node ?? []) this.updateNode(key, view.nodes.get(key));
    else {
      view.nodes.forEach((node, key) => this.updateNode(key, node));
      sweep(this.nodes, view.nodes, (key) => this.updateNode(key, undefined));
    }
    this.primed = true;

    const services = this.servicesOutput();
    const workloads = this.workloads.result();
    const nodes = this.nodesOutput();
    const skipped = services.skipped.length + workloads.skipped.length + nodes.skipped.length === 0 ? [] : [...services.skipped, ...workloads.skipped, ...nodes.skipped];
    return { services: services.list, workloads: workloads.workloads, nodes: nodes.list, skipped };
  }

  /** Meshed pods scheduled on NODE as of the last translate: meshedPodsOn without the walk over all pods. */
  meshedPodsOn(node: string): KPod[] {
    return this.workloads.meshedOn(node);
  }

  /** Only labels are read from a namespace: other updates change nothing. */
  private updateNamespace(name: string, ns: KNamespace | undefined, changed: Set<string>): void {
    const prev = this.namespaces.get(name);
    if (ns === undefined) {
      if (prev !== undefined) changed.add(name);
      this.namespaces.delete(name);
      return;
    }
    if (prev === ns) return;
    if (prev === undefined || !sameLabels(prev.meta.labels, ns.meta.labels)) changed.add(name);
    this.namespaces.set(name, ns);
  }

  private updateSlice(key: string, slice: KEndpointSlice | undefined, dirty: Set<string>): void {
    const e = this.slices.get(key);
    if (slice === undefined) {
      if (e === undefined) return;
      dirty.add(e.service);
      this.slicesByService.delete(e.service, key);
      this.slices.delete(key);
      return;
    }
    if (e !== undefined && sameVersion(e.slice, slice)) return;
    const service = `${slice.meta.namespace}/${slice.service}`;
    if (e !== undefined) {
      dirty.add(e.service);
      if (e.service !== service) this.slicesByService.delete(e.service, key);
    }
    this.slicesByService.add(service, key);
    dirty.add(service);
    this.slices.set(key, { slice, service });
  }

  private updateService(key: string, svc: KService | undefined, view: View, force: boolean): void {
    const prev = this.services.get(key);
    if (svc === undefined) {
      if (prev === undefined) return;
      this.track(key, prev, undefined);
      this.services.delete(key);
      this.servicesOut = undefined;
      return;
    }
    if (prev !== undefined && !force && sameVersion(prev.svc, svc)) return;
    const e = this.buildService(svc, view);
    this.track(key, prev, e);
    this.services.set(key, e);
    this.servicesOut = undefined;
  }

  private buildService(svc: KService, view: View): ServiceEntry {
    const host = serviceHost(svc, this.clusterDomain);
    if (host.length > 253) return { svc, parsed: undefined, skip: `host ${host} is longer than 253 characters`, pods: [], namespaces: [] };
    const slices = this.slicesByService
      .values(`${svc.meta.namespace}/${svc.meta.name}`)
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
      node: (name) => view.nodes.get(name),
    };
    const parsed = buildService(svc, slices, source, this.clusterDomain);
    return { svc, parsed, skip: '', pods: [...podKeys], namespaces: [...namespaces] };
  }

  /** Moves KEY's entries in the reverse indexes from what PREV was built from to what NEXT is. */
  private track(key: string, prev: ServiceEntry | undefined, next: ServiceEntry | undefined): void {
    for (const p of prev?.pods ?? []) this.servicesByPod.delete(p, key);
    for (const n of prev?.namespaces ?? []) this.servicesByNamespace.delete(n, key);
    for (const p of next?.pods ?? []) this.servicesByPod.add(p, key);
    for (const n of next?.namespaces ?? []) this.servicesByNamespace.add(n, key);
  }

  private servicesOutput(): Output<ParsedService> {
    if (this.servicesOut !== undefined) return this.servicesOut;
    const list: ParsedService[] = [];
    const skipped: Skipped[] = [];
    this.services.forEach((e, key) => {
      if (e.parsed !== undefined) list.push(e.parsed);
      else skipped.push({ kind: 'Service', key, reason: e.skip });
    });
    return (this.servicesOut = { list, skipped });
  }

  private updateNode(key: string, node: KNode | undefined): void {
    const prev = this.nodes.get(key);
    if (node === undefined) {
      if (prev !== undefined) this.nodesOut = undefined;
      this.nodes.delete(key);
      return;
    }
    if (prev !== undefined && sameVersion(prev.node, node)) return;
    this.nodes.set(key, { node, parsed: toNode(node) });
    this.nodesOut = undefined;
  }

  private nodesOutput(): Output<ParsedNode> {
    if (this.nodesOut !== undefined) return this.nodesOut;
    const list: ParsedNode[] = [];
    const skipped: Skipped[] = [];
    this.nodes.forEach((e, key) => {
      if (e.parsed !== undefined) list.push(e.parsed);
      else skipped.push({ kind: 'Node', key, reason: 'no IPv4 InternalIP address: peers cannot tunnel to its agent' });
    });
    return (this.nodesOut = { list, skipped });
  }
}

/** Calls GONE for each key of CACHE that VIEW no longer has (after the walk, CACHE ⊇ VIEW: sizes tell). */
function sweep(cache: ReadonlyMap<string, unknown>, view: ReadonlyMap<string, unknown>, gone: (key: string) => void): void {
  if (cache.size <= view.size) return;
  for (const key of [...cache.keys()]) if (!view.has(key)) gone(key);
}

/** Meshed pods scheduled on NODE (the ones whose cgroups the agent there puts in the kernel map), by key. */
export function meshedPodsOn(view: Pick<View, 'pods' | 'namespaces'>, node: string): KPod[] {
  const out: [string, KPod][] = [];
  view.pods.forEach((pod, key) => {
    if (pod.node !== node || pod.phase === 'Succeeded' || pod.phase === 'Failed') return;
    if (isMeshed(pod, view.namespaces.get(pod.meta.namespace))) out.push([key, pod]);
  });
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, pod]) => pod);
}

function toNode(node: KNode): ParsedNode | undefined {
  if (node.internalIPs.length === 0) return undefined;
  const name = node.meta.name;
  return {
    kind: 'Node',
    origin: { file: NODE_FILE, document: 0, kind: 'Node', name, root: '' },
    node: { name, addresses: node.internalIPs, ...(Object.keys(node.meta.labels).length > 0 ? { labels: node.meta.labels } : {}) },
    addresses: node.internalIPs.map((value) => ({ value, path: 'status.addresses' })),
  };
}
