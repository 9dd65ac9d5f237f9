// Kubernetes-native: two nodes whose agents learn everything from the API (the test suite's stand-in,
// driven only through the client library): Services, EndpointSlices, Pods, Namespaces, Nodes and Istio
// resources. Pods opt in with Istio's ambient label, their cgroups in kubelet's systemd layout; the
// kernel captures meshed pods only. Endpoint churn, label changes, an expired watch and a restarted API
// lose nothing; an invalid Istio object is rejected with an Event while the others apply.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ChildProcess } from 'node:child_process';
import type { Cluster, Pod } from '../helpers/cluster';
import { AMBIENT, clusterNode, clusterPod, endpointSlice, namespace, service, type SliceEndpoint } from '../helpers/kubeobjects';
import { rootSkipReason, stopChild } from '../helpers/sysenv';
import { metricSum, NODE, sleep } from './harness';
import { KubeNet } from './kubenet';

const VIP = '10.96.0.10';
const WEB = `http://${VIP}/`;
const WEB_HOST = 'web.shop.svc.cluster.local';

interface Steady {
  total: number;
  ok: number;
  failed: number;
  byBody: Record<string, number>;
  failures: string[];
}

const skip = rootSkipReason();
describe('Kubernetes discovery, opt-in and Istio resources from the API', { skip: skip && process.env.CI !== 'true' ? skip : false, timeout: 240_000 }, () => {
  let k: KubeNet;
  let c: Cluster;
  const servers = new Map<string, ChildProcess>();
  // n0: client (shop), web (shop), outsider (other: not meshed); n1: web (shop), canary (shop), opted-out (shop, label none).
  const pods = (): { client: Pod; web0: Pod; outsider: Pod; web1: Pod; canary: Pod; optedOut: Pod } => {
    const [n0, n1] = c.nodes as [Cluster['nodes'][0], Cluster['nodes'][0]];
    return { client: n0.pods[0]!, web0: n0.pods[1]!, outsider: n0.pods[2]!, web1: n1.pods[0]!, canary: n1.pods[1]!, optedOut: n1.pods[2]! };
  };
  const ep = (p: Pod, o: Partial<SliceEndpoint> = {}): SliceEndpoint => ({ ip: p.ip, node: p.node, pod: p.name, ...o });
  const slice = (eps: readonly SliceEndpoint[]): ReturnType<typeof endpointSlice> => endpointSlice('web-abcde', 'shop', 'web', [{ name: 'http', port: 8080 }], eps);

  before(async () => {
    if (skip) throw new Error(`root test cannot run on CI: ${skip}`);
    k = await KubeNet.start({
      nodes: 2,
      podsPerNode: 3,
      objects: (cl) => {
        c = cl;
        const p = pods();
        return [
          namespace('shop', AMBIENT),
          namespace('other'),
          ...cl.nodes.map(clusterNode),
          clusterPod(p.client, 'shop', { serviceAccount: 'client', labels: { app: 'client' }, deployment: 'client' }),
          clusterPod(p.web0, 'shop', { serviceAccount: 'web', labels: { app: 'web', version: 'v1' }, deployment: 'web' }),
          clusterPod(p.outsider, 'other', { labels: { app: 'outsider' } }),
          clusterPod(p.web1, 'shop', { serviceAccount: 'web', labels: { app: 'web', version: 'v1' }, deployment: 'web' }),
          clusterPod(p.canary, 'shop', { serviceAccount: 'canary', labels: { app: 'web', version: 'v2' }, deployment: 'web-canary' }),
          clusterPod(p.optedOut, 'shop', { labels: { app: 'batch', 'istio.io/dataplane-mode': 'none' } }),
          service('web', 'shop', VIP, [{ name: 'http', port: 80, targetPort: 'http' }]),
          slice([ep(p.web0), ep(p.web1)]),
        ];
      },
    });
    for (const p of [pods().web0, pods().web1, pods().canary]) {
      const s = c.spawn(p, NODE, [path.join(__dirname, 'clients/server.js'), '8080', '9000', p.name]);
      servers.set(p.name, s);
      await new Promise<void>((r) => s.stdout?.once('data', () => r()));
    }
  });
  after(async () => {
    for (const s of servers.values()) await stopChild(s);
    await k?.close();
  });

  const steady = async (pod: Pod, ms: number, max = 10_000): Promise<Steady> => {
    const r = await c.exec(pod, NODE, [path.join(__dirname, 'clients/steady.js'), WEB, String(ms), String(max)], { timeoutMs: ms + 15_000 });
    return JSON.parse(r.stdout) as Steady;
  };
  const reaches = async (pod: Pod): Promise<boolean> => {
    const r = await c.exec(pod, 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '2', WEB], { timeoutMs: 5000 });
    return r.stdout === '200';
  };
  const answered = (s: Steady, who: Pod): number => Object.entries(s.byBody).filter(([b]) => b.endsWith(` at ${who.name}`)).reduce((n, [, v]) => n + v, 0);

  test('a meshed pod reaches a ClusterIP through capture, on both nodes; other pods are not captured', async () => {
    const { client, outsider, optedOut, web0, web1 } = pods();
    const n0 = c.nodes[0]!;
    const s = await steady(client, 20_000, 40);
    assert.equal(s.failed, 0, `failures: ${s.failures.join('; ')}\n${k.logs.slice(-30).join('\n')}`);
    assert.equal(s.ok, 40);
    assert.ok(answered(s, web0) > 0 && answered(s, web1) > 0, `both nodes' endpoints answer: ${JSON.stringify(s.byBody)}`);
    const m = await k.metrics(n0);
    const labels = { reporter: 'source', destination_service: WEB_HOST, source_workload: 'client', source_workload_namespace: 'shop', destination_workload: 'web', destination_cluster: 'Kubernetes', source_cluster: 'Kubernetes', destination_canonical_service: 'web' };
    assert.ok(metricSum(m, 'istio_requests_total', labels) >= 40, 'requests counted with workload names from the owner chain');
    assert.ok(metricSum(m, 'nodemesh_kernel_redirected_total', { destination_service_name: 'web' }) >= 1, 'connect4 redirected the connection');
    assert.equal(metricSum(m, 'nodemesh_meshed_pods'), 2, 'client and web on node-0 are in the kernel opt-in table; the outsider is not');
    assert.equal(await reaches(outsider), false, 'a pod of a namespace without the ambient label is left alone');
    assert.equal(await reaches(optedOut), false, 'a pod labelled dataplane-mode=none is left alone');
    const after = await k.metrics(n0);
    assert.equal(metricSum(after, 'istio_requests_total', { reporter: 'source', destination_service: WEB_HOST }), metricSum(m, 'istio_requests_total', { reporter: 'source', destination_service: WEB_HOST }));
  });

  test('a namespace label change takes its pods in and out, without a restart', async () => {
    const { outsider } = pods();
    k.api.apply(namespace('other', AMBIENT));
    await k.until(() => reaches(outsider), 'outsider captured after its namespace opted in', 15_000);
    k.api.apply(namespace('other'));
    await k.until(async () => !(await reaches(outsider)), 'outsider left alone again', 15_000);
  });

  test('Istio resources from the API apply; an invalid one is rejected with an Event, the others apply', async () => {
    const { client } = pods();
    const vs = (name: string, header: string, extra: Record<string, unknown> = {}): Record<string, unknown> & { kind: string; apiVersion: string; metadata: Record<string, unknown> } => ({
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name, namespace: 'shop' },
      spec: { hosts: ['web'], http: [{ headers: { response: { set: { 'x-route': header } } }, route: [{ destination: { host: 'web' } }], ...extra }] },
    });
    const header = async (): Promise<string> => {
      const r = await c.exec(client, 'curl', ['-s', '-D', '-', '-o', '/dev/null', '--max-time', '3', WEB], { timeoutMs: 5000 });
      return /x-route: (\S+)/i.exec(r.stdout)?.[1] ?? '';
    };
    k.api.apply(vs('web', 'vs-1'));
    await k.until(async () => (await header()) === 'vs-1', 'the VirtualService applies', 15_000);
    // Invalid: an unknown field. Rejected by name; the valid VirtualService keeps applying.
    k.api.apply({ ...vs('broken', 'x'), spec: { hosts: ['web.other.svc.cluster.local'], http: [{ rout: [] }] } });
    await k.until(() => k.api.events().some((e) => e.regarding.name === 'broken' && e.reason === 'NodemeshInvalid'), 'an Event on the invalid VirtualService', 15_000);
    assert.equal(await header(), 'vs-1');
    // A new, invalid version of the applied one: its previous version keeps applying.
    k.api.apply(vs('web', 'vs-2', { timeout: 'soon' }));
    await k.until(() => k.api.events().some((e) => e.regarding.name === 'web' && e.reason === 'NodemeshInvalid'), 'an Event on the invalid version', 15_000);
    assert.equal(await header(), 'vs-1', 'the previous valid version still applies');
    const m = await k.metrics(c.nodes[0]!);
    assert.ok(metricSum(m, 'nodemesh_discovery_rejected_total', { kind: 'VirtualService' }) >= 2);
    k.api.remove('networking.istio.io/v1', 'VirtualService', 'shop', 'web');
    k.api.remove('networking.istio.io/v1', 'VirtualService', 'shop', 'broken');
    await k.until(async () => (await header()) === '', 'the VirtualService is gone once deleted', 15_000);
  });

  test('endpoint churn under load: a new endpoint gets traffic, a terminating one none, and no request fails', async () => {
    const { client, web0, web1, canary } = pods();
    const load = steady(client, 8000);
    await sleep(1000);
    k.api.apply(slice([ep(web0), ep(web1), ep(canary)]));
    await sleep(2000);
    k.api.apply(slice([ep(web0, { ready: false, serving: true, terminating: true }), ep(web1), ep(canary)]));
    await sleep(1500);
    // The pod's process exits after its grace period, then the endpoint goes away.
    await stopChild(servers.get(web0.name)!);
    servers.delete(web0.name);
    await sleep(500);
    k.api.apply(slice([ep(web1), ep(canary)]));
    const s = await load;
    assert.equal(s.failed, 0, `no request fails: ${s.failures.join('; ')}`);
    assert.ok(s.ok > 50, `a steady load ran (${s.ok})`);
    assert.ok(answered(s, canary) > 0, 'the new endpoint got traffic');
  });

  test('an expired watch (410) and a restarted API server lose nothing', async () => {
    const { client, web1, canary } = pods();
    const lists = k.api.count('list', '/apis/discovery.k8s.io/v1/endpointslices');
    k.api.expireWatches();
    k.api.apply(slice([ep(web1)]));
    await k.until(async () => {
      const s = await steady(client, 3000, 10);
      return s.ok === 10 && answered(s, canary) === 0;
    }, 'the change after the 410 is seen', 20_000);
    assert.ok(k.api.count('list', '/apis/discovery.k8s.io/v1/endpointslices') > lists, 'the informer re-listed');
    // The API goes away for a while: the last known state keeps serving.
    const load = steady(client, 4000);
    await k.api.restart(1500);
    const s = await load;
    assert.equal(s.failed, 0, `served while the API was away: ${s.failures.join('; ')}`);
    k.api.apply(slice([ep(web1), ep(canary)]));
    await k.until(async () => answered(await steady(client, 3000, 20), canary) > 0, 'a change after the restart is seen', 30_000);
  });

  test('the CA gives a node only the identities of its own pods (PERMISSION_DENIED otherwise)', async () => {
    const n0 = c.nodes[0]!;
    const ask = async (id: string): Promise<string> => {
      const args = [path.join(__dirname, 'clients/ca-ask.js'), `${n0.ip}:15012`, path.join(k.caDir, 'root-cert.pem'), path.join(k.dir, `${n0.name}.token`), id];
      return (await c.outside(n0, NODE, args, { timeoutMs: 15_000 })).stdout.trim();
    };
    assert.equal(await ask('spiffe://cluster.local/ns/shop/sa/client'), 'ok', 'client runs on node-0');
    assert.equal(await ask('spiffe://cluster.local/ns/shop/sa/canary'), 'denied', 'canary runs only on node-1');
  });
});
