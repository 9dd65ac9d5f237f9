import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { once } from 'node:events';
import type { Addr } from '../../src/capture/types';
import { closedPort, endpoint, eventually, meshConfig, raw, sample, startProxy } from './proxy-helpers';

async function tcpServer(onConn: (s: net.Socket) => void): Promise<{ addr: Addr; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    onConn(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    addr: { address: '127.0.0.1', port: (server.address() as net.AddressInfo).port },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

test('opaque TCP is echoed through the listener with half-close, and bytes are counted', async (t) => {
  // Echo until the client half-closes, then end: the reply must still flow after the client's FIN.
  const echo = await tcpServer((s) => s.pipe(s));
  const proxy = await startProxy(meshConfig([endpoint(echo.addr)]));
  t.after(async () => {
    await proxy.close();
    await echo.close();
  });
  const payload = Buffer.concat([Buffer.from([0, 1, 2, 3]), Buffer.alloc(256 * 1024, 'z')]);
  const r = await raw(proxy.addr, payload, { end: true });
  assert.equal(r.error, undefined);
  assert.equal(Buffer.from(r.text, 'latin1').equals(payload), true);
  await eventually(async () => (await sample(proxy.metrics, 'istio_tcp_connections_closed_total')) === 1, 'connection closed metric');
  const labels = { reporter: 'source', request_protocol: 'tcp', destination_service_name: 'backend', destination_workload: `backend-${echo.addr.port}` };
  assert.equal(await sample(proxy.metrics, 'istio_tcp_connections_opened_total', labels), 1);
  assert.equal(await sample(proxy.metrics, 'istio_tcp_received_bytes_total', labels), payload.length);
  assert.equal(await sample(proxy.metrics, 'istio_tcp_sent_bytes_total', labels), payload.length);
  assert.equal(await sample(proxy.metrics, 'nodemesh_protocol_detections_total', { protocol: 'opaque', outcome: 'sniffed' }), 1);
  const text = await proxy.metrics.registry.metrics();
  assert.doesNotMatch(text.split('\n').filter((l) => l.startsWith('istio_tcp_')).join('\n'), /response_code|grpc_response_status/);
});

test('bytes of a client that half-closes during detection still reach the upstream', async (t) => {
  const echo = await tcpServer((s) => s.pipe(s));
  const proxy = await startProxy(meshConfig([endpoint(echo.addr)]), { timeouts: { detectMs: 5_000 } });
  t.after(async () => {
    await proxy.close();
    await echo.close();
  });
  // "GET /" could still become HTTP/1, so detection is undecided when the FIN arrives.
  const r = await raw(proxy.addr, 'GET /', { end: true });
  assert.equal(r.text, 'GET /');
  assert.equal(await sample(proxy.metrics, 'nodemesh_protocol_detections_total', { protocol: 'opaque', outcome: 'ended' }), 1);
});

test('a server-speaks-first protocol works: detection times out to opaque', async (t) => {
  const banner = await tcpServer((s) => s.end('220 ready\r\n'));
  const proxy = await startProxy(meshConfig([endpoint(banner.addr)]), { timeouts: { detectMs: 30 } });
  t.after(async () => {
    await proxy.close();
    await banner.close();
  });
  const r = await new Promise<string>((resolve, reject) => {
    let s = '';
    const c = net.connect(proxy.addr.port, proxy.addr.address);
    c.setEncoding('latin1');
    c.on('data', (d: string) => (s += d));
    c.on('end', () => {
      c.end();
      resolve(s);
    });
    c.on('error', reject);
  });
  assert.equal(r, '220 ready\r\n');
  assert.equal(await sample(proxy.metrics, 'nodemesh_protocol_detections_total', { protocol: 'opaque', outcome: 'timeout' }), 1);
});

test('a declared TCP port skips detection; a refused endpoint closes the client and is flagged UF', async (t) => {
  const dead = await closedPort();
  const proxy = await startProxy(meshConfig([endpoint(dead)], 'TCP'));
  t.after(() => proxy.close());
  const r = await raw(proxy.addr, 'GET / HTTP/1.1\r\n\r\n');
  assert.equal(r.text, '');
  await eventually(async () => (await sample(proxy.metrics, 'istio_tcp_connections_closed_total', { response_flags: 'UF' })) === 1, 'UF close recorded');
  assert.equal(await sample(proxy.metrics, 'nodemesh_protocol_detections_total', { outcome: 'declared' }), 1);
  assert.equal(await sample(proxy.metrics, 'nodemesh_endpoint_ejections_total'), 1);
});

test('connections without an original destination or a known VIP are closed and counted', async (t) => {
  const proxy = await startProxy({ services: [], workloads: [], nodes: [], peerAuthentications: [], authorizationPolicies: [], source: { files: [], hash: 'none' } });
  t.after(() => proxy.close());
  const r = await raw(proxy.addr, 'hello');
  assert.equal(r.text, '');
  assert.equal(await sample(proxy.metrics, 'nodemesh_downstream_rejected_total', { reason: 'no_route' }), 1);
  await eventually(() => proxy.listener.connections() === 0, 'rejected connection released');

  const blind = await startProxy(meshConfig([]), { originalDst: () => undefined });
  t.after(() => blind.close());
  assert.equal((await raw(blind.addr, 'hello')).text, '');
  assert.equal(await sample(blind.metrics, 'nodemesh_downstream_rejected_total', { reason: 'no_original_dst' }), 1);
});
