// Across nodes on the namespace cluster: pod → agent → mTLS HBONE tunnel → agent → pod, with identities
// from the mesh CA, AuthorizationPolicy at the destination, STRICT enforced in the kernel, and
// certificates rotating under load.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { inspectPins } from '../../src/capture/stat';
import type { Cluster } from '../helpers/cluster';
import { clientServerMesh, type ServiceSpec } from '../helpers/cluster-config';
import { rootSkipReason } from '../helpers/sysenv';
import { metricSum, NODE, sleep } from './harness';
import { MeshNet } from './meshnet';

const WEB = '10.96.0.10';
const ECHO = '10.96.0.11';
const GRPC = '10.96.0.12';
/** Services of a node-0 pod: same-node traffic from the client pod. */
const NEAR = '10.96.0.13';
const NEAR_ECHO = '10.96.0.14';
/** A node-0 pod port by its address alone (no node, no tunnelled service has that port): the agent
 *  delivers it in plaintext, without the tunnel. */
const NEAR_DIRECT = '10.96.0.15';

function config(c: Cluster, mode: 'STRICT' | 'PERMISSIVE'): string {
  const services: ServiceSpec[] = [
    { name: 'web', namespace: 'b', vip: WEB, port: 80, targetPort: 8080, protocol: 'HTTP', app: 'server' },
    { name: 'echo', namespace: 'b', vip: ECHO, port: 9000, protocol: 'TCP', app: 'server' },
    { name: 'grpc', namespace: 'b', vip: GRPC, port: 7070, protocol: 'GRPC', app: 'server' },
    { name: 'near', namespace: 'a', vip: NEAR, port: 80, targetPort: 8080, protocol: 'HTTP', app: 'other' },
    { name: 'near-echo', namespace: 'a', vip: NEAR_ECHO, port: 9000, protocol: 'TCP', app: 'other' },
  ];
  // A second workload with the client's identity: the destination side tells them apart only by the
  // client address the source agent forwards.
  return `${clientServerMesh(c.nodes, { namespace: 'a', serviceAccount: 'client', app: 'spare' }, services, mode)}---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: near-direct, namespace: a}
spec:
  hosts: [near-direct.a.svc.cluster.local]
  addresses: [${NEAR_DIRECT}]
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 8081}]
  location: MESH_INTERNAL
  resolution: STATIC
  endpoints: [{address: ${c.nodes[0]!.pods[1]!.ip}}]
`;
}

