// Builds Kubernetes discovery for the agent: the client config (in-cluster, --kubeconfig or $KUBECONFIG),
// the Events writer and the metrics, then the informers (started by MeshSources).
import type { Registry } from 'prom-client';
import type { Reserved } from '../config/reserved';
import { Discovery } from './discovery';
import { KubeEvents } from './events';
import { loadKubeConfig } from './kubeconfig';
import { DiscoveryMetrics } from './metrics';

export interface StartDiscoveryOptions {
  readonly kubeconfig: string | undefined;
  readonly node: string;
  readonly clusterDomain: string;
  readonly registry: Registry;
  readonly onChange: () => void;
  /** The agent's own addresses and ports, which Istio objects must not name either. */
  readonly reserved?: Reserved;
}

export function startDiscovery(o: StartDiscoveryOptions): Discovery {
  const kc = loadKubeConfig(o.kubeconfig);
  return new Discovery({
    kc,
    node: o.node,
    clusterDomain: o.clusterDomain,
    metrics: new DiscoveryMetrics(o.registry),
    events: new KubeEvents(kc, o.node),
    onChange: o.onChange,
    ...(o.reserved !== undefined && { reserved: o.reserved }),
  });
}
