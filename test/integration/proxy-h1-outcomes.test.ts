// How HTTP/1 tries are judged and counted on the one executor: what the balancer learns from a try
// (outlier detection, least-request load) and requests whose body framing ends in the first packet.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import type { Addr } from '../../src/capture/types';
import { raw, request, startBackend, startProxy } from './proxy-helpers';
import { dr, host, meshOf } from './fixtures/h2-harness';

const OD = { consecutiveGatewayErrors: 2, consecutive5xxErrors: 2, interval: '1s', baseEjectionTime: '30s', maxEjectionPercent: 100 };

test('a chunked request whose empty body comes with its head is answered at once', async (t) => {
  const b = await startBackend('a', (req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => res.end(`got ${n}`));
  });
  const vip = '127.0.108.1';
  const p = await startProxy(meshOf([{ name: 'web', vip, endpoints: [b.addr], portName: 'http' }], []), { originalDst: () => ({ address: vip, port: 80 }), timeouts: { requestMs: 5_000 } });
  t.after(async () => {
    await p.close();
    await b.close();
  });
  const started = Date.now();
  const r = await raw(p.addr, 'POST /empty HTTP/1.1\r\nhost: web\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n', { until: /got 0$/ });
  assert.match(r.text, /^HTTP\/1\.1 200 OK\r\n[^]*got 0$/);
  assert.ok(Date.now() - started < 4_000, 'not held until the request timeout');
});

/** A keep-alive server that drops a reused connection when its second request comes (a stale pool entry). */
function dropsSecond(name: string): Promise<{ addr: Addr; close(): void }> {
  return new Promise((resolve) => {
    const s = net.createServer((sock) => {
      let n = 0;
      sock.on('error', () => undefined);
      sock.on('data', () => {
        if (++n === 2) return void sock.destroy();
        sock.write(`HTTP/1.1 200 OK\r\ncontent-length: ${name.length}\r\n\r\n${name}`);
      });
    });
    s.listen(0, '127.0.0.1', () => resolve({ addr: { address: '127.0.0.1', port: (s.address() as net.AddressInfo).port }, close: () => s.close() }));
  });
}

test('a resend after a stale pooled connection does not judge the endpoint', async (t) => {
  const a = await dropsSecond('A');
  const b = await dropsSecond('B');
  const vip = '127.0.108.2';
  const cfg = meshOf([{ name: 'web', vip, endpoints: [a.addr, b.addr], portName: 'http' }], [
    dr('web', host('web'), { trafficPolicy: { loadBalancer: { simple: 'ROUND_ROBIN' }, outlierDetection: { ...OD, consecutiveGatewayErrors: 1, consecutive5xxErrors: 1 } } }),
  ]);
  const p = await startProxy(cfg, { originalDst: () => ({ address: vip, port: 80 }) });
  t.after(async () => {
    await p.close();
    a.close();
    b.close();
  });
  assert.equal((await request(p.addr)).status, 200);
  // What the balancer is told about each try.
  const cb = p.balancers.clusterBalancer(`outbound|80||${host('web')}`)!;
  const told: unknown[] = [];
  const report = cb.report.bind(cb);
  cb.report = (target, result, now) => {
    told.push(result);
    return report(target, result, now);
  };
  // Four at a time, so both endpoints have pooled connections that their servers then drop.
  for (let round = 0; round < 3; round++) {
    const rs = await Promise.all([0, 1, 2, 3].map(() => request(p.addr)));
    assert.deepEqual(rs.map((r) => r.status), [200, 200, 200, 200], `round ${round}`);
  }
  assert.deepEqual(told.filter((r) => r !== 200), [], 'a request an endpoint never saw does not count against it');
  for (const target of cb.list()) assert.equal(cb.isEjected(target), false, target.key);
});

test('a try that never gets its head within the request timeout is judged: a silent endpoint is ejected', async (t) => {
  const good = await startBackend('good');
  const silent = await startBackend('silent', () => undefined);
  const vip = '127.0.108.3';
  const cfg = meshOf([{ name: 'web', vip, endpoints: [good.addr, silent.addr], portName: 'http' }], [dr('web', host('web'), { trafficPolicy: { outlierDetection: OD } })]);
  const p = await startProxy(cfg, { originalDst: () => ({ address: vip, port: 80 }), timeouts: { requestMs: 300 } });
  t.after(async () => {
    await p.close();
    await good.close();
    await silent.close();
  });
  const codes: number[] = [];
  for (let i = 0; i < 10; i++) codes.push((await request(p.addr, { path: `/${i}` })).status);
  // Two timeouts eject it; after that every request goes to the good endpoint.
  assert.equal(codes.filter((c) => c === 504).length, 2, codes.join(' '));
  assert.deepEqual(codes.slice(-5), [200, 200, 200, 200, 200]);
  assert.equal(silent.requests, 2, 'the silent endpoint got no request after its ejection');
});

test('least request counts a request on its endpoint until the response ends, not only until its head', async (t) => {
  let release: (() => void) | undefined;
  const b = await startBackend('slow-body', (_req, res: http.ServerResponse) => {
    res.writeHead(200, { 'content-length': '4' });
    res.write('ab');
    release = () => res.end('cd');
  });
  const vip = '127.0.108.4';
  const cfg = meshOf([{ name: 'web', vip, endpoints: [b.addr], portName: 'http' }], [dr('web', host('web'), { trafficPolicy: { loadBalancer: { simple: 'LEAST_REQUEST' } } })]);
  const p = await startProxy(cfg, { originalDst: () => ({ address: vip, port: 80 }) });
  t.after(async () => {
    await p.close();
    await b.close();
  });
  const pending = request(p.addr);
  const deadline = Date.now() + 5_000;
  while (release === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 50));
  const cb = p.balancers.clusterBalancer(`outbound|80||${host('web')}`);
  assert.ok(cb !== undefined, 'the cluster balancer exists');
  const load = (): number => cb.list().reduce((n, t2) => n + (cb.load(t2.key)?.active ?? 0), 0);
  assert.equal(load(), 1, 'active while the body is still coming');
  release!();
  assert.equal((await pending).body, 'abcd');
  assert.equal(load(), 0);
});
