// WebSocket upgrades on HTTP ports: the handshake goes to the endpoint with its Upgrade fields, a 101
// reaches the client and both connections are spliced as bytes both ways (half-close respected, no
// HTTP idle or request timeout cutting a quiet tunnel), the request is counted and logged once when the
// tunnel ends; any other answer is a normal response; other upgrade tokens (h2c) are not passed on.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { collectAccessLog } from '../helpers/access-lines';
import { endpoint, eventually, meshConfig, request, sample, startProxy } from './proxy-helpers';
import { acceptOf, handshake, rawClient, WS_KEY, wsEndpoint, type WsEndpoint } from './upgrade-helpers';
import { dr, host, meshOf, vs } from './fixtures/h2-harness';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A WebSocket endpoint (REFUSE: its other answer to a handshake) behind a proxy on an HTTP port (SNIFFED: an undeclared one), both closed after the test. */
async function wsBehindProxy(t: TestContext, refuse?: (head: string) => string | undefined, sniffed = false): Promise<{ ws: WsEndpoint; proxy: Awaited<ReturnType<typeof startProxy>> }> {
  const ws = await wsEndpoint(refuse);
  const proxy = await startProxy(meshConfig([endpoint(ws.addr)], sniffed ? undefined : 'HTTP'));
  t.after(async () => {
    await proxy.close();
    await ws.close();
  });
  return { ws, proxy };
}

