// A client that is not a mesh workload asking for a mesh endpoint, through a real mesh plane (tunnel
// server, routes, certificates) and the outbound listener: refused with 503 UF, the access log says why
// (NM_E_NOT_MESH_WORKLOAD naming the client and the endpoint), and its metrics claim no mutual_tls and
// no destination principal; a mesh workload on the same node reaches the same endpoint through the
// tunnel, with mutual_tls and both principals.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import type { Addr } from '../../src/capture/types';
import { JwksMirror } from '../../src/identity/jwks-mirror';
import { CertMirror } from '../../src/identity/mirror';
import { principalOf } from '../../src/identity/spiffe';
import { MeshPlane } from '../../src/meshplane';
import { AccessLog } from '../../src/telemetry/accesslog';
import { Metrics } from '../../src/telemetry/metrics';
import { collectAccessLog } from '../helpers/access-lines';
import { meshConfig, shopService, shopWorkload } from '../helpers/cluster-config';
import { buildMesh, startOutbound, type OutboundSide } from './outbound-harness';
import { sample } from './proxy-helpers';
import { CLIENT_ID, SERVER_ID, listenOn, pki } from './tunnel-harness';

/** Loopback holds all of 127/8: the backend pod, the meshed client pod, and a host process (127.0.0.1). */
const POD_IP = '127.0.0.2';
const MESH_CLIENT = '127.0.0.5';
const HOST_CLIENT = '127.0.0.1';
const WEB: Addr = { address: '127.0.109.1', port: 80 };
const ECHO: Addr = { address: '127.0.109.2', port: 9000 };

function config(webPort: number, echoPort: number): string {
  return meshConfig({
    nodes: [{ name: 'node-0', ip: '127.0.0.1' }],
    workloads: [shopWorkload('frontend', MESH_CLIENT, 'node-0', 'frontend'), shopWorkload('backend', POD_IP, 'node-0', 'backend')],
    services: [shopService('web', WEB.address, WEB.port, 'HTTP', webPort), shopService('echo', ECHO.address, ECHO.port, 'TCP', echoPort)],
    // A policy that retries connect failures: a refusal is still not retried.
    extra: [{ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'web', namespace: 'shop' }, spec: { hosts: ['web.shop.svc.cluster.local'], http: [{ retries: { attempts: 2, retryOn: 'connect-failure' }, route: [{ destination: { host: 'web.shop.svc.cluster.local' } }] }] } }],
  });
}

