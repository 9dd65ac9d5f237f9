// The destination side behind a real tunnel server: HTTP/1 and h2/gRPC streams served by the shared
// adapters and the engine with the destination admission (AuthorizationPolicy per request with the
// caller's verified identity), delivery to exactly the stream's pod from the delivery address, Istio
// metrics with reporter="destination", and one access log entry per request.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import { once } from 'node:events';
import type { Addr } from '../../src/capture/types';
import { buildConfig } from '../../src/config/load';
import { InboundHandler } from '../../src/downstream/tunnel';
import { MeshAuthz } from '../../src/policy/authz';
import { Topology } from '../../src/state/topology';
import { Metrics } from '../../src/telemetry/metrics';
import type { TunnelPool } from '../../src/tunnel/client';
import { collectAccessLog } from '../helpers/access-lines';
import { allowFrom, shopService, shopWorkload } from '../helpers/cluster-config';
import { closedPort } from './proxy-helpers';
import { CLIENT_ID, CLIENT_IP, LOCAL, SERVER_ID, destinationConfig, eventually, h1Exchange, h2cPod, listenOn, pki, spiffe, startTestServer, testPool, type TestTunnel } from './tunnel-harness';

const INTRUDER = spiffe('shop', 'intruder');
/** Loopback holds all of 127/8: a bind address the pods can tell from the tunnel's 127.0.0.1. */
const DELIVERY = '127.0.0.2';

function config(h1Port: number, h2Port: number, gonePort: number): string {
  return destinationConfig(
    [shopService('web', '10.96.0.10', 80, 'HTTP', h1Port), shopService('grpc', '10.96.0.11', 7070, 'GRPC', h2Port), shopService('gone', '10.96.0.12', 80, 'HTTP', gonePort)],
    [allowFrom('only-frontend', 'shop', 'backend', ['cluster.local/ns/shop/sa/frontend'], [{ operation: { notPaths: ['/admin*', '/pkg.Admin/*'] } }])],
    // Another workload of the same identity: only the forwarded address names the client.
    [shopWorkload('frontend-canary', '10.1.2.4', 'node-1', 'frontend')],
  );
}

function sum(text: string, name: string, labels: Record<string, string>): number {
  let n = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) n += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return n;
}

interface H2Answer {
  readonly headers: http2.IncomingHttpHeaders;
  readonly trailers: http2.IncomingHttpHeaders | undefined;
  readonly body: string;
}

/** One h2 request over a tunnel stream (the stream is the h2c connection). */
async function h2Exchange(stream: http2.ClientHttp2Stream, headers: http2.OutgoingHttpHeaders, body?: Buffer): Promise<H2Answer> {
  const session = http2.connect('http://destination', { createConnection: () => stream });
  session.on('error', () => undefined);
  try {
    const req = session.request(headers, { endStream: body === undefined });
    if (body !== undefined) req.end(body);
    let trailers: http2.IncomingHttpHeaders | undefined;
    req.on('trailers', (t) => (trailers = t));
    // A trailers-only answer ends in the same turn as its 'response': listen for the end first.
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (text += d));
    const ended = once(req, 'end');
    const [h] = (await once(req, 'response')) as [http2.IncomingHttpHeaders];
    await ended;
    return { headers: h, trailers, body: text };
  } finally {
    session.close();
  }
}

