// Pods → workloads (identity by pod IP, for metrics and policy), kept as a cache by translate.ts: one
// entry per pod, rebuilt only when the pod or its namespace's labels change, and the output list reused
// while no pod changed. Two live pods claiming one IP (a stale object the API has not removed yet): the
// newer object wins, the other is skipped.
import type { Origin, ParsedWorkload } from '../config/kinds/types';
import { isMeshed, type KNamespace, type KPod } from './objects';
import { MultiMap } from './multimap';

export const POD_FILE = 'kubernetes:Pod';

interface PodEntry {
  readonly key: string;
  readonly pod: KPod;
  /** Undefined when the pod is no workload (no IPv4 yet, finished, host network). */
  readonly workload: ParsedWorkload | undefined;
  /** In the mesh and not finished: its cgroup belongs in its node's opt-in map. */
  readonly meshed: boolean;
}

/** A pod left out of the workloads, with the reason. */
export interface SkippedPod {
  readonly kind: 'Pod';
  readonly key: string;
  readonly reason: string;
}

const NO_PORTS: Readonly<Record<string, number>> = Object.freeze({});

export class WorkloadCache {
  private readonly pods = new Map<string, PodEntry>();
  /** Pod IP → keys of the workload pods that have it (more than one: a stale object). */
  private readonly ipClaims = new MultiMap();
  private readonly conflicted = new Set<string>();
  private output: { readonly workloads: readonly ParsedWorkload[]; readonly skipped: readonly SkippedPod[] } | undefined;
  /** Node name → keys of its meshed pods. */
  private readonly meshedByNode = new MultiMap();

  /**
   * Brings KEY up to date with POD (undefined: deleted). FORCE re-derives an unchanged pod (its
   * namespace's labels changed). Returns true when endpoints built from the previous version are stale.
   */
  update(key: string, pod: KPod | undefined, namespaces: ReadonlyMap<string, KNamespace>, force = false): boolean {
    const prev = this.pods.get(key);
    if (pod === undefined) {
      if (prev === undefined) return false;
      if (prev.workload !== undefined) this.releaseIp(prev.workload.workload.address, key);
      if (prev.meshed) this.meshedByNode.delete(prev.pod.node, key);
      this.pods.delete(key);
      this.output = undefined;
      return true;
    }
    if (prev !== undefined && sameVersion(prev.pod, pod) && !force) return false;
    const current = prev !== undefined && sameVersion(prev.pod, pod) ? prev.pod : pod;
    const inMesh = isMeshed(current, namespaces.get(current.meta.namespace));
    let workload = isWorkload(current) ? toWorkload(key, current, inMesh) : undefined;
    const meshed = inMesh && current.phase !== 'Succeeded' && current.phase !== 'Failed';
    if (prev?.meshed) this.meshedByNode.delete(prev.pod.node, key);
    if (meshed) this.meshedByNode.add(current.node, key);
    const before = prev?.workload?.workload.address;
    const now = workload?.workload.address;
    if (before !== now) {
      if (before !== undefined) this.releaseIp(before, key);
      if (now !== undefined) this.claimIp(now, key);
    }
    // Most pod updates are status noise: the workload stays the same object and the list is reused.
    if (workload !== undefined && prev?.workload !== undefined && sameWorkload(prev.workload, workload)) workload = prev.workload;
    else if (workload !== prev?.workload) this.output = undefined;
    this.pods.set(key, { key, pod: current, workload, meshed });
    // The resourceVersion decides which of two pods with one IP wins.
    if (now !== undefined && this.conflicted.has(now)) this.output = undefined;
    return prev === undefined || !sameForEndpoints(prev.pod, current);
  }

  /** Compares every pod of PODS with the cache (and drops the ones gone); ONCHANGE gets stale-endpoint keys. */
  scan(pods: ReadonlyMap<string, KPod>, namespaces: ReadonlyMap<string, KNamespace>, changedNamespaces: ReadonlySet<string>, onChange: (key: string) => void): void {
    const nsChanged = changedNamespaces.size > 0;
    // forEach: the cheapest walk over a Map in V8, and this one has an entry per pod of the cluster.
    pods.forEach((pod, key) => {
      const e = this.pods.get(key);
      if (e !== undefined && e.pod === pod && !(nsChanged && changedNamespaces.has(pod.meta.namespace))) return;
      if (this.update(key, pod, namespaces, nsChanged && changedNamespaces.has(pod.meta.namespace))) onChange(key);
    });
    if (this.pods.size > pods.size) {
      for (const key of [...this.pods.keys()]) if (!pods.has(key) && this.update(key, undefined, namespaces)) onChange(key);
    }
  }

  /** Meshed pods scheduled on NODE, by key (as meshedPodsOn computes it from a view). */
  meshedOn(node: string): KPod[] {
    return this.meshedByNode
      .values(node)
      .sort()
      .map((k) => this.pods.get(k)?.pod)
      .filter((p): p is KPod => p !== undefined);
  }

  /** Workloads in first-seen order, and the stale pods left out. */
  result(): { readonly workloads: readonly ParsedWorkload[]; readonly skipped: readonly SkippedPod[] } {
    if (this.output !== undefined) return this.output;
    const winners = new Map<string, PodEntry>();
    for (const ip of this.conflicted) {
      const claims = this.ipClaims.values(ip).map((k) => this.pods.get(k)).filter((e): e is PodEntry => e !== undefined);
      winners.set(ip, claims.reduce((a, b) => (newer(b, a) ? b : a)));
    }
    const workloads: ParsedWorkload[] = [];
    const skipped: SkippedPod[] = [];
    this.pods.forEach((e) => {
      const w = e.workload;
      if (w === undefined) return;
      const winner = winners.size > 0 ? winners.get(w.workload.address) : undefined;
      if (winner === undefined || winner === e) workloads.push(w);
      else skipped.push({ kind: 'Pod', key: e.key, reason: `pod IP ${w.workload.address} is also used by the newer pod ${winner.key} (a stale object)` });
    });
    this.output = { workloads, skipped };
    return this.output;
  }

  private claimIp(ip: string, key: string): void {
    this.ipClaims.add(ip, key);
    if (this.ipClaims.count(ip) > 1) this.conflicted.add(ip);
  }

  private releaseIp(ip: string, key: string): void {
    this.ipClaims.delete(ip, key);
    if (this.ipClaims.count(ip) <= 1) this.conflicted.delete(ip);
  }
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
    ports: NO_PORTS,
    weight: 1,
  };
}

function sameWorkload(a: ParsedWorkload, b: ParsedWorkload): boolean {
  const x = a.workload;
  const y = b.workload;
  return (
    x.name === y.name &&
    x.namespace === y.namespace &&
    x.address === y.address &&
    x.serviceAccount === y.serviceAccount &&
    x.node === y.node &&
    sameLabels(x.labels, y.labels)
  );
}

/** The same version of the same object (a re-list hands out new copies of unchanged objects). */
export function sameVersion(a: { readonly meta: { readonly resourceVersion: string; readonly uid: string } }, b: typeof a): boolean {
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

export function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
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
