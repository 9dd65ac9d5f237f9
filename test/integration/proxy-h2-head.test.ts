import { test } from 'node:test';
import assert from 'node:assert/strict';
import { h2backend, h2connect, h2request, H2Harness, meshOf } from './fixtures/h2-harness';

// The upstream HTTP/2 request head made in one pass from the client's HTTP/2 head (engine.ts
// ForwardHead.flat): the same fields the field list would carry. Pseudo-headers rebuilt, te kept only
// as "trailers", x-request-id and x-forwarded-proto added only when absent, trace fields added for a
// new trace and replaced for a malformed one.

const VIP = '127.0.101.7';

test('h2 → h2: forwarded head, field by field', async (t) => {
  const seen: Record<string, string | string[] | undefined>[] = [];
  const backend = await h2backend((stream, headers) => {
    seen.push({ ...headers });
    stream.respond({ ':status': 200 });
    stream.end('ok');
  });
  const mesh = new H2Harness(meshOf([{ name: 'head', vip: VIP, endpoints: [backend.addr] }]));
  const client = h2connect(await mesh.entry(VIP));
  t.after(async () => {
    client.close();
    await mesh.close();
    await backend.close();
  });

  const cases: { name: string; send: Record<string, string>; want: Record<string, string | RegExp | undefined> }[] = [
    {
      name: 'plain request: ids and x-forwarded-proto added, a new trace',
      send: { 'x-custom': 'kept', accept: 'text/plain' },
      want: {
        ':method': 'GET', ':path': '/p', ':scheme': 'http', ':authority': 'head.default', 'x-custom': 'kept', accept: 'text/plain',
        'x-request-id': /^[0-9a-f-]{36}$/, 'x-forwarded-proto': 'http', traceparent: /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/,
        'x-b3-traceid': /^[0-9a-f]{32}$/, 'x-b3-spanid': /^[0-9a-f]{16}$/, te: undefined,
      },
    },
    {
      name: 'client ids and te: trailers kept',
      send: { 'x-request-id': 'client-id-1', 'x-forwarded-proto': 'https', te: 'trailers' },
      want: { 'x-request-id': 'client-id-1', 'x-forwarded-proto': 'https', te: 'trailers' },
    },
    {
      name: 'a malformed traceparent is replaced by a new one',
      send: { traceparent: 'not-a-trace' },
      want: { traceparent: /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/ },
    },
  ];
  for (const c of cases) {
    const r = await h2request(client, { ':path': '/p', ':authority': 'head.default', ...c.send });
    assert.equal(r.status, 200, c.name);
    const got = seen.at(-1)!;
    for (const [k, v] of Object.entries(c.want)) {
      if (v === undefined) assert.equal(got[k], undefined, `${c.name}: ${k}`);
      else if (v instanceof RegExp) assert.match(String(got[k]), v, `${c.name}: ${k}`);
      else assert.equal(got[k], v, `${c.name}: ${k}`);
    }
    // Each field once (no field both kept and added).
    for (const k of ['x-request-id', 'x-forwarded-proto', 'traceparent']) assert.equal(typeof got[k], 'string', `${c.name}: one ${k}`);
  }
});