describe('the destination side: adapters + engine behind the tunnel', () => {
  let tunnel: TestTunnel;
  let pool: TunnelPool;
  let inbound: InboundHandler;
  let metrics: Metrics;
  let h1Pod: http.Server;
  let h2Pod: http2.Http2Server;
  let web: Addr;
  let grpc: Addr;
  let gone: Addr;
  const { accessLog, lines: logged } = collectAccessLog();

  before(async () => {
    const p = await pki([CLIENT_ID, SERVER_ID, INTRUDER]);
    h1Pod = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end(`hello ${req.method} ${req.url} from ${req.socket.remoteAddress} host ${req.headers.host}`));
    });
    web = await listenOn(h1Pod);
    h2Pod = h2cPod((s, h) => {
      s.respond({ ':status': 200, 'content-type': 'application/grpc', 'x-from': s.session?.socket.remoteAddress ?? '' }, { waitForTrailers: true });
      s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': h[':path'] === '/pkg.Svc/Missing' ? '5' : '0' }));
      s.end(Buffer.from([0, 0, 0, 0, 0]));
    });
    grpc = await listenOn(h2Pod);
    gone = await closedPort();
    const built = buildConfig({ files: [{ path: 'mesh.yaml', name: 'mesh.yaml', content: config(web.port, grpc.port, gone.port) }], issues: [], warnings: [] });
    if (!built.ok) throw new Error(JSON.stringify(built.issues));
    const topo = new Topology(built.config, 'node-0', 'cluster.local');
    const authz = new MeshAuthz(built.config.authorizationPolicies);
    metrics = new Metrics({ cluster: 'Kubernetes' });
    inbound = new InboundHandler({ topology: () => topo, authz: () => authz, metrics, deliveryAddress: DELIVERY, connectTimeoutMs: 2_000, accessLog });
    tunnel = await startTestServer(p, { onStream: (ctx) => inbound.onStream(ctx) });
    pool = testPool(p);
  });

  after(async () => {
    await pool?.close();
    await tunnel?.server.close(100);
    inbound?.close();
    h1Pod?.close();
    h2Pod?.close();
  });

  const open = (target: Addr, as = CLIENT_ID): Promise<http2.ClientHttp2Stream> =>
    pool.open({ sourceIdentity: as, destinationIdentities: [SERVER_ID], node: tunnel.addr, target, forwardedFor: { address: CLIENT_IP, port: 40000 } });

  test('HTTP/1: each request on a stream is authorized; allowed ones reach exactly the pod, from the delivery address', async () => {
    const text = await h1Exchange(
      await open(web),
      'GET /hello HTTP/1.1\r\nhost: web.shop.svc.cluster.local\r\n\r\nGET /admin/x HTTP/1.1\r\nhost: web.shop.svc.cluster.local\r\nconnection: close\r\n\r\n',
    );
    const [first, second] = text.split(/(?=HTTP\/1\.1 )/);
    assert.match(first!, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(first!, new RegExp(`hello GET /hello from ${DELIVERY.replace(/\./g, '\\.')} host web\\.shop\\.svc\\.cluster\\.local$`));
    assert.match(second!, /^HTTP\/1\.1 403 Forbidden\r\n/);
    assert.match(second!, /content-type: text\/plain\r\n/);
    assert.match(second!, /\r\n\r\nRBAC: access denied$/);
  });

  test('HTTP/1: a caller the policy does not name gets 403; a pod that refuses gets 503 UF', async () => {
    const denied = await h1Exchange(await open(web, INTRUDER), 'GET /hello HTTP/1.1\r\nhost: web\r\nconnection: close\r\n\r\n');
    assert.match(denied, /^HTTP\/1\.1 403 Forbidden\r\n[^]*\r\n\r\nRBAC: access denied$/);
    const refused = await h1Exchange(await open(gone), 'GET /hello HTTP/1.1\r\nhost: gone\r\nconnection: close\r\n\r\n');
    assert.match(refused, /^HTTP\/1\.1 503 Service Unavailable\r\n[^]*upstream connect error or disconnect\/reset before headers$/);
  });

  test('a tunnel stream reset mid-request costs that request only (DC), not the agent', async () => {
    const s = await open(web);
    s.on('error', () => undefined);
    s.write('POST /upload HTTP/1.1\r\nhost: web\r\ncontent-length: 10\r\n\r\nabc');
    await new Promise((r) => setTimeout(r, 50));
    s.close(http2.constants.NGHTTP2_CANCEL);
    await eventually(() => logged.some((l) => l['path'] === '/upload'), 'the reset request recorded');
    assert.equal(logged.find((l) => l['path'] === '/upload')!['response_flags'], 'DC');
    const again = await h1Exchange(await open(web), 'GET /hello HTTP/1.1\r\nhost: web\r\nconnection: close\r\n\r\n');
    assert.match(again, /^HTTP\/1\.1 200 OK\r\n/);
  });

  test('gRPC: allowed calls reach the pod with their status; a denied one is a trailers-only PERMISSION_DENIED', async () => {
    const call = (path: string, as = CLIENT_ID): Promise<H2Answer> =>
      open(grpc, as).then((s) => h2Exchange(s, { ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' }, Buffer.from([0, 0, 0, 0, 0])));
    const ok = await call('/pkg.Svc/Get');
    assert.equal(ok.headers[':status'], 200);
    assert.equal(ok.headers['x-from'], DELIVERY);
    assert.equal(ok.trailers?.['grpc-status'], '0');
    const missing = await call('/pkg.Svc/Missing');
    assert.equal(missing.trailers?.['grpc-status'], '5');
    for (const denied of [await call('/pkg.Svc/Get', INTRUDER), await call('/pkg.Admin/Drop')]) {
      assert.equal(denied.headers[':status'], 200);
      assert.equal(denied.headers['grpc-status'], '7');
      assert.equal(denied.headers['grpc-message'], 'RBAC: access denied');
      assert.equal(denied.trailers, undefined, 'trailers-only');
    }
  });

  test('h2 with prior knowledge on an HTTP port: detected from the preface, denied as plain HTTP', async () => {
    const r = await h2Exchange(await open(web, INTRUDER), { ':method': 'GET', ':path': '/hello', ':authority': 'web' });
    assert.equal(r.headers[':status'], 403);
    assert.equal(r.headers['content-type'], 'text/plain');
    assert.equal(r.body, 'RBAC: access denied');
  });

  test('metrics: reporter="destination" with both principals, mutual_tls, the gRPC status and DENY', async () => {
    const text = await metrics.registry.metrics();
    const base = { reporter: 'destination', connection_security_policy: 'mutual_tls', destination_principal: 'cluster.local/ns/shop/sa/backend', destination_workload: 'backend-0' };
    const fromClient = { ...base, source_principal: 'cluster.local/ns/shop/sa/frontend', source_workload: 'frontend-0', source_workload_namespace: 'shop' };
    assert.equal(sum(text, 'istio_requests_total', { ...fromClient, destination_service_name: 'web', request_protocol: 'http', response_code: '200', response_flags: '-' }), 2);
    assert.equal(sum(text, 'istio_requests_total', { ...fromClient, destination_service_name: 'web', response_code: '403', response_flags: 'DENY' }), 1);
    assert.equal(sum(text, 'istio_requests_total', { ...base, source_principal: 'cluster.local/ns/shop/sa/intruder', source_workload: 'unknown', destination_service_name: 'web', response_code: '403', response_flags: 'DENY' }), 2);
    assert.equal(sum(text, 'istio_requests_total', { ...base, destination_service_name: 'gone', response_code: '503', response_flags: 'UF' }), 1);
    assert.equal(sum(text, 'istio_requests_total', { ...fromClient, destination_service_name: 'web', response_code: '0', response_flags: 'DC' }), 1);
    const g = { ...base, destination_service_name: 'grpc', request_protocol: 'grpc' };
    assert.equal(sum(text, 'istio_requests_total', { ...g, ...fromClient, grpc_response_status: '0', response_flags: '-' }), 1);
    assert.equal(sum(text, 'istio_requests_total', { ...g, grpc_response_status: '5' }), 1);
    assert.equal(sum(text, 'istio_requests_total', { ...g, response_code: '200', grpc_response_status: '7', response_flags: 'DENY' }), 2);
    // Nothing of this side is reported as the source.
    assert.equal(sum(text, 'istio_requests_total', { reporter: 'source' }), 0);
  });

  test('access log: one entry per request with Envoy field names, the inbound cluster and the pod as local address', async () => {
    await eventually(() => logged.length >= 11, 'access log lines');
    assert.equal(logged.length, 11, 'one entry per request');
    const ok = logged.find((l) => l['path'] === '/hello' && l['response_code'] === 200)!;
    assert.ok(ok, 'an entry for the allowed request');
    assert.equal(ok['module'], 'access');
    assert.equal(ok['method'], 'GET');
    assert.equal(ok['protocol'], 'HTTP/1.1');
    assert.equal(ok['response_flags'], '-');
    assert.equal(ok['authority'], 'web.shop.svc.cluster.local');
    assert.equal(ok['upstream_cluster'], `inbound|${web.port}||`);
    assert.equal(ok['upstream_host'], `${LOCAL}:${web.port}`);
    assert.match(String(ok['upstream_local_address']), new RegExp(`^${DELIVERY.replace(/\./g, '\\.')}:\\d+$`));
    assert.equal(ok['downstream_local_address'], `${LOCAL}:${web.port}`);
    assert.equal(ok['downstream_remote_address'], `${CLIENT_IP}:40000`);
    const denied = logged.find((l) => l['path'] === '/admin/x')!;
    assert.equal(denied['response_code'], 403);
    assert.equal(denied['response_flags'], 'DENY');
    assert.equal(denied['upstream_host'], null);
    const grpcDenied = logged.find((l) => l['path'] === '/pkg.Admin/Drop')!;
    assert.equal(grpcDenied['protocol'], 'HTTP/2');
    assert.equal(grpcDenied['response_flags'], 'DENY');
    assert.equal(grpcDenied['upstream_cluster'], `inbound|${grpc.port}||`);
  });

  test('source labels: a forwarded client without a port (a shared relay) is still the source workload', async () => {
    const before = sum(await metrics.registry.metrics(), 'istio_requests_total', { reporter: 'destination', source_workload: 'frontend-0', source_cluster: 'Kubernetes', response_code: '200' });
    const s = await pool.open({ sourceIdentity: CLIENT_ID, destinationIdentities: [SERVER_ID], node: tunnel.addr, target: web, forwardedFor: { address: CLIENT_IP, port: 0 } });
    assert.match(await h1Exchange(s, 'GET /portless HTTP/1.1\r\nhost: web\r\nconnection: close\r\n\r\n'), /^HTTP\/1\.1 200 OK\r\n/);
    const after = sum(await metrics.registry.metrics(), 'istio_requests_total', { reporter: 'destination', source_workload: 'frontend-0', source_cluster: 'Kubernetes', response_code: '200' });
    assert.equal(after - before, 1);
  });

  test('a stream open across a config change keeps counting its requests (its stats handles are looked up again)', async () => {
    const labels = { reporter: 'destination', source_workload: 'frontend-0', destination_service_name: 'web', response_code: '200' };
    const count = async (): Promise<number> => sum(await metrics.registry.metrics(), 'istio_requests_total', labels);
    const before = await count();
    const s = await open(web);
    let text = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => (text += d));
    const answered = async (n: number): Promise<void> => eventually(() => (text.match(/HTTP\/1\.1 200 OK/g) ?? []).length === n && /hello GET \/\w+ from [^]*$/.test(text), `answer ${n}`);
    s.write('GET /one HTTP/1.1\r\nhost: web\r\n\r\n');
    await answered(1);
    inbound.configChanged();
    s.write('GET /two HTTP/1.1\r\nhost: web\r\nconnection: close\r\n\r\n');
    await answered(2);
    s.end();
    // Recorded as each response ends: poll a few turns rather than race the last one.
    let counted = 0;
    for (let i = 0; i < 50 && (counted = (await count()) - before) < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(counted, 2);
  });
});
