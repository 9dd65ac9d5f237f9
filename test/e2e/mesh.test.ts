// Across nodes on the namespace cluster: pod → agent → mTLS HBONE tunnel → agent → pod, with identities
// from the mesh CA, AuthorizationPolicy at the destination, STRICT enforced in the kernel, and
// certificates rotating under load.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { inspectPins } from '../../src/capture/stat';
import type { Cluster } from '../helpers/cluster';
import { meshConfig } from '../helpers/cluster-config';
import { rootSkipReason } from '../helpers/sysenv';
import { metricSum, NODE, sleep } from './harness';
import { MeshNet } from './meshnet';

const WEB = '10.96.0.10';
const ECHO = '10.96.0.11';
const GRPC = '10.96.0.12';

function config(c: Cluster, mode: 'STRICT' | 'PERMISSIVE'): string {
  const [n0, n1] = c.nodes as [Cluster['nodes'][0], Cluster['nodes'][0]];
  const base = meshConfig({
    nodes: c.nodes,
    workloads: [
      { pod: n0.pods[0]!, namespace: 'a', serviceAccount: 'client', app: 'client' },
      { pod: n0.pods[1]!, namespace: 'a', serviceAccount: 'other', app: 'other' },
      { pod: n1.pods[0]!, namespace: 'b', serviceAccount: 'server', app: 'server' },
      { pod: n1.pods[1]!, namespace: 'b', serviceAccount: 'spare', app: 'spare' },
    ],
    services: [
      { name: 'web', namespace: 'b', vip: WEB, port: 80, targetPort: 8080, protocol: 'HTTP', app: 'server' },
      { name: 'echo', namespace: 'b', vip: ECHO, port: 9000, protocol: 'TCP', app: 'server' },
      { name: 'grpc', namespace: 'b', vip: GRPC, port: 7070, protocol: 'GRPC', app: 'server' },
    ],
  });
  return `${base}---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: only-client, namespace: b}
spec:
  selector: {matchLabels: {app: server}}
  action: ALLOW
  rules:
  - from: [{source: {principals: [cluster.local/ns/a/sa/client]}}]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: ns-b, namespace: b}
spec: {mtls: {mode: ${mode}}}
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
  const echo = async (pod: Cluster['nodes'][0]['pods'][0], text: string): Promise<string> => {
    const script = `const s=require('net').connect(9000,'${ECHO}',()=>s.end(${JSON.stringify(text)}));let b='';s.on('data',d=>b+=d);s.on('close',()=>process.stdout.write(b));s.on('error',()=>{});setTimeout(()=>process.exit(0),4000).unref();`;
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
