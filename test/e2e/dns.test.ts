// The node's DNS proxy through the real kernel: a pod's query to a resolver on port 53 is rewritten to
// the agent (connect4/sendmsg4) and the reply given the resolver's address back (recvmsg4); a
// ServiceEntry host is answered with its allocated address, whose connects are captured; its endpoint
// name is resolved by the agent at the test's own resolver; other names are forwarded to it.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { inspectPins } from '../../src/capture/stat';
import { runInCgroup } from '../helpers/sysenv';
import { TestDnsServer } from '../helpers/dnsserver';
import { freePorts, metricSum, Mesh, NODE, rootTest, sleep } from './harness';
import { backend, closeAll } from './fixtures';

/** A resolver address pods are configured with; nothing listens there: only the redirect answers. */
const POD_RESOLVER = '127.0.0.153';

rootTest('DNS proxy: a ServiceEntry host resolves through the kernel redirect and its connects reach the endpoint', async (t) => {
  const b = await backend('ext');
  const upstream = new TestDnsServer();
  await upstream.start();
  upstream.set('backend.dns-e2e.test', ['127.0.0.1'], 60);
  upstream.set('outside.dns-e2e.test', ['192.0.2.55'], 60);
  const [dnsPort] = (await freePorts(1)) as [number];
  const mesh = new Mesh({
    config: `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: e2e}
spec:
  hosts: [api.dns-e2e.test]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints:
  - address: backend.dns-e2e.test
    ports: {http: ${b.port}}
`,
    extraArgs: ['--dns-port', String(dnsPort), '--dns-upstream', `127.0.0.1:${upstream.port}`],
  });
  t.after(async () => {
    await mesh.cleanup();
    upstream.close();
    await closeAll([b]);
  });
  await mesh.start();
  // The endpoint name is resolved by the agent at the test's resolver; the new answer is applied.
  for (let i = 0; i < 100 && metricSum(await mesh.metrics(), 'nodemesh_dns_resolutions_total', { outcome: 'success' }) === 0; i++) await sleep(50);
  assert.ok(upstream.queries.includes('backend.dns-e2e.test'), `the agent looked the endpoint name up: ${JSON.stringify(upstream.queries)}`);
  await sleep(200);

  const ask = async (...args: string[]): Promise<{ addresses?: string[]; body?: string; error?: string }> =>
    JSON.parse(await runInCgroup(mesh.pods, NODE, [path.join(__dirname, 'clients/dnsask.js'), POD_RESOLVER, ...args])) as { addresses?: string[]; body?: string; error?: string };

  const before = inspectPins(mesh.pin).globals;
  const r = await ask('api.dns-e2e.test', '--get');
  assert.equal(r.error, undefined, JSON.stringify(r));
  assert.match(r.addresses?.[0] ?? '', /^240\.240\.\d+\.\d+$/);
  assert.equal(r.body, '200 ext', JSON.stringify(r));
  const after = inspectPins(mesh.pin).globals;
  assert.ok(after.dns_redirect! > before.dns_redirect!, 'the kernel redirected the query to the DNS proxy');
  assert.ok(after.dns_reply! > before.dns_reply!, "the kernel gave the reply the resolver's address");
  assert.ok(after.connect_proxy! > before.connect_proxy!, 'the connect to the allocated address was captured');
  assert.equal(b.hits, 1);

  // DNS over TCP to port 53: connect4 sends it to the proxy's TCP listener.
  const tcpBefore = inspectPins(mesh.pin).globals.dns_redirect!;
  const tr = await ask('api.dns-e2e.test', '--tcp');
  assert.deepEqual(tr.addresses, r.addresses, JSON.stringify(tr));
  assert.ok(inspectPins(mesh.pin).globals.dns_redirect! > tcpBefore, 'the kernel redirected the TCP connect');

  // A name outside the mesh: forwarded to the node's resolver, its answer passed back.
  const o = await ask('outside.dns-e2e.test');
  assert.deepEqual(o.addresses, ['192.0.2.55']);
  assert.ok(upstream.queries.includes('outside.dns-e2e.test'));
  const m = await mesh.metrics();
  assert.ok(metricSum(m, 'nodemesh_dns_requests_total', { type: 'A' }) >= 2);
  assert.ok(metricSum(m, 'nodemesh_dns_forwarded_total') >= 1);
  assert.equal(metricSum(m, 'istio_requests_total', { destination_service: 'api.dns-e2e.test', response_code: '200' }), 1, m.split('\n').filter((l) => l.startsWith('istio_requests_total')).join('\n'));
});
