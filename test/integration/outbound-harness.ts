// A node's outbound side in-process: a mesh config read from YAML as the agent reads it, the agent's
// source resolver (workload and principal of a client address), and one outbound listener per service
// VIP whose original destination is that VIP (no eBPF needed).
import type { Addr } from '../../src/capture/types';
import { BalancerSet } from '../../src/balance/set';
import { buildConfig } from '../../src/config/load';
import type { MeshConfig } from '../../src/config/model';
import { createOutboundListener, type OutboundDeps, type OutboundListener } from '../../src/downstream/outbound';
import { principalOf, workloadIdentity } from '../../src/identity/spiffe';
import { ServiceIndex } from '../../src/state/services';
import { sourceResolver } from '../../src/telemetry/labels';

/** The config of YAML TEXT (one file, mesh.yaml); throws with the issues when it does not build. */
export function buildMesh(text: string): MeshConfig {
  const built = buildConfig({ files: [{ path: 'mesh.yaml', name: 'mesh.yaml', content: text }], issues: [], warnings: [] });
  if (!built.ok) throw new Error(JSON.stringify(built.issues));
  return built.config;
}

export interface OutboundSide {
  readonly index: ServiceIndex;
  /** One listener a VIP, in the order given. */
  readonly listeners: readonly OutboundListener[];
  close(): Promise<void>;
}

/** Outbound listeners on 127.0.0.1 for VIPS, sharing the index of CONFIG, one balancer set and DEPS. */
export async function startOutbound(config: MeshConfig, vips: readonly Addr[], deps: Pick<OutboundDeps, 'metrics' | 'accessLog' | 'dial'>): Promise<OutboundSide> {
  const index = new ServiceIndex(config);
  const sourceOf = sourceResolver((ip) => index.workloadByIp(ip), 'Kubernetes', (w) => principalOf(workloadIdentity(w, 'cluster.local')));
  const balancers = new BalancerSet();
  const listeners: OutboundListener[] = [];
  for (const vip of vips) {
    listeners.push(
      await createOutboundListener({
        host: '127.0.0.1',
        port: 0,
        deps: { originalDst: () => vip, index: () => index, balancers, sourceOf, timeouts: { detectMs: 1_000 }, ...deps },
      }),
    );
  }
  return {
    index,
    listeners,
    close: async () => {
      for (const l of listeners) await l.close(0);
    },
  };
}
