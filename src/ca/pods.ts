// The CA's view of the cluster's pods: which pod (namespace, ServiceAccount, IPs) runs on which node.
// Fed by the pod informer (kube.ts); read on every certificate request, so both questions are map
// lookups: "which identities run on node X" and "where does pod NS/NAME run" (a caller's bound pod).
// Only these few fields are kept per pod, so a large cluster costs little memory.
import type { KPod } from '../discovery/objects';
import { DEFAULT_SERVICE_ACCOUNT } from '../identity/spiffe';
import type { TopologyWorkload } from './authz';
import type { PodLookup } from './caller';

export interface PodRecord {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly serviceAccount: string;
  /** spec.nodeName; '' while unscheduled. */
  readonly node: string;
  readonly ips: readonly string[];
  /** Phase Succeeded or Failed: its containers are gone, so it needs no identity. */
  readonly terminated: boolean;
}

export function podRecord(p: KPod): PodRecord {
  return {
    namespace: p.meta.namespace,
    name: p.meta.name,
    uid: p.meta.uid,
    // The API fills in `default`; an object without it runs as `default` all the same.
    serviceAccount: p.serviceAccount || DEFAULT_SERVICE_ACCOUNT,
    node: p.node,
    ips: p.ips,
    terminated: p.phase === 'Succeeded' || p.phase === 'Failed',
  };
}

/** What the CA server asks of the pods (kept narrow so tests can fake it). */
export interface NodeWorkloads {
  /** Until true, "no such pod on that node" may only mean "not listed yet". */
  readonly synced: boolean;
  /** Identities (namespace, ServiceAccount) of the running pods on `node`, once each. */
  workloadsOn(node: string): readonly TopologyWorkload[];
}

export class PodIndex implements PodLookup, NodeWorkloads {
  synced = false;
  private readonly byKey = new Map<string, PodRecord>();
  private readonly byNode = new Map<string, Map<string, PodRecord>>();

  get size(): number {
    return this.byKey.size;
  }

  /** Adds or replaces the pod at `key` (`namespace/name`). */
  upsert(key: string, rec: PodRecord): void {
    this.remove(key);
    this.byKey.set(key, rec);
    if (rec.node === '') return;
    let on = this.byNode.get(rec.node);
    if (on === undefined) this.byNode.set(rec.node, (on = new Map()));
    on.set(key, rec);
  }

  remove(key: string): void {
    const old = this.byKey.get(key);
    if (old === undefined) return;
    this.byKey.delete(key);
    const on = this.byNode.get(old.node);
    on?.delete(key);
    if (on?.size === 0) this.byNode.delete(old.node);
  }

  pod(namespace: string, name: string): PodRecord | undefined {
    return this.byKey.get(`${namespace}/${name}`);
  }

  podsOn(node: string): PodRecord[] {
    return [...(this.byNode.get(node)?.values() ?? [])];
  }

  workloadsOn(node: string): TopologyWorkload[] {
    const seen = new Map<string, TopologyWorkload>();
    for (const p of this.byNode.get(node)?.values() ?? []) {
      if (p.terminated) continue;
      const k = `${p.namespace}/${p.serviceAccount}`;
      if (!seen.has(k)) seen.set(k, { namespace: p.namespace, serviceAccount: p.serviceAccount, node });
    }
    return [...seen.values()];
  }
}
