// The tunnel port faces every pod and node on the network: whatever arrives that is not an
// authenticated HBONE CONNECT from this trust domain is turned away, counted by reason, and never
// disturbs the sessions already serving traffic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import { once } from 'node:events';
import type { RejectReason } from '../../src/tunnel/metrics';
import type { TunnelStreamContext } from '../../src/tunnel/server';
import { encodeSni } from '../../src/tunnel/wire';
import {
  CLIENT_ID,
  echoServer,
  eventually,
  openTo,
  pki,
  rawTcp,
  rawTls,
  roundTrip,
  spiffe,
  startTestServer,
  testPool,
} from './tunnel-harness';
import { createLeaf, createRoot, expiredSvid, svid } from './tunnel-pki';

/** An h2 session with a valid client certificate, speaking raw HTTP/2 (for bad requests). */
async function rawH2(addr: { address: string; port: number }, kc: { key: string; cert: string }, ca: string): Promise<http2.ClientHttp2Session> {
  const s = http2.connect(`https://${addr.address}:${addr.port}`, { key: kc.key, cert: kc.cert, ca, checkServerIdentity: () => undefined });
  s.on('error', () => undefined);
  await once(s, 'connect');
  return s;
}

function answer(req: http2.ClientHttp2Stream): Promise<number | string> {
  return new Promise((resolve) => {
    req.on('response', (h) => resolve(Number(h[':status'])));
    req.on('error', (e: Error & { code?: string }) => resolve(e.code ?? e.message));
    req.on('close', () => resolve(`closed ${req.rstCode}`));
  });
}

test('garbage on the tunnel port is refused and counted per reason while a good tunnel keeps working', async (t) => {
  const p = await pki();
  const echo = await echoServer();
  const srv = await startTestServer(p, { limits: { handshakeTimeoutMs: 1_000 } });
  const pool = testPool(p);
  t.after(async () => {
    await pool.close();
    await srv.server.close();
    await echo.close();
  });

  // A tunnel in use before, during and after the garbage.
  const good = await openTo(pool, srv.addr, echo.addr);
  const goodEcho: Buffer[] = [];
  good.on('data', (c: Buffer) => goodEcho.push(c));
  good.write('before;');

  const ca = p.root.pem;
  const client = p.certs.get(CLIENT_ID)!;
  const otherRoot = await createRoot('impostor root');
  const cases: Array<[string, () => Promise<unknown>, RejectReason]> = [
    ['plain TCP bytes', () => rawTcp(srv.addr, Buffer.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15])), 'not_tls'],
    ['cleartext HTTP/1.1', () => rawTcp(srv.addr, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 'not_tls'],
    ['TLS 1.2', () => rawTls(srv.addr, { ca, ...client, maxVersion: 'TLSv1.2', ALPNProtocols: ['h2'] }), 'tls_handshake'],
    ['TLS without a client certificate', () => rawTls(srv.addr, { ca, ALPNProtocols: ['h2'] }), 'no_client_cert'],
    ['an expired client certificate', async () => rawTls(srv.addr, { ca, ...(await expiredSvid(p.root, CLIENT_ID)), ALPNProtocols: ['h2'] }), 'expired_client_cert'],
    ['a certificate from another root', async () => rawTls(srv.addr, { ca, ...(await svid(otherRoot, CLIENT_ID)), ALPNProtocols: ['h2'] }), 'bad_client_cert'],
    ['another trust domain', async () => rawTls(srv.addr, { ca, ...(await svid(p.root, spiffe('shop', 'frontend', 'evil.example'))), ALPNProtocols: ['h2'] }), 'wrong_trust_domain'],
    ['two URI SANs', async () => rawTls(srv.addr, { ca, ...(await createLeaf(p.root, { uris: [CLIENT_ID, spiffe('shop', 'admin')] })), ALPNProtocols: ['h2'] }), 'bad_identity'],
    ['no URI SAN', async () => rawTls(srv.addr, { ca, ...(await createLeaf(p.root, { uris: [] })), ALPNProtocols: ['h2'] }), 'bad_identity'],
    ['HTTP/1.1 over TLS (ALPN http/1.1)', () => rawTls(srv.addr, { ca, ...client, ALPNProtocols: ['http/1.1'] }), 'no_alpn'],
    ['TLS without ALPN', () => rawTls(srv.addr, { ca, ...client }), 'no_alpn'],
    ['an SNI naming no local workload', () => rawTls(srv.addr, { ca, ...client, ALPNProtocols: ['h2'], servername: encodeSni(spiffe('shop', 'nobody')) as string }), 'unknown_sni'],
    ['a silent client', () => rawTcp(srv.addr, ''), 'handshake_timeout'],
  ];
  for (const [what, run, reason] of cases) {
    const before = srv.count(reason);
    const total = [...srv.rejected.values()].reduce((a, b) => a + b, 0);
    const outcome = await run();
    const seen = (): string => `seen ${JSON.stringify([...srv.rejected])}, outcome ${JSON.stringify(outcome)}`;
    await eventually(() => srv.count(reason) === before + 1, `${what} counted as ${reason} (${seen()})`);
    // Counted once, under that reason only.
    await new Promise((r) => setTimeout(r, 20));
    assert.equal([...srv.rejected.values()].reduce((a, b) => a + b, 0), total + 1, `${what}: ${seen()}`);
  }

  good.write('after;');
  await roundTrip(good, Buffer.from('end'));
  assert.equal(Buffer.concat(goodEcho).toString(), 'before;after;end');
  const fresh = await openTo(pool, srv.addr, echo.addr);
  assert.equal((await roundTrip(fresh, Buffer.from('still fine'))).toString(), 'still fine');
  assert.equal(srv.streams.length, 2);
});

