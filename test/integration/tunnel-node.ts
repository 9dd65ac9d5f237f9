// A destination node in process, for tests that drive the source side through the real tunnel: the
// node's config (destinationConfig), its InboundHandler behind a tunnel server, and a source-side pool
// with tunnel routes to it for CLIENT_ID, as the agents' mesh planes wire them.
import { buildConfig } from '../../src/config/load';
import { InboundHandler } from '../../src/downstream/tunnel';
import { MeshAuthz } from '../../src/policy/authz';
import { Topology } from '../../src/state/topology';
import type { Metrics } from '../../src/telemetry/metrics';
import type { TunnelPool } from '../../src/tunnel/client';
import { TunnelRoutes } from '../../src/upstream/tunnelsock';
import { SERVER_ID, startTestServer, testPool, type Pki, type TestTunnel } from './tunnel-harness';

export interface DestinationNode {
  readonly inbound: InboundHandler;
  readonly tunnel: TestTunnel;
  readonly pool: TunnelPool;
  readonly routes: TunnelRoutes;
  close(): Promise<void>;
}

/** CONTENT: the destination node's config (YAML); METRICS: its destination-side metrics. */
export async function destinationNode(p: Pki, content: string, metrics: Metrics): Promise<DestinationNode> {
  const built = buildConfig({ files: [{ path: 'mesh.yaml', name: 'mesh.yaml', content }], issues: [], warnings: [] });
  if (!built.ok) throw new Error(JSON.stringify(built.issues));
  const topo = new Topology(built.config, 'node-0', 'cluster.local');
  const authz = new MeshAuthz(built.config.authorizationPolicies);
  const inbound = new InboundHandler({ topology: () => topo, authz: () => authz, metrics, deliveryAddress: undefined, connectTimeoutMs: 2_000 });
  const tunnel = await startTestServer(p, { onStream: (ctx) => inbound.onStream(ctx) });
  const pool = testPool(p);
  const routes = new TunnelRoutes((r) => pool.open({ sourceIdentity: r.identity, destinationIdentities: [SERVER_ID], node: tunnel.addr, target: r.target, forwardedFor: r.client }));
  return {
    inbound,
    tunnel,
    pool,
    routes,
    async close() {
      routes.close();
      await pool.close();
      await tunnel.server.close(100);
      inbound.close();
    },
  };
}
