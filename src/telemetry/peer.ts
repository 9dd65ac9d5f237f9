// The source_* labels of the destination reporter for a tunnel stream: who called, from the verified peer
// identity and the client address the peer agent forwards. Pure (the identity index is memoized per view).
import type { Addr } from '../capture/types';
import type { Workload } from '../config/model';
import { principalOf, tryParseSpiffeId } from '../identity/spiffe';
import { sourceFromWorkload, UNKNOWN, UNKNOWN_SOURCE, type SourceInfo } from './labels';

/** What the decision reads of the agent's view (state/topology.ts Topology satisfies it). */
export interface PeerView {
  workloadByIp(ip: string): Workload | undefined;
  /** The workload's SPIFFE id (spiffe://td/ns/N/sa/S). */
  identityOf(w: Workload): string;
  readonly config: { readonly workloads: readonly Workload[] };
}

export interface PeerSource {
  /** The forwarded client's workload, believed because it has the verified identity; else undefined. */
  readonly client: Workload | undefined;
  readonly source: SourceInfo;
}

const byIdentity = new WeakMap<PeerView, Map<string, Workload[]>>();

function workloadsOf(view: PeerView, identity: string): readonly Workload[] {
  let index = byIdentity.get(view);
  if (index === undefined) {
    index = new Map();
    for (const w of view.config.workloads) {
      const id = view.identityOf(w);
      const list = index.get(id);
      if (list === undefined) index.set(id, [w]);
      else list.push(w);
    }
    byIdentity.set(view, index);
  }
  return index.get(identity) ?? [];
}

/**
 * Who called through the tunnel with IDENTITY (verified by mTLS), from FORWARDED (the peer agent's claim):
 *  1. the forwarded address's workload, when it has that identity (the claim is believed only then);
 *  2. else the one workload the identity names: every workload with that namespace and service account
 *     has the same name (the replicas of one deployment);
 *  3. else the identity alone: source_workload_namespace from it, the workload "unknown".
 * The principal is always the verified identity's; the cluster is this mesh's (peers share its CA).
 */
export function peerSource(view: PeerView, identity: string, forwarded: Addr | undefined, cluster: string): PeerSource {
  const principal = principalOf(identity);
  const claimed = forwarded === undefined ? undefined : view.workloadByIp(forwarded.address);
  if (claimed !== undefined && view.identityOf(claimed) === identity) {
    return { client: claimed, source: sourceFromWorkload(claimed, cluster, principal) };
  }
  const named = workloadsOf(view, identity);
  const first = named[0];
  if (first !== undefined && named.every((w) => w.name === first.name)) {
    return { client: undefined, source: sourceFromWorkload(first, cluster, principal) };
  }
  const id = tryParseSpiffeId(identity);
  return { client: undefined, source: { ...UNKNOWN_SOURCE, principal, namespace: id?.namespace ?? UNKNOWN, cluster } };
}
