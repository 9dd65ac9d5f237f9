// Demo, part two: two nodes as network namespaces, the mesh CA, an agent per node. A client pod on
// node-0 calls a server pod on node-1 through the mTLS tunnel; a pod with another service account is
// denied by AuthorizationPolicy; plaintext from outside the mesh is dropped in the kernel (STRICT).
import * as path from 'node:path';
import { inspectPins } from '../src/capture/stat';
import type { Cluster } from '../test/helpers/cluster';
import { allowFrom, meshConfig, peerAuthentication } from '../test/helpers/cluster-config';
import { metricSum, NODE } from '../test/e2e/harness';
import { MeshNet } from '../test/e2e/meshnet';
import type { PartContext } from './demo/parts';

const VIP = '10.96.0.10';

function config(c: Cluster): string {
  const [n0, n1] = [c.nodes[0]!, c.nodes[1]!];
  return meshConfig({
    nodes: c.nodes,
    workloads: [
      { pod: n0.pods[0]!, namespace: 'shop', serviceAccount: 'frontend', app: 'frontend' },
      { pod: n0.pods[1]!, namespace: 'shop', serviceAccount: 'batch', app: 'batch' },
      { pod: n1.pods[0]!, namespace: 'shop', serviceAccount: 'orders', app: 'orders' },
      { pod: n1.pods[1]!, namespace: 'shop', serviceAccount: 'spare', app: 'spare' },
    ],
    services: [{ name: 'orders', namespace: 'shop', vip: VIP, port: 80, targetPort: 8080, protocol: 'HTTP', app: 'orders' }],
    extra: [allowFrom('orders-from-frontend', 'shop', 'orders', ['cluster.local/ns/shop/sa/frontend']), peerAuthentication('strict', 'shop', 'STRICT')],
  });
}

export async function meshDemo(seconds: number, ctx: PartContext): Promise<void> {
  console.log('\n== part two: a mesh across two nodes (network namespaces) ==');
  const m = await ctx.progress('the CA and two agents to start', MeshNet.start({ nodes: 2, podsPerNode: 2, config }));
  ctx.keepLogs(() => m.logs.join('\n'));
  const c = m.c;
  try {
    const [n0, n1] = [c.nodes[0]!, c.nodes[1]!];
    console.log(`nodes: ${c.nodes.map((n) => `${n.name} ${n.ip} (pods ${n.pods.map((p) => p.ip).join(', ')})`).join('; ')}`);
    console.log(`CA on ${n0.ip}:15012 (root in ${m.caDir}); agents attached to ${n0.podCgroupRoot} and ${n1.podCgroupRoot}`);
    const server = c.spawn(n1.pods[0]!, NODE, [path.join(__dirname, '../test/e2e/clients/server.js'), '8080', '9000']);
    await new Promise<void>((r) => server.stdout?.once('data', () => r()));
    const curl = async (pod: (typeof n0.pods)[0], who: string): Promise<void> => {
      const r = await c.exec(pod, 'curl', ['-s', '--max-time', '5', '-w', ' [%{http_code}]', `http://${VIP}/orders`], { timeoutMs: 8000 });
      console.log(`  ${who} (${pod.ip}) → orders (${VIP}): ${r.stdout}`);
    };
    await curl(n0.pods[0]!, 'frontend, sa frontend');
    await curl(n0.pods[1]!, 'batch,    sa batch   ');
    const plain = await c.outside(n1, 'curl', ['-s', '--max-time', '2', '-o', '/dev/null', '-w', '%{http_code}', `http://${n1.pods[0]!.ip}:8080/`], { timeoutMs: 5000 });
    console.log(`  plaintext from node-1's host network straight to the pod: ${plain.stdout === '000' ? 'no answer (dropped in the kernel: STRICT)' : plain.stdout}`);
    console.log(`  kernel STRICT drops on node-1: ${inspectPins(m.pin(1)).globals.strict_drop}`);
    const mt = await m.metrics(n1);
    const sel = { reporter: 'destination', connection_security_policy: 'mutual_tls' };
    console.log(`  node-1 istio_requests_total{reporter="destination",connection_security_policy="mutual_tls"}: 200 → ${metricSum(mt, 'istio_requests_total', { ...sel, response_code: '200' })}, 403 DENY → ${metricSum(mt, 'istio_requests_total', { ...sel, response_code: '403', response_flags: 'DENY' })}`);
    console.log('\nwhere to look:');
    console.log(`  nsenter --net=/run/netns/${n1.ns} curl -s ${n1.ip}:15020/metrics | grep -E 'istio_requests|nodemesh_cert|nodemesh_tunnel'`);
    const p0 = n0.pods[0]!;
    console.log(`  sh -c 'echo $$ > ${p0.cgroup}/cgroup.procs; exec nsenter --net=/run/netns/${p0.ns} curl -s http://${VIP}/'   (as the frontend pod: capture is by cgroup)`);
    console.log(`  edit ${m.cfgDir}/..data/mesh.yaml (e.g. mtls mode PERMISSIVE) to reload every agent live`);
    console.log(`\nthe two-node mesh stays up for ${seconds}s (DEMO_SECONDS), then everything is removed.`);
    await new Promise((r) => setTimeout(r, seconds * 1000));
  } finally {
    await m.close();
  }
}