const skip = rootSkipReason();
describe('mesh across nodes', { skip: skip && process.env.CI !== 'true' ? skip : false, timeout: 120_000 }, () => {
  let m: MeshNet;
  let c: Cluster;
  before(async () => {
    if (skip) throw new Error(`root test cannot run on CI: ${skip}`);
    m = await MeshNet.start({ nodes: 2, podsPerNode: 2, config: (cl) => config(cl, 'STRICT'), certTtl: '8s' });
    c = m.c;
    const server = c.spawn(c.nodes[1]!.pods[0]!, NODE, [path.join(__dirname, 'clients/server.js'), '8080', '9000']);
    await new Promise<void>((r) => server.stdout?.once('data', () => r()));
    const grpcServer = c.spawn(c.nodes[1]!.pods[0]!, NODE, [path.join(__dirname, 'clients/grpc-server.js'), '7070', 'pod-b']);
    await new Promise<void>((r) => grpcServer.stdout?.once('data', () => r()));
    const near = c.spawn(c.nodes[0]!.pods[1]!, NODE, [path.join(__dirname, 'clients/server.js'), '8080', '9000']);
    await new Promise<void>((r) => near.stdout?.once('data', () => r()));
    const direct = c.spawn(c.nodes[0]!.pods[1]!, NODE, [path.join(__dirname, 'clients/server.js'), '8081', '9001']);
    await new Promise<void>((r) => direct.stdout?.once('data', () => r()));
  });
  after(async () => {
    await m?.close();
  });

  const client = (): Cluster['nodes'][0]['pods'][0] => c.nodes[0]!.pods[0]!;
  const other = (): Cluster['nodes'][0]['pods'][0] => c.nodes[0]!.pods[1]!;
  const curl = async (pod: Cluster['nodes'][0]['pods'][0], url: string): Promise<{ code: string; body: string }> => {
    const r = await c.exec(pod, 'curl', ['-s', '--max-time', '5', '-w', '\n%{http_code}', url], { timeoutMs: 8000 });
    const i = r.stdout.lastIndexOf('\n');
    return { body: r.stdout.slice(0, i), code: r.stdout.slice(i + 1) };
  };
  const echo = async (pod: Cluster['nodes'][0]['pods'][0], text: string, vip = ECHO): Promise<string> => {
    const script = `const s=require('net').connect(9000,'${vip}',()=>s.end(${JSON.stringify(text)}));let b='';s.on('data',d=>b+=d);s.on('close',()=>process.stdout.write(b));s.on('error',()=>{});setTimeout(()=>process.exit(0),4000).unref();`;
    return (await c.exec(pod, NODE, ['-e', script], { timeoutMs: 8000 })).stdout;
  };

  test('HTTP and TCP cross nodes through the tunnel, and only TLS crosses the link', async () => {
    const marker = `nodemesh-plaintext-marker-${process.pid}`;
    const n1 = c.nodes[1]!;
    const cap = c.spawn(n1, 'tcpdump', ['-i', 'fab', '-l', '-n', '-A', '-s', '0', '-c', '400', 'tcp']);
    let captured = '';
    cap.stdout?.on('data', (d: Buffer) => (captured += d.toString('latin1')));
    await sleep(500);
    const r = await curl(client(), `http://${WEB}/${marker}`);
    assert.equal(r.code, '200', JSON.stringify(r));
    assert.match(r.body, new RegExp(`hello GET /${marker} from 169\\.254\\.7\\.127`), 'delivered by the destination agent');
    assert.equal(await echo(client(), `tcp-${marker}`), `tcp-${marker}`);
    await sleep(300);
    cap.kill('SIGINT');
    await new Promise((res) => cap.once('exit', res));
    assert.ok(captured.includes('.15008'), `tunnel traffic was captured on the inter-node link: ${captured.slice(0, 300)}`);
    assert.ok(!captured.includes(marker), 'no plaintext payload crossed nodes');

    const mt = await m.metrics(n1);
    assert.ok(metricSum(mt, 'istio_requests_total', { reporter: 'destination', connection_security_policy: 'mutual_tls', source_principal: 'cluster.local/ns/a/sa/client', destination_principal: 'cluster.local/ns/b/sa/server', response_code: '200' }) >= 1);
    assert.ok(metricSum(mt, 'istio_tcp_connections_opened_total', { reporter: 'destination', connection_security_policy: 'mutual_tls' }) >= 1);
    // The destination side names the real source workload (the forwarded client, backed by its identity).
    const from = { reporter: 'destination', source_workload: 'n0-p0', source_workload_namespace: 'a', source_app: 'client', source_cluster: 'Kubernetes', destination_workload: 'n1-p0', destination_cluster: 'Kubernetes' };
    assert.ok(metricSum(mt, 'istio_requests_total', { ...from, destination_service_name: 'web', response_code: '200' }) >= 1, 'HTTP by source workload');
    assert.ok(metricSum(mt, 'istio_tcp_connections_opened_total', { ...from, destination_service_name: 'echo' }) >= 1, 'TCP by source workload');
    // The source side says what crossed: mutual_tls, with both principals.
    const ms = await m.metrics(c.nodes[0]!);
    const mtls = { reporter: 'source', connection_security_policy: 'mutual_tls', source_principal: 'cluster.local/ns/a/sa/client', destination_principal: 'cluster.local/ns/b/sa/server', source_workload: 'n0-p0' };
    assert.ok(metricSum(ms, 'istio_requests_total', { ...mtls, destination_service_name: 'web', response_code: '200' }) >= 1, 'source HTTP over mTLS');
    assert.ok(metricSum(ms, 'istio_tcp_connections_opened_total', { ...mtls, destination_service_name: 'echo' }) >= 1, 'source TCP over mTLS');
  });

  test('same-node traffic is reported by both reporters of the node, with both workloads and principals', async () => {
    const r = await curl(client(), `http://${NEAR}/same-node`);
    assert.equal(r.code, '200', JSON.stringify(r));
    assert.equal(await echo(client(), 'near-by', NEAR_ECHO), 'near-by');
    const mt = await m.metrics(c.nodes[0]!);
    const pair = {
      source_workload: 'n0-p0', source_workload_namespace: 'a', source_principal: 'cluster.local/ns/a/sa/client', source_cluster: 'Kubernetes',
      destination_workload: 'n0-p1', destination_principal: 'cluster.local/ns/a/sa/other', destination_cluster: 'Kubernetes', connection_security_policy: 'mutual_tls',
    };
    for (const reporter of ['source', 'destination']) {
      assert.equal(metricSum(mt, 'istio_requests_total', { ...pair, reporter, destination_service_name: 'near', response_code: '200' }), 1, `${reporter} HTTP`);
      assert.equal(metricSum(mt, 'istio_tcp_connections_opened_total', { ...pair, reporter, destination_service_name: 'near-echo' }), 1, `${reporter} TCP`);
    }
    // A pod of the node reached without the tunnel: this agent reports both sides of the one request,
    // plaintext (unknown at the source, none at the destination), the pod named by its address.
    assert.equal((await curl(client(), `http://${NEAR_DIRECT}/plain`)).code, '200');
    const after = await m.metrics(c.nodes[0]!);
    const plain = { ...pair, destination_service_name: 'near-direct', response_code: '200' };
    const seen = after.split('\n').filter((l) => l.startsWith('istio_requests_total{') && l.includes('near-direct')).join('\n');
    assert.equal(metricSum(after, 'istio_requests_total', { ...plain, reporter: 'source', connection_security_policy: 'unknown' }), 1, `plaintext source:\n${seen}`);
    assert.equal(metricSum(after, 'istio_requests_total', { ...plain, reporter: 'destination', connection_security_policy: 'none' }), 1, `plaintext destination:\n${seen}`);
    // Nothing of it reached the other node's agent, and no destination series of either node lacks its source.
    const mt1 = await m.metrics(c.nodes[1]!);
    assert.equal(metricSum(mt1, 'istio_requests_total', { destination_service_name: 'near' }), 0);
    for (const text of [after, mt1]) {
      assert.equal(metricSum(text, 'istio_requests_total', { reporter: 'destination', source_workload: 'unknown' }), 0);
      assert.equal(metricSum(text, 'istio_tcp_connections_opened_total', { reporter: 'destination', source_workload: 'unknown' }), 0);
    }
  });

  test('AuthorizationPolicy: the allowed principal passes, another service account gets 403 / a closed connection', async () => {
    assert.equal((await curl(client(), `http://${WEB}/ok`)).code, '200');
    const denied = await curl(other(), `http://${WEB}/nope`);
    assert.equal(denied.code, '403');
    assert.equal(denied.body, 'RBAC: access denied');
    assert.equal(await echo(other(), 'hi'), '', 'denied TCP is closed');
    assert.equal((await curl(client(), `http://${WEB}/after-denials`)).code, '200', 'denials affect nobody else');
    assert.ok(m.agents.every((a) => a.exitCode === null && a.signalCode === null), 'both agents still running');
    const mt = await m.metrics(c.nodes[1]!);
    assert.ok(metricSum(mt, 'istio_requests_total', { reporter: 'destination', response_code: '403', response_flags: 'DENY', source_principal: 'cluster.local/ns/a/sa/other' }) >= 1);
    assert.ok(metricSum(mt, 'istio_tcp_connections_closed_total', { reporter: 'destination', response_flags: 'DENY' }) >= 1);
  });

  test('gRPC crosses nodes at L7: unary and streaming calls keep metadata, trailers and status; a denied caller gets PERMISSION_DENIED', async () => {
    const r = await c.exec(client(), NODE, [path.join(__dirname, 'clients/grpc.js'), `${GRPC}:7070`], { timeoutMs: 20_000 });
    const seen = JSON.parse(r.stdout) as Record<string, Record<string, unknown>>;
    assert.deepEqual(seen.unary, { text: 'ping', echo: 'hello-md', trailer: 'done' });
    assert.deepEqual(seen.failed, { code: 5, details: 'failing with 5', trailer: 'done' });
    assert.deepEqual(seen.chat, { replies: ['m0', 'm1', 'm2', 'm3', 'm4'], trailer: 'chat-done', code: 0 });
    const src = await m.metrics(c.nodes[0]!);
    assert.equal(metricSum(src, 'istio_requests_total', { reporter: 'source', destination_service_name: 'grpc', request_protocol: 'grpc', grpc_response_status: '0' }), 2);
    assert.equal(metricSum(src, 'istio_requests_total', { reporter: 'source', destination_service_name: 'grpc', request_protocol: 'grpc', grpc_response_status: '5' }), 1);
    // The destination agent serves the h2 inside the tunnel per request: authorization per call, and
    // Istio's destination metrics with the gRPC status and both principals.
    const denied = JSON.parse((await c.exec(other(), NODE, [path.join(__dirname, 'clients/grpc.js'), `${GRPC}:7070`, 'probe'], { timeoutMs: 20_000 })).stdout) as { code: number };
    assert.equal(denied.code, 7, 'PERMISSION_DENIED for a caller the AuthorizationPolicy does not allow');
    const dst = await m.metrics(c.nodes[1]!);
    const at = { reporter: 'destination', destination_service_name: 'grpc', request_protocol: 'grpc', connection_security_policy: 'mutual_tls' };
    assert.equal(metricSum(dst, 'istio_requests_total', { ...at, grpc_response_status: '0', source_principal: 'cluster.local/ns/a/sa/client' }), 2);
    assert.equal(metricSum(dst, 'istio_requests_total', { ...at, grpc_response_status: '5' }), 1);
    assert.equal(metricSum(dst, 'istio_requests_total', { ...at, grpc_response_status: '7', response_flags: 'DENY', source_principal: 'cluster.local/ns/a/sa/other' }), 1);
  });

  test('STRICT refuses plaintext in the kernel; PERMISSIVE lets it through after a reload', async () => {
    const n1 = c.nodes[1]!;
    const server = n1.pods[0]!;
    const before = inspectPins(m.pin(1)).globals.strict_drop ?? 0;
    const plain = await c.outside(n1, 'curl', ['-s', '--max-time', '2', `http://${server.ip}:8080/`], { timeoutMs: 5000 });
    assert.notEqual(plain.stdout.slice(0, 5), 'hello', 'plaintext from outside the mesh must not reach a STRICT pod');
    assert.ok((inspectPins(m.pin(1)).globals.strict_drop ?? 0) > before, 'dropped by the cgroup_skb program');
    assert.equal((await curl(client(), `http://${WEB}/still`)).code, '200', 'mesh traffic still flows');

    const pid = m.agents[1]!.pid;
    m.writeConfig(config(c, 'PERMISSIVE'));
    await m.until(async () => (await c.outside(n1, 'curl', ['-s', '--max-time', '1', `http://${server.ip}:8080/`], { timeoutMs: 3000 })).stdout.startsWith('hello'), 'PERMISSIVE lets plaintext in', 15_000);
    assert.equal(m.agents[1]!.pid, pid, 'no restart');
    m.writeConfig(config(c, 'STRICT'));
  });

  test('certificates rotate under a bounded cross-node load with zero failed requests', async () => {
    const rotations = async (): Promise<number> => metricSum(await m.metrics(c.nodes[0]!), 'nodemesh_cert_rotations_total') + metricSum(await m.metrics(c.nodes[1]!), 'nodemesh_cert_rotations_total');
    const start = await rotations();
    const codes: string[] = [];
    const deadline = Date.now() + 12_000;
    while (Date.now() < deadline && codes.length < 120) {
      const r = await c.exec(client(), 'curl', ['-s', '-o', '/dev/null', '--max-time', '5', '-w', '%{http_code}', `http://${WEB}/load`], { timeoutMs: 8000 });
      codes.push(r.stdout);
      await sleep(50);
    }
    assert.ok(codes.length >= 20, `load ran (${codes.length})`);
    assert.deepEqual(codes.filter((x) => x !== '200'), [], 'no failed request');
    assert.ok((await rotations()) > start, 'certificates rotated during the run');
  });
});
