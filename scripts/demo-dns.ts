// Demo, part five: names. A pod resolves a ServiceEntry host through the agent's DNS proxy (the kernel
// redirects its query on port 53), gets an address allocated from 240.240.0.0/16, and its connect to
// that address is captured like any VIP; the endpoint's own name is resolved by the agent. A resolver
// started here stands in for the node's (this machine has no route off it).
import * as path from 'node:path';
import { inspectPins } from '../src/capture/stat';
import { TestDnsServer } from '../test/helpers/dnsserver';
import { runInCgroup } from '../test/helpers/sysenv';
import { backend, closeAll } from '../test/e2e/fixtures';
import { freePorts, metricSum, Mesh, NODE } from '../test/e2e/harness';
import type { PartContext } from './demo/parts';

/** The resolver pods are configured with; nothing listens there: the kernel sends the query to the agent. */
const POD_RESOLVER = '127.0.0.153';

export async function dnsDemo(ctx: PartContext): Promise<void> {
  const api = await backend('payments-api');
  const resolver = new TestDnsServer();
  await resolver.start();
  resolver.set('payments.internal.example', ['127.0.0.1'], 30);
  const [dnsPort] = (await freePorts(1)) as [number];
  const mesh = new Mesh({
    config: `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: payments, namespace: demo}
spec:
  hosts: [api.payments.example]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints:
  - address: payments.internal.example
    ports: {http: ${api.port}}
`,
    extraArgs: ['--dns-port', String(dnsPort), '--dns-upstream', `127.0.0.1:${resolver.port}`],
  });
  ctx.keepLogs(() => mesh.logs);
  try {
    console.log('\n== part five: names (the DNS proxy, a ServiceEntry without addresses) ==');
    await ctx.progress('the agent to start', mesh.start());
    console.log(`agent up (pid ${mesh.agent?.pid}); config: ${mesh.cfgDir}/mesh.yaml`);
    for (let i = 0; i < 100 && metricSum(await mesh.metrics(), 'nodemesh_dns_resolutions_total', { outcome: 'success' }) === 0; i++) await new Promise((r) => setTimeout(r, 50));
    const before = inspectPins(mesh.pin).globals;
    const out = JSON.parse(await runInCgroup(mesh.pods, NODE, [path.join(__dirname, '../test/e2e/clients/dnsask.js'), POD_RESOLVER, 'api.payments.example', '--get'])) as { addresses?: string[]; body?: string; error?: string };
    const after = inspectPins(mesh.pin).globals;
    console.log(`the pod asks ${POD_RESOLVER} for api.payments.example: ${out.addresses?.join(',') ?? out.error} (allocated by the agent)`);
    console.log(`  GET http://api.payments.example/ from the pod: ${out.body ?? out.error}`);
    console.log(`  kernel: dns_redirect +${(after.dns_redirect ?? 0) - (before.dns_redirect ?? 0)}, dns_reply +${(after.dns_reply ?? 0) - (before.dns_reply ?? 0)}, connect_proxy +${(after.connect_proxy ?? 0) - (before.connect_proxy ?? 0)}`);
    const m = await mesh.metrics();
    console.log(`  nodemesh_dns_requests_total = ${metricSum(m, 'nodemesh_dns_requests_total')}, istio_requests_total{destination_service="api.payments.example"} = ${metricSum(m, 'istio_requests_total', { destination_service: 'api.payments.example' })}`);
    console.log('where to look: `nodemesh check` on a ServiceEntry without addresses prints the addresses it gets; docs/traffic.md "External services and DNS".');
  } finally {
    await mesh.cleanup();
    resolver.close();
    await closeAll([api]);
    console.log('part five cleaned up.');
  }
}
