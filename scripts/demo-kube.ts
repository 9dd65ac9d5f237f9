// Demo, part four: Kubernetes-native. The agents of two nodes learn everything from a Kubernetes API (the
// test suite's stand-in; no API server can run here): a Service, its EndpointSlice, the Pods, Namespaces and
// Nodes. Pods join the mesh with Istio's ambient label, their cgroups in kubelet's layout; a VirtualService
// applied through the API takes effect, an invalid one gets an Event.
import * as path from 'node:path';
import { NODE, metricSum } from '../test/e2e/harness';
import { KubeNet } from '../test/e2e/kubenet';
import type { Pod } from '../test/helpers/cluster';
import { AMBIENT, clusterNode, clusterPod, endpointSlice, namespace, service } from '../test/helpers/kubeobjects';
import { stopChild } from '../test/helpers/sysenv';
import { stretched, type PartContext } from './demo/parts';

const VIP = '10.96.0.20';

export async function kubeDemo(ctx: PartContext): Promise<void> {
  console.log('\n== part four: Kubernetes-native (discovery from the API, ambient opt-in) ==');
  const k = await ctx.progress('the API stand-in, the CA and two agents to start', KubeNet.start({
    nodes: 2,
    podsPerNode: 2,
    objects: (c) => {
      const [n0, n1] = [c.nodes[0]!, c.nodes[1]!];
      return [
        namespace('shop', AMBIENT),
        namespace('legacy'),
        ...c.nodes.map(clusterNode),
        clusterPod(n0.pods[0]!, 'shop', { serviceAccount: 'frontend', labels: { app: 'frontend' }, deployment: 'frontend' }),
        clusterPod(n0.pods[1]!, 'legacy', { labels: { app: 'cron' } }),
        clusterPod(n1.pods[0]!, 'shop', { serviceAccount: 'orders', labels: { app: 'orders', version: 'v1' }, deployment: 'orders' }),
        clusterPod(n1.pods[1]!, 'shop', { serviceAccount: 'orders', labels: { app: 'orders', version: 'v1' }, deployment: 'orders' }),
        service('orders', 'shop', VIP, [{ name: 'http', port: 80, targetPort: 'http' }]),
        endpointSlice('orders-x7k2p', 'shop', 'orders', [{ name: 'http', port: 8080 }], [n1.pods[0]!, n1.pods[1]!].map((p) => ({ ip: p.ip, node: p.node, pod: p.name }))),
      ];
    },
  }));
  ctx.keepLogs(() => k.logs.join('\n'));
  const c = k.c;
  const servers = [c.nodes[1]!.pods[0]!, c.nodes[1]!.pods[1]!].map((p) => c.spawn(p, NODE, [path.join(__dirname, '../test/e2e/clients/server.js'), '8080', '9000', p.name]));
  try {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.stdout?.once('data', () => r()))));
    const [n0] = [c.nodes[0]!];
    const [frontend, cron] = [n0.pods[0]!, n0.pods[1]!];
    console.log(`API stand-in reached by the agents at ${n0.ip}:6443; the ConfigMap is empty: ${k.cfgDir}/mesh.yaml`);
    console.log(`objects: namespace shop (istio.io/dataplane-mode=ambient), namespace legacy (no label), Service shop/orders ClusterIP ${VIP} (targetPort "http"), its EndpointSlice on node-1, 4 pods`);
    const call = async (pod: Pod, who: string): Promise<string> => {
      const r = await c.exec(pod, 'curl', ['-s', '--max-time', '2', '-D', '-', '-o', '/dev/null', '-w', '[%{http_code}]', `http://${VIP}/`], { timeoutMs: 5000 });
      const route = /x-route: (\S+)/i.exec(r.stdout)?.[1];
      const line = `  ${who} (${pod.ip}) → orders.shop (${VIP}): ${/\[(\d+)\]$/.exec(r.stdout)?.[1] === '200' ? '200' : 'no answer'}${route ? ` x-route=${route}` : ''}`;
      console.log(line);
      return line;
    };
    await call(frontend, 'frontend (shop, meshed)   ');
    await call(cron, 'cron     (legacy, not)    ');
    console.log('labelling namespace legacy istio.io/dataplane-mode=ambient (no restart):');
    k.api.apply(namespace('legacy', AMBIENT));
    await k.until(async () => (await call(cron, 'cron     (legacy, meshed)')).includes('200'), 'cron captured', stretched(15_000)).catch(() => undefined);
    console.log('applying VirtualService shop/orders through the API (response header x-route: v1), and an invalid one:');
    k.api.apply({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'orders', namespace: 'shop' }, spec: { hosts: ['orders'], http: [{ headers: { response: { set: { 'x-route': 'v1' } } }, route: [{ destination: { host: 'orders' } }] }] } });
    k.api.apply({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'typo', namespace: 'shop' }, spec: { hosts: ['orders'], http: [{ rout: [] }] } });
    await k.until(async () => (await call(frontend, 'frontend                  ')).includes('x-route=v1'), 'the VirtualService applies', stretched(15_000)).catch(() => undefined);
    await k.until(() => k.api.events().some((e) => e.regarding.name === 'typo'), 'an Event', stretched(15_000)).catch(() => undefined);
    // Each node's agent reports what it rejects: one Event per agent.
    const seen = new Map<string, number>();
    for (const e of k.api.events()) {
      const line = `  Event on ${e.regarding.kind} ${e.regarding.namespace}/${e.regarding.name}: ${e.reason}: ${e.message.slice(0, 160)}`;
      seen.set(line, (seen.get(line) ?? 0) + 1);
    }
    for (const [line, n] of seen) console.log(`${line} (from ${n} agent${n === 1 ? '' : 's'})`);
    const m = await k.metrics(n0);
    console.log(`node-0: nodemesh_discovery_synced ${metricSum(m, 'nodemesh_discovery_synced')}, nodemesh_meshed_pods ${metricSum(m, 'nodemesh_meshed_pods')}, istio_requests_total{source_workload="frontend",destination_workload="orders",destination_cluster="Kubernetes"} ${metricSum(m, 'istio_requests_total', { source_workload: 'frontend', destination_workload: 'orders', destination_cluster: 'Kubernetes' })}`);
    console.log('\nwhere to look (while it runs):');
    console.log(`  nsenter --net=/run/netns/${n0.ns} curl -s ${n0.ip}:15020/metrics | grep -E 'nodemesh_discovery|nodemesh_meshed|istio_requests'`);
    console.log('  README.md "Kubernetes discovery", docs/deploy.md (the install on a real cluster, step by step)');
  } finally {
    for (const s of servers) await stopChild(s);
    await k.close();
    console.log('part four cleaned up.');
  }
}
