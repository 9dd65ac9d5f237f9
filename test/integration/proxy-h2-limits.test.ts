import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CodecClient } from './fixtures/h2codec-peers';
import { h2backend, H2Harness, host, meshOf, vs } from './fixtures/h2-harness';

// Client-side HTTP/2 limits of the proxy that a well-behaved client library will not exercise: a header
// list past SETTINGS_MAX_HEADER_LIST_SIZE, and request bodies the proxy never reads (their flow-control
// credit must come back, or the connection window would run dry).

const VIP = '127.0.106.1';

test('h2 limits: a header list past 64 KiB is answered 431 and the connection goes on; unread bodies do not use up the connection window', async (t) => {
  const backend = await h2backend((stream) => {
    stream.respond({ ':status': 200 });
    stream.pipe(stream);
  });
  const cfg = meshOf(
    [{ name: 'lim', vip: VIP, endpoints: [backend.addr] }],
    [
      vs('lim', [host('lim')], [
        { match: [{ uri: { exact: '/local' } }], directResponse: { status: 418, body: { string: 'unread' } } },
        { route: [{ destination: { host: host('lim') } }] },
      ]),
    ],
  );
  const mesh = new H2Harness(cfg);
  const entry = await mesh.entry(VIP);
  const client = await CodecClient.connect(entry.port);
  t.after(async () => {
    client.close();
    await mesh.close();
    await backend.close();
  });
  const head = (path: string, method = 'GET'): string[] => [':method', method, ':scheme', 'http', ':authority', 'lim', ':path', path];

  const big = await client.request([...head('/big'), 'x-big', 'a'.repeat(70_000)]);
  assert.equal(big.headers.get(':status'), '431');

  // 24 uploads of 100 KB answered locally without reading them: more than the 1 MiB connection window.
  for (let i = 0; i < 24; i++) {
    const r = await client.request(head('/local', 'POST'), Buffer.alloc(100_000, 'u'));
    assert.equal(r.headers.get(':status'), '418');
  }
  const payload = Buffer.alloc(300_000, 'e');
  const echo = await client.request(head('/echo', 'POST'), payload);
  assert.equal(echo.headers.get(':status'), '200');
  assert.ok(echo.body.equals(payload));
});
