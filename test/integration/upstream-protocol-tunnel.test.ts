// The upstream protocol across nodes: the source engine chooses it (HTTP port: HTTP/1.1 for an h2
// client; h2UpgradePolicy UPGRADE: h2c for an HTTP/1 client), the tunnel carries the request in it, and
// the destination side delivers it to the pod as it came.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import type * as net from 'node:net';
import { once } from 'node:events';
import type { Addr } from '../../src/capture/types';
import { buildConfig } from '../../src/config/load';
import { InboundHandler } from '../../src/downstream/tunnel';
import { MeshAuthz } from '../../src/policy/authz';
import { Topology } from '../../src/state/topology';
import { Metrics } from '../../src/telemetry/metrics';
import type { TunnelPool } from '../../src/tunnel/client';
import { TunnelRoutes } from '../../src/upstream/tunnelsock';
import { dr, h2connect, h2request, H2Harness, host, meshOf } from './fixtures/h2-harness';
import { eventually, request, sample } from './proxy-helpers';
import { CLIENT_ID, LOCAL, SERVER_ID, pki, startTestServer, testPool, type TestTunnel } from './tunnel-harness';

const CLIENT_IP = '10.1.2.3';
const WEB_VIP = '127.0.109.1';
const UP_VIP = '127.0.109.2';

/** The destination node's view: the pods on node-0 behind two HTTP ports, the client on node-1. */
function destinationConfig(h1Port: number, h2Port: number): string {
  const svc = (name: string, vip: string, targetPort: number): string => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: shop}
spec:
  hosts: [${name}.shop.svc.cluster.local]
  addresses: [${vip}]
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: ${targetPort}}]
  location: MESH_INTERNAL
  resolution: STATIC
  workloadSelector: {labels: {app: backend}}
`;
  return [
    'apiVersion: nodemesh.io/v1alpha1\nkind: Node\nmetadata: {name: node-0}\nspec: {addresses: [127.0.0.1]}\n',
    'apiVersion: nodemesh.io/v1alpha1\nkind: Node\nmetadata: {name: node-1}\nspec: {addresses: [10.0.0.2]}\n',
    `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: backend-0, namespace: shop, labels: {app: backend, kubernetes.io/hostname: node-0}}
spec: {address: ${LOCAL}, serviceAccount: backend, labels: {app: backend, kubernetes.io/hostname: node-0}}
`,
    `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: frontend-0, namespace: shop, labels: {app: frontend, kubernetes.io/hostname: node-1}}
spec: {address: ${CLIENT_IP}, serviceAccount: frontend, labels: {app: frontend, kubernetes.io/hostname: node-1}}
`,
    svc('web', '10.96.0.20', h1Port),
    svc('up', '10.96.0.21', h2Port),
  ].join('---\n');
}

describe('upstream protocol across the tunnel: the source chooses, the destination delivers', () => {
  let tunnel: TestTunnel;
  let pool: TunnelPool;
  let routes: TunnelRoutes;
  let inbound: InboundHandler;
  let source: H2Harness;
  let h1Pod: http.Server;
  let h2Pod: http2.Http2Server;
  const destination = new Metrics({ cluster: 'Kubernetes' });

  before(async () => {
    const p = await pki([CLIENT_ID, SERVER_ID]);
    // An HTTP/1-only pod and an h2c-only pod.
    h1Pod = http.createServer((req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => res.end(`${req.httpVersion} ${req.method} ${req.url} host ${req.headers.host} body ${n}`));
    });
    h1Pod.listen(0, LOCAL);
    await once(h1Pod, 'listening');
    h2Pod = http2.createServer();
    h2Pod.on('stream', (s, h) => {
      s.resume();
      s.on('end', () => {
        s.respond({ ':status': 200 });
        s.end(`h2 ${String(h[':method'])} ${String(h[':path'])} authority ${String(h[':authority'])}`);
      });
    });
    h2Pod.listen(0, LOCAL);
    await once(h2Pod, 'listening');
    const h1Addr: Addr = { address: LOCAL, port: (h1Pod.address() as net.AddressInfo).port };
    const h2Addr: Addr = { address: LOCAL, port: (h2Pod.address() as net.AddressInfo).port };

    const built = buildConfig({ files: [{ path: 'mesh.yaml', name: 'mesh.yaml', content: destinationConfig(h1Addr.port, h2Addr.port) }], issues: [], warnings: [] });
    if (!built.ok) throw new Error(JSON.stringify(built.issues));
    const topo = new Topology(built.config, 'node-0', 'cluster.local');
    const authz = new MeshAuthz(built.config.authorizationPolicies);
    inbound = new InboundHandler({ topology: () => topo, authz: () => authz, metrics: destination, deliveryAddress: undefined, connectTimeoutMs: 2_000 });
    tunnel = await startTestServer(p, { onStream: (ctx) => inbound.onStream(ctx) });
    pool = testPool(p);
    routes = new TunnelRoutes((r) => pool.open({ sourceIdentity: r.identity, destinationIdentities: [SERVER_ID], node: tunnel.addr, target: r.target, forwardedFor: r.client }));

    // The source node: both services on HTTP ports, `up` with h2UpgradePolicy UPGRADE; every endpoint
    // is reached through the tunnel.
    const cfg = meshOf(
      [
        { name: 'web', vip: WEB_VIP, endpoints: [h1Addr], portName: 'http' },
        { name: 'up', vip: UP_VIP, endpoints: [h2Addr], portName: 'http' },
      ],
      [dr('up', host('up'), { trafficPolicy: { connectionPool: { http: { h2UpgradePolicy: 'UPGRADE' } } } })],
    );
    source = new H2Harness(cfg, { engine: { dial: (_client, target) => routes.ensure({ identity: CLIENT_ID, client: { address: CLIENT_IP, port: 0 }, target }) } });
  });

  after(async () => {
    await source?.close();
    routes?.close();
    await pool?.close();
    await tunnel?.server.close(100);
    inbound?.close();
    h1Pod?.close();
    h2Pod?.close();
  });

  test('an h2 client on an HTTP port reaches an HTTP/1-only pod as HTTP/1.1 through the tunnel', async () => {
    const client = h2connect(await source.entry(WEB_VIP));
    try {
      const get = await h2request(client, { ':path': '/get', ':authority': 'web.example' });
      assert.equal(get.status, 200);
      assert.equal(get.body.toString(), '1.1 GET /get host web.example body 0');
      const post = await h2request(client, { ':path': '/post', ':authority': 'web.example' }, Buffer.alloc(100_000, 'p'));
      assert.equal(post.status, 200);
      assert.equal(post.body.toString(), '1.1 POST /post host web.example body 100000');
    } finally {
      client.close();
    }
  });

  test('h2UpgradePolicy UPGRADE: an HTTP/1 client reaches an h2c-only pod through the tunnel', async () => {
    const r = await request(await source.h1entry(UP_VIP), { path: '/up', headers: { host: 'up.example' } });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'h2 GET /up authority up.example');
    const post = await request(await source.h1entry(UP_VIP), { path: '/upload', method: 'POST', headers: { host: 'up.example' }, body: 'x'.repeat(5000) });
    assert.equal(post.status, 200);
    assert.equal(post.body, 'h2 POST /upload authority up.example');
    // Every request crossed the tunnel: the destination side recorded it.
    await eventually(async () => (await sample(destination, 'istio_requests_total', { reporter: 'destination', response_code: '200' })) === 4, 'four requests at the destination');
  });
});
