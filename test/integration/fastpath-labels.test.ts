// The raw fast path under a VirtualService that routes to another service: a request that finds no
// endpoint there is recorded against the service it was routed to, as the engine records it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { raw, sample, startBackend, startProxy } from './proxy-helpers';
import { host, meshOf, vs } from './fixtures/h2-harness';

const VIP = '127.0.107.3';

test('fast path: a routed request with no endpoint is a 503 for the destination service', async (t) => {
  const b = await startBackend('a');
  const cfg = meshOf(
    [
      { name: 'web', vip: VIP, endpoints: [b.addr], portName: 'http' },
      { name: 'empty', vip: '127.0.107.4', endpoints: [], portName: 'http' },
    ],
    [vs('web', [host('web')], [{ route: [{ destination: { host: host('empty'), port: { number: 80 } } }] }])],
  );
  const p = await startProxy(cfg, { originalDst: () => ({ address: VIP, port: 80 }) });
  t.after(async () => {
    await p.close();
    await b.close();
  });
  const r = await raw(p.addr, 'GET / HTTP/1.1\r\nhost: web\r\nconnection: close\r\n\r\n');
  assert.match(r.text, /^HTTP\/1\.1 503/);
  assert.equal(await sample(p.metrics, 'istio_requests_total', { response_code: '503', destination_service_name: 'empty' }), 1);
  assert.equal(b.requests, 0);
});
