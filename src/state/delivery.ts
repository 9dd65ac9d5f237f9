// How the agent delivers a picked endpoint, from one node's point of view: through the mTLS tunnel (a mesh
// endpoint, this node's own pods included), in plaintext to a pod on this node that no tunnel serves, or
// directly. The metric labels of both reporters follow it (telemetry/reporters.ts). Pure; one view per
// config, answers cached per target object (targets keep their identity while the config does).
import type { Target } from '../balance/target';
import type { Endpoint } from '../config/model';
import { principalOf } from '../identity/spiffe';
import { DIRECT, type Delivery, type DeliveryView } from '../telemetry/reporters';
import type { Topology } from './topology';

/** What the view needs of the mesh plane's tunnel routes: endpoint ip:port → its endpoint. */
export type TunnelRoutes = ReadonlyMap<string, { readonly endpoint: Endpoint }>;

export function deliveryView(topo: Topology, tunnels: TunnelRoutes): DeliveryView {
  const cache = new WeakMap<Target, Delivery>();
  const decide = (t: Target): Delivery => {
    const routed = tunnels.get(t.key);
    const at = topo.workloadByIp(t.addr.address);
    if (routed !== undefined) return Object.freeze({ kind: 'tunnel', principal: principalOf(topo.identityOf(routed.endpoint)), ...(at ? { workload: at } : {}) });
    if (at !== undefined && topo.isLocalIp(at.address)) return Object.freeze({ kind: 'local', principal: principalOf(topo.identityOf(at)), workload: at });
    return DIRECT;
  };
  return {
    deliveryOf(t) {
      let d = cache.get(t);
      if (d === undefined) cache.set(t, (d = decide(t)));
      return d;
    },
  };
}