test('a WebSocket handshake gets the 101, bytes flow both ways, half-close ends the tunnel, one record', async (t) => {
  const ws = await wsEndpoint();
  const { accessLog, lines } = collectAccessLog();
  // Short HTTP timeouts: none of them may cut the quiet tunnel.
  const proxy = await startProxy(meshConfig([endpoint(ws.addr)], 'HTTP'), { accessLog, timeouts: { downstreamIdleMs: 100, requestMs: 100, headersMs: 100 } });
  t.after(async () => {
    await proxy.close();
    await ws.close();
  });
  const c = await rawClient(proxy.addr);
  c.socket.write(handshake('/ws'));
  // Bytes right after the head, before the 101 (as clients that do not wait send them).
  c.socket.write('early');
  await c.waitFor(/\r\n\r\nhello/);
  const head = c.text().slice(0, c.text().indexOf('\r\n\r\n'));
  assert.match(head, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  assert.match(head, /\r\nconnection: upgrade\r\n/i);
  assert.match(head, /\r\nupgrade: websocket(\r\n|$)/i);
  assert.ok(head.toLowerCase().includes(`sec-websocket-accept: ${acceptOf(WS_KEY).toLowerCase()}`), head);
  await c.waitFor(/echo:early/);
  // The endpoint got the upgrade fields (hop-by-hop: added for this hop) and the key.
  const up = ws.heads[0]!;
  assert.match(up, /^GET \/ws HTTP\/1\.1\r\n/);
  assert.match(up, /\r\nconnection: upgrade\r\n/i);
  assert.match(up, /\r\nupgrade: websocket\r\n/i);
  assert.ok(up.includes(`Sec-WebSocket-Key: ${WS_KEY}`), up);
  // A frame (masked text "hello"), after a pause longer than every HTTP timeout.
  await sleep(300);
  const frame = Buffer.from([0x81, 0x85, 1, 2, 3, 4, 0x69, 0x67, 0x6f, 0x68, 0x6e]);
  c.socket.write(frame);
  await c.waitFor(/echo:\x81\x85/);
  assert.ok(Buffer.from(c.text(), 'latin1').includes(Buffer.concat([Buffer.from('echo:'), frame])));
  // Nothing is recorded while the tunnel is open.
  assert.equal(await sample(proxy.metrics, 'istio_requests_total', { response_code: '101' }), 0);
  // Half-close: the client's FIN reaches the endpoint, whose answer still comes back, then its FIN.
  c.socket.end();
  await c.waitFor(/bye$/);
  await c.closed;
  assert.ok(c.ended());
  assert.equal(ws.clientEnds(), 1);
  await eventually(async () => (await sample(proxy.metrics, 'istio_requests_total', { response_code: '101' })) === 1, 'the tunnel recorded once');
  await eventually(() => lines.some((l) => l['response_code'] === 101), 'the access log line');
  const log = lines.filter((l) => l['response_code'] === 101);
  assert.equal(log.length, 1);
  assert.equal(log[0]!['method'], 'GET');
  assert.equal(log[0]!['path'], '/ws');
  assert.equal(log[0]!['bytes_received'], 'early'.length + frame.length);
  assert.equal(log[0]!['bytes_sent'], Buffer.byteLength('hello') + 'echo:early'.length + 5 + frame.length + 'bye'.length);
  assert.equal(await sample(proxy.metrics, 'istio_requests_total'), 1);
});

test('the endpoint closing the tunnel closes the client; the record says 101', async (t) => {
  const { ws, proxy } = await wsBehindProxy(t);
  const c = await rawClient(proxy.addr);
  c.socket.write(handshake('/ws'));
  await c.waitFor(/hello/);
  await ws.close();
  // The endpoint's FIN reaches the client (the client's own direction stays open until it ends it).
  await eventually(() => c.ended(), 'the client saw the FIN');
  c.socket.end();
  await c.closed;
  await eventually(async () => (await sample(proxy.metrics, 'istio_requests_total', { response_code: '101' })) === 1, 'recorded once');
});

test('an upgrade the endpoint refuses is a normal response, and the connection stays HTTP', async (t) => {
  const { proxy } = await wsBehindProxy(t, () => 'HTTP/1.1 426 Upgrade Required\r\ncontent-length: 2\r\n\r\nno');
  const c = await rawClient(proxy.addr);
  c.socket.write(handshake('/ws'));
  await c.waitFor(/\r\n\r\nno$/);
  assert.match(c.text(), /^HTTP\/1\.1 426 Upgrade Required\r\n/);
  assert.doesNotMatch(c.text(), /upgrade: websocket/i);
  // A plain request on the same connection is answered as usual.
  c.socket.write('GET /next HTTP/1.1\r\nHost: web\r\n\r\n');
  await c.waitFor(/no[^]*426[^]*\r\n\r\nno$/);
  c.socket.destroy();
  await eventually(async () => (await sample(proxy.metrics, 'istio_requests_total', { response_code: '426' })) === 2, 'two normal responses');
  assert.equal(await sample(proxy.metrics, 'istio_requests_total', { response_code: '101' }), 0);
});

test('other upgrade tokens (h2c) keep the plain request: no upgrade goes to the endpoint', async (t) => {
  const { ws, proxy } = await wsBehindProxy(t, () => 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
  const r = await request(proxy.addr, { path: '/h2c', headers: { connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c', 'http2-settings': 'AAMAAABkAAQAoAAAAAIAAAAA' } });
  assert.equal(r.status, 200);
  assert.equal(r.body, 'ok');
  assert.doesNotMatch(ws.heads[0]!, /upgrade/i);
});

test('on a sniffed port the handshake is detected as HTTP/1 and upgraded the same way', async (t) => {
  const { proxy } = await wsBehindProxy(t, undefined, true);
  const c = await rawClient(proxy.addr);
  c.socket.write(handshake('/ws'));
  await c.waitFor(/^HTTP\/1\.1 101 [^]*\r\n\r\nhello/);
  c.socket.write(Buffer.from([0x81, 0x85, 1, 2, 3, 4, 0x69, 0x67, 0x6f, 0x68, 0x6e]));
  await c.waitFor(/echo:\x81\x85/);
  c.socket.destroy();
  await eventually(async () => (await sample(proxy.metrics, 'istio_requests_total', { response_code: '101' })) === 1, 'recorded once');
});

test('route header edits apply to the handshake and its 101; h2UpgradePolicy UPGRADE does not turn it into h2c', async (t) => {
  const ws = await wsEndpoint();
  const vip = '127.0.112.1';
  const cfg = meshOf(
    [{ name: 'web', vip, endpoints: [ws.addr], portName: 'http' }],
    [
      vs('web', [host('web')], [{ headers: { request: { set: { 'x-edit': 'yes' } }, response: { set: { 'x-resp': 'yes' } } }, route: [{ destination: { host: host('web') } }] }]),
      dr('web', host('web'), { trafficPolicy: { connectionPool: { http: { h2UpgradePolicy: 'UPGRADE' } } } }),
    ],
  );
  const proxy = await startProxy(cfg, { originalDst: () => ({ address: vip, port: 80 }) });
  t.after(async () => {
    await proxy.close();
    await ws.close();
  });
  const c = await rawClient(proxy.addr);
  c.socket.write(handshake('/ws'));
  await c.waitFor(/^HTTP\/1\.1 101 [^]*\r\n\r\nhello/);
  assert.match(c.text(), /\r\nx-resp: yes\r\n/);
  const up = ws.heads[0]!;
  assert.match(up, /^GET \/ws HTTP\/1\.1\r\n/);
  assert.match(up, /\r\nx-edit: yes\r\n/);
  assert.match(up, /\r\nconnection: upgrade\r\nupgrade: websocket\r\n/);
  assert.match(up, /\r\nsec-websocket-key: /i);
  c.socket.write('x');
  await c.waitFor(/echo:x/);
  c.socket.destroy();
  await eventually(async () => (await sample(proxy.metrics, 'istio_requests_total', { response_code: '101' })) === 1, 'recorded once');
});