describe('a client that is not a mesh workload, to a mesh endpoint', () => {
  let pod: http.Server;
  let echo: net.Server;
  let plane: MeshPlane;
  let metrics: Metrics;
  let outbound: OutboundSide;
  const { accessLog, lines: logged } = collectAccessLog();

  before(async () => {
    pod = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end('from the pod'));
    });
    const web = await listenOn(pod, POD_IP);
    echo = net.createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
    const built = buildMesh(config(web.port, (await listenOn(echo, POD_IP)).port));

    const p = await pki([CLIENT_ID, SERVER_ID]);
    const certs = new CertMirror();
    const now = Date.now();
    certs.set({
      root: p.root.pem,
      held: [...p.certs].map(([identity, kc], i) => ({
        identity,
        material: { keyPem: kc.key, certChainPem: [kc.cert], rootPem: p.root.pem, notBefore: new Date(now - 60_000), notAfter: new Date(now + 3_600_000), serial: String(i + 1) },
      })),
    });
    const destination = new Metrics({ cluster: 'Kubernetes', reporter: 'destination' });
    plane = await MeshPlane.start(
      { node: 'node-0', nodeIp: '127.0.0.1', trustDomain: 'cluster.local', tunnelPort: 0, delivery: undefined, connectTimeoutMs: 2_000, accessLog: new AccessLog({ enabled: false }) },
      certs,
      new JwksMirror(() => undefined),
      destination,
      destination.registry,
    );
    plane.apply(built);

    metrics = new Metrics({ cluster: 'Kubernetes' });
    metrics.setDelivery(plane.deliveries());
    outbound = await startOutbound(built, [WEB, ECHO], { metrics, accessLog, dial: (client, target) => plane.upstreamFor(client.address, target) });
  });

  after(async () => {
    await outbound?.close();
    await plane?.close();
    pod?.close();
    echo?.close();
  });

  const get = (from: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const at = outbound.listeners[0]!.address();
      const req = http.request({ host: at.address, port: at.port, localAddress: from, path: '/x', headers: { host: 'web.shop.svc.cluster.local' }, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });

  const web = { reporter: 'source', destination_service_name: 'web', destination_workload: 'backend', request_protocol: 'http' };

  test('HTTP: 503 UF whose termination details say why; no mutual_tls or destination principal claimed', async () => {
    const r = await get(HOST_CLIENT);
    assert.equal(r.status, 503);
    const line = logged.find((l) => l['downstream_remote_address']?.toString().startsWith(`${HOST_CLIENT}:`) && l['protocol'] === 'HTTP/1.1');
    assert.ok(line, JSON.stringify(logged));
    assert.equal(line['response_flags'], 'UF');
    const endpoint = `${POD_IP}:${(pod.address() as net.AddressInfo).port}`;
    assert.equal(line['connection_termination_details'], `client ${HOST_CLIENT} is not a mesh workload: no identity to open a tunnel to a mesh endpoint (${endpoint})`);
    const refused = { ...web, response_code: '503', response_flags: 'UF', source_workload: 'unknown' };
    assert.equal(await sample(metrics, 'istio_requests_total', { ...refused, connection_security_policy: 'unknown', destination_principal: 'unknown' }), 1);
    assert.equal(await sample(metrics, 'istio_requests_total', { ...refused, connection_security_policy: 'mutual_tls' }), 0);
  });

  test('HTTP: refusals judge no endpoint: nothing ejected, no retry, and a mesh client is not a panic pick', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await get(HOST_CLIENT)).status, 503);
    assert.equal(await sample(metrics, 'nodemesh_endpoint_ejections_total'), 0);
    assert.equal(await sample(metrics, 'nodemesh_retries_total'), 0);
    assert.equal((await get(MESH_CLIENT)).status, 200);
    assert.equal(await sample(metrics, 'nodemesh_upstream_panic_picks_total'), 0);
  });

  test('HTTP: a mesh workload on the node reaches the same endpoint through the tunnel, mutual_tls with both principals', async () => {
    const r = await get(MESH_CLIENT);
    assert.deepEqual(r, { status: 200, body: 'from the pod' });
    const tunnelled = { ...web, response_code: '200', source_workload: 'frontend', source_principal: principalOf(CLIENT_ID), destination_principal: principalOf(SERVER_ID) };
    assert.equal(await sample(metrics, 'istio_requests_total', { ...tunnelled, connection_security_policy: 'mutual_tls' }), 2);
  });

  test('TCP: the connection is closed, logged UF with the reason, counted without mutual_tls', async () => {
    const at = outbound.listeners[1]!.address();
    const got = await new Promise<string>((resolve) => {
      const s = net.connect({ host: at.address, port: at.port, localAddress: HOST_CLIENT }, () => s.write('ping'));
      let text = '';
      s.on('data', (d: Buffer) => (text += d.toString()));
      s.on('error', () => undefined);
      s.on('close', () => resolve(text));
    });
    assert.equal(got, '', 'nothing reached the pod');
    const endpoint = `${POD_IP}:${(echo.address() as net.AddressInfo).port}`;
    let line: Record<string, unknown> | undefined;
    for (let i = 0; i < 200 && line === undefined; i++) {
      line = logged.find((l) => String(l['connection_termination_details'] ?? '').includes(endpoint));
      if (line === undefined) await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(line, JSON.stringify(logged));
    assert.equal(line['response_flags'], 'UF');
    assert.equal(line['connection_termination_details'], `upstream: client ${HOST_CLIENT} is not a mesh workload: no identity to open a tunnel to a mesh endpoint (${endpoint})`);
    const tcp = { reporter: 'source', destination_service_name: 'echo', request_protocol: 'tcp', source_workload: 'unknown' };
    assert.equal(await sample(metrics, 'istio_tcp_connections_opened_total', { ...tcp, connection_security_policy: 'unknown', destination_principal: 'unknown' }), 1);
    assert.equal(await sample(metrics, 'istio_tcp_connections_opened_total', { ...tcp, connection_security_policy: 'mutual_tls' }), 0);
  });
});
