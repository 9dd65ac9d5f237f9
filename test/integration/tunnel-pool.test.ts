// The source side: which server the pool accepts, how each failure surfaces (MeshError code and
// flag), certificate and root rotation, and session lifetime (sharing, idle release, GOAWAY).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { once } from 'node:events';
import * as http2 from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { Registry } from 'prom-client';
import type { Addr } from '../../src/capture/types';
import { isMeshError, type MeshError } from '../../src/errors';
import { createCsr, createRootCa, generateKeyPair, signLeaf } from '../../src/identity/certs';
import { tunnelMetrics } from '../../src/tunnel/metrics';
import { CLIENT_ID, echoServer, eventually, LOCAL, openTo, pki, rawTcp, roundTrip, SERVER_ID, spiffe, startTestServer, TD, testPool } from './tunnel-harness';
import { createRoot, svid } from './tunnel-pki';

async function failure(p: Promise<unknown>): Promise<MeshError> {
  try {
    await p;
  } catch (e) {
    assert.ok(isMeshError(e), `expected a MeshError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected open() to fail');
}

test('the pool verifies the server identity: an unexpected one is TUNNEL_TLS, any listed one is accepted', async (t) => {
  const p = await pki();
  const echo = await echoServer();
  // This server presents SERVER_ID whatever the SNI asks for.
  const srv = await startTestServer(p, { certFor: () => p.certs.get(SERVER_ID) });
  const pool = testPool(p);
  t.after(async () => {
    await pool.close();
    await srv.server.close();
    await echo.close();
  });
  const impostor = spiffe('shop', 'payments');
  const e = await failure(openTo(pool, srv.addr, echo.addr, { destination: impostor }));
  assert.equal(e.code, 'NM_E_TUNNEL_TLS');
  assert.equal(e.flag, 'TLS_FAILURE');
  assert.equal(e.details.peerIdentity, SERVER_ID);
  assert.equal(srv.streams.length, 0);
  assert.equal(pool.stats().length, 0);

  const s = await pool.open({
    sourceIdentity: CLIENT_ID,
    destinationIdentities: [impostor, SERVER_ID],
    node: srv.addr,
    target: echo.addr,
    forwardedFor: { address: '10.0.0.1', port: 1 },
  });
  assert.equal((await roundTrip(s, Buffer.from('ok'))).toString(), 'ok');
});

test('failures map to catalog errors: no cert, refused port, silent peer, unknown SNI, 400 and 503 answers', async (t) => {
  const p = await pki();
  const echo = await echoServer();
  const srv = await startTestServer(p);
  const silent = net.createServer(() => undefined);
  silent.listen(0, LOCAL);
  await once(silent, 'listening');
  const closedPort = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, LOCAL, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
  const pool = testPool(p);
  // Only the silent peer needs a short deadline; the other cases must not race it on a busy machine.
  const impatient = testPool(p, { connectTimeoutMs: 300 });
  const sockets = new Set<net.Socket>();
  silent.on('connection', (c) => sockets.add(c));
  t.after(async () => {
    await pool.close();
    await impatient.close();
    await srv.server.close();
    await echo.close();
    for (const c of sockets) c.destroy();
    await new Promise((r) => silent.close(r));
  });

  const noCert = await failure(pool.open({ sourceIdentity: spiffe('shop', 'ghost'), destinationIdentities: [SERVER_ID], node: srv.addr, target: echo.addr, forwardedFor: echo.addr }));
  assert.equal(noCert.code, 'NM_E_TUNNEL_NO_CERT');

  const refused = await failure(openTo(pool, { address: LOCAL, port: closedPort }, echo.addr));
  assert.equal(refused.code, 'NM_E_TUNNEL_CONNECT');
  assert.equal(refused.flag, 'UF');

  const started = Date.now();
  const timeout = await failure(openTo(impatient, { address: LOCAL, port: (silent.address() as net.AddressInfo).port }, echo.addr));
  assert.equal(timeout.code, 'NM_E_TUNNEL_TIMEOUT');
  assert.ok(Date.now() - started < 2_500);
  await eventually(() => impatient.stats().length === 0, 'the timed-out session is gone');

  const unknown = await failure(openTo(pool, srv.addr, echo.addr, { destination: spiffe('shop', 'nobody') }));
  assert.equal(unknown.code, 'NM_E_TUNNEL_TLS');
  await eventually(() => srv.count('unknown_sni') === 1, 'unknown SNI counted');

  const nonLocal = await failure(openTo(pool, srv.addr, { address: '10.9.9.9', port: 80 }));
  assert.equal(nonLocal.code, 'NM_E_TUNNEL_REFUSED');
  assert.equal(nonLocal.flag, 'CONNECT');
  assert.equal(nonLocal.details.status, 400);

  const podDown = await failure(openTo(pool, srv.addr, { address: LOCAL, port: closedPort }));
  assert.equal(podDown.code, 'NM_E_TUNNEL_REFUSED');
  assert.equal(podDown.details.status, 503);

  // The failures above left the healthy session usable.
  const ok = await openTo(pool, srv.addr, echo.addr);
  assert.equal((await roundTrip(ok, Buffer.from('fine'))).toString(), 'fine');
});

test('a client the server refuses after the TLS 1.3 handshake fails open() instead of hanging', async (t) => {
  const p = await pki();
  p.certs.set(CLIENT_ID, await svid(p.root, spiffe('shop', 'frontend', 'other.domain')));
  const echo = await echoServer();
  const srv = await startTestServer(p);
  const pool = testPool(p);
  t.after(async () => {
    await pool.close();
    await srv.server.close();
    await echo.close();
  });
  const e = await failure(openTo(pool, srv.addr, echo.addr));
  assert.ok(['NM_E_TUNNEL_CONNECT', 'NM_E_TUNNEL_TLS'].includes(e.code), e.code);
  assert.equal(srv.count('wrong_trust_domain'), 1);
});

/** CONNECT over a session that sends no SNI; 'refused' when the server drops the session. */
async function connectWithoutSni(node: Addr, kc: { key: string; cert: string }, ca: string, target: Addr): Promise<number | 'refused'> {
  const s = http2.connect(`https://${node.address}:${node.port}`, { key: kc.key, cert: kc.cert, ca, servername: '', checkServerIdentity: () => undefined });
  s.on('error', () => undefined);
  try {
    return await new Promise((resolve) => {
      const req = s.request({ ':method': 'CONNECT', ':authority': `${target.address}:${target.port}` });
      req.on('error', () => undefined);
      req.on('response', (h) => resolve(Number(h[':status'])));
      req.on('close', () => resolve('refused'));
    });
  } finally {
    s.destroy();
  }
}

test('rotation: new sessions use the new certificates and root, streams on old sessions finish', async (t) => {
  const p = await pki();
  const echo = await echoServer();
  const root2 = await createRoot('next root');
  let serverRoots = p.root.pem;
  const srv = await startTestServer(p, { rootPem: () => serverRoots });
  const pool = testPool(p);
  t.after(async () => {
    await pool.close();
    await srv.server.close();
    await echo.close();
  });
  const serialSeen = (): string | undefined => (srv.streams.at(-1)!.stream.session!.socket as unknown as TLSSocket).getPeerX509Certificate()?.serialNumber;

  const old = await openTo(pool, srv.addr, echo.addr);
  const oldSerial = serialSeen();

  // Client certificate from a root the server does not trust yet: refused.
  p.certs.set(CLIENT_ID, await svid(root2, CLIENT_ID));
  pool.rotate();
  assert.ok(pool.stats().every((s) => s.draining));
  await failure(openTo(pool, srv.addr, echo.addr));
  await eventually(() => srv.count('bad_client_cert') === 1, 'untrusted client counted');

  // A client without SNI gets the default context, which is refreshed per connection too.
  assert.equal(await connectWithoutSni(srv.addr, p.certs.get(CLIENT_ID)!, p.root.pem, echo.addr), 'refused');

  // The server now trusts both roots (re-read per handshake, no restart): accepted, new serial.
  serverRoots = `${p.root.pem}\n${root2.pem}`;
  assert.equal(await connectWithoutSni(srv.addr, p.certs.get(CLIENT_ID)!, p.root.pem, echo.addr), 200);
  const fresh = await openTo(pool, srv.addr, echo.addr);
  const serverSerial = (s: typeof fresh): string | undefined => (s.session!.socket as unknown as TLSSocket).getPeerX509Certificate()?.serialNumber;
  const before = serverSerial(fresh);
  assert.notEqual(serialSeen(), oldSerial);
  assert.equal((await roundTrip(fresh, Buffer.from('new'))).toString(), 'new');

  // The stream opened before the rotation still works, and its session closes once it ends.
  assert.equal((await roundTrip(old, Buffer.from('old'))).toString(), 'old');
  await eventually(() => pool.stats().length === 1, 'the drained session closed');

  // Server certificate rotation: the next session sees the new one.
  p.certs.set(SERVER_ID, await svid(p.root, SERVER_ID));
  pool.rotate();
  const after = await openTo(pool, srv.addr, echo.addr);
  assert.notEqual(serverSerial(after), before);
  after.destroy();
});

test('sessions: concurrent opens share one handshake, idle sessions are released, a server GOAWAY is followed', async (t) => {
  const p = await pki();
  const echo = await echoServer();
  const registry = new Registry();
  const m = tunnelMetrics(registry);
  const srv = await startTestServer(p, { limits: { idleMs: 300 }, metrics: m.server });
  const pool = testPool(p, { idleMs: 150, metrics: m.pool });
  t.after(async () => {
    await pool.close();
    await srv.server.close();
    await echo.close();
  });
  const streams = await Promise.all(Array.from({ length: 10 }, () => openTo(pool, srv.addr, echo.addr)));
  assert.equal(pool.stats().length, 1);
  await Promise.all(streams.map((s) => roundTrip(s, Buffer.from('.'))));
  await eventually(() => pool.stats().length === 0, 'the pool released its idle session');

  // A session the pool keeps busy past the server's idle limit is not cut: only idle ones are.
  const busy = await openTo(pool, srv.addr, echo.addr);
  await new Promise((r) => setTimeout(r, 400));
  assert.equal((await roundTrip(busy, Buffer.from('still here'))).toString(), 'still here');

  // The server closes idle sessions (GOAWAY) before a pool with a long idle time would.
  const lazy = testPool(p, { idleMs: 60_000 });
  t.after(() => lazy.close());
  await openTo(lazy, srv.addr, echo.addr).then((s) => roundTrip(s, Buffer.from('.')));
  await eventually(() => lazy.stats().length === 0, 'GOAWAY from the idle server session', 2_000);
  await openTo(lazy, srv.addr, echo.addr).then((s) => roundTrip(s, Buffer.from('.')));

  await rawTcp(srv.addr, 'hello?\r\n\r\n');
  let text = '';
  for (let i = 0; i < 100 && !/reason="not_tls"\} 1/.test(text); i++) {
    text = await registry.metrics();
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.match(text, /nodemesh_tunnel_rejected_total\{reason="not_tls"\} 1/);
  assert.match(text, /nodemesh_tunnel_rejected_total\{reason="rapid_reset"\} 0/);
  assert.match(text, /nodemesh_tunnel_streams_total 13/);
});

test('SVIDs issued by the mesh CA code (identity/certs) carry a tunnel end to end', async (t) => {
  const root = await createRootCa(TD);
  const issue = async (id: string): Promise<{ key: string; cert: string }> => {
    const key = await generateKeyPair();
    const csrPem = await createCsr(id, key);
    return { key: key.keyPem, cert: await signLeaf({ csrPem, ca: root, ttlSeconds: 3600, spiffeId: id }) };
  };
  const p = { root: { pem: root.certPem }, certs: new Map([[CLIENT_ID, await issue(CLIENT_ID)], [SERVER_ID, await issue(SERVER_ID)]]) };
  const echo = await echoServer();
  const srv = await startTestServer(p);
  const pool = testPool(p);
  t.after(async () => {
    await pool.close();
    await srv.server.close();
    await echo.close();
  });
  const s = await openTo(pool, srv.addr, echo.addr);
  assert.equal((await roundTrip(s, Buffer.from('ca-issued'))).toString(), 'ca-issued');
  assert.equal(srv.streams[0]!.peerIdentity, CLIENT_ID);
});
