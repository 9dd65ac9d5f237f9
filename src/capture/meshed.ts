// The kernel's opt-in table from the pods that opted in: each pod's cgroup id, found from its UID in
// kubelet's layout below --cgroup. A pod whose cgroup is not there yet (its sandbox is still starting)
// is reported back as pending, and looked for again by the caller.
import { PodCgroups } from './cgroups';

export interface PodRef {
  readonly meta: { readonly uid: string };
  readonly qosClass: string;
}

export interface MeshedCgroups<P extends PodRef> {
  /** undefined PODS = opt-in off (ids undefined: everything below --cgroup is captured, as without discovery). */
  resolve(pods: readonly P[] | undefined): { ids: bigint[] | undefined; pending: P[] };
}

export function meshedCgroups<P extends PodRef>(root: string): MeshedCgroups<P> {
  const cgroups = new PodCgroups(root);
  return {
    resolve(pods) {
      if (pods === undefined) return { ids: undefined, pending: [] };
      const ids: bigint[] = [];
      const pending: P[] = [];
      for (const p of pods) {
        const cg = cgroups.resolve(p.meta.uid, p.qosClass);
        if (cg) ids.push(cg.id);
        else pending.push(p);
      }
      return { ids, pending };
    },
  };
}