test('bad requests on an authenticated session get 400 and are counted; the session stays usable', async (t) => {
  const p = await pki();
  const echo = await echoServer();
  const srv = await startTestServer(p);
  const s = await rawH2(srv.addr, p.certs.get(CLIENT_ID)!, p.root.pem);
  t.after(async () => {
    s.destroy();
    await srv.server.close();
    await echo.close();
  });

  assert.equal(await answer(s.request({ ':method': 'GET', ':path': '/' }, { endStream: true })), 400);
  assert.equal(srv.count('bad_method'), 1);
  assert.equal(await answer(s.request({ ':method': 'CONNECT', ':authority': '10.9.9.9:80' })), 400);
  assert.equal(srv.count('non_local_target'), 1);
  for (const authority of ['localhost:80', '127.0.0.1', '127.0.0.01:80', '[::1]:80', '127.0.0.1:0', '127.0.0.1:65536']) {
    assert.equal(await answer(s.request({ ':method': 'CONNECT', ':authority': authority })), 400, authority);
  }
  assert.equal(srv.count('bad_authority'), 6);
  // Header lists over SETTINGS_MAX_HEADER_LIST_SIZE (16 KiB) never reach onStream.
  const before = srv.streams.length;
  const big = await answer(s.request({ ':method': 'CONNECT', ':authority': `${echo.addr.address}:${echo.addr.port}`, baggage: 'x'.repeat(20_000) }));
  assert.notEqual(big, 200);
  assert.equal(srv.streams.length, before);
  // A refused pod connection is the agent's answer (503), not a protocol rejection.
  assert.equal(await answer(s.request({ ':method': 'CONNECT', ':authority': '127.0.0.1:1' })), 503);

  const ok = s.request({ ':method': 'CONNECT', ':authority': `${echo.addr.address}:${echo.addr.port}`, forwarded: 'for="10.0.0.7:1234"' });
  assert.equal(await answer(ok), 200);
  assert.equal((await roundTrip(ok, Buffer.from('x'))).toString(), 'x');
  const ctx = srv.streams.at(-1) as TunnelStreamContext;
  assert.deepEqual(ctx.forwardedFor, { address: '10.0.0.7', port: 1234 });
  assert.equal(ctx.peerIdentity, CLIENT_ID);
  assert.equal(srv.count('rapid_reset'), 0);
});

test('a session whose streams are mostly reset right after opening is destroyed (rapid reset)', async (t) => {
  const p = await pki();
  const echo = await echoServer();
  const srv = await startTestServer(p, { limits: { rapidResetMinStreams: 20 } });
  const s = await rawH2(srv.addr, p.certs.get(CLIENT_ID)!, p.root.pem);
  const pool = testPool(p);
  t.after(async () => {
    s.destroy();
    await pool.close();
    await srv.server.close();
    await echo.close();
  });
  const closed = once(s, 'close');
  // Exactly the threshold: HEADERS immediately followed by RST_STREAM, twenty times.
  for (let i = 0; i < 20; i++) {
    const req = s.request({ ':method': 'CONNECT', ':authority': `${echo.addr.address}:${echo.addr.port}` });
    req.on('error', () => undefined);
    req.close(http2.constants.NGHTTP2_CANCEL);
  }
  await closed;
  assert.equal(srv.count('rapid_reset'), 1);
  // Other clients are unaffected.
  const good = await openTo(pool, srv.addr, echo.addr);
  assert.equal((await roundTrip(good, Buffer.from('ok'))).toString(), 'ok');
});
