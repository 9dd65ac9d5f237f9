// The tunnel's transport alone, node's http2 vs the project's HTTP/2 codec (conn/h2socket.ts): one
// mutual-TLS 1.3 connection on loopback, one CONNECT stream, echoed by the server; sequential 200-byte
// ping-pongs (round trip, µs) and a 64 MiB one-way transfer (MB/s). Usage: node dist/bench/tunnel-codec.js
import * as http2 from 'node:http2';
import * as tls from 'node:tls';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { H2Socket } from '../src/conn/h2socket';
import { streamDuplex } from '../src/conn/h2views';
import { createRoot, svid } from '../test/integration/tunnel-pki';

const MSG = Buffer.alloc(200, 0x61);
const ROUNDS = Number(process.argv[2] ?? 3000);
const BULK = 64 << 20;
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;

async function pingPong(conn: Duplex, rounds: number): Promise<number[]> {
  const lat: number[] = [];
  let got = 0;
  let t0 = 0;
  let done: () => void = () => undefined;
  const onData = (c: Buffer): void => {
    got += c.length;
    if (got < MSG.length) return;
    got -= MSG.length;
    lat.push((performance.now() - t0) * 1000);
    done();
  };
  conn.on('data', onData);
  for (let i = 0; i < rounds; i++) {
    const p = new Promise<void>((r) => (done = r));
    t0 = performance.now();
    conn.write(MSG);
    await p;
  }
  conn.off('data', onData);
  return lat;
}

/** Sends BULK bytes; the server echoes, so the client reads them back: MB/s of the round trip. */
async function bulk(conn: Duplex): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024, 0x62);
  let got = 0;
  const t0 = performance.now();
  const done = new Promise<void>((r) =>
    conn.on('data', (c: Buffer) => {
      got += c.length;
      if (got >= BULK) r();
    }),
  );
  for (let sent = 0; sent < BULK; sent += chunk.length) if (!conn.write(chunk)) await once(conn, 'drain');
  await done;
  return BULK / 1e6 / ((performance.now() - t0) / 1000);
}

async function main(): Promise<void> {
  const root = await createRoot();
  const srvCert = await svid(root, 'spiffe://cluster.local/ns/b/sa/server');
  const cliCert = await svid(root, 'spiffe://cluster.local/ns/a/sa/client');
  const tlsServer = { key: srvCert.key, cert: srvCert.cert, ca: root.pem, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' as const, ALPNProtocols: ['h2'] };
  const tlsClient = { key: cliCert.key, cert: cliCert.cert, ca: root.pem, minVersion: 'TLSv1.3' as const, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined };

  // node's http2 on both ends.
  const nodeSrv = http2.createSecureServer({ ...tlsServer, settings: { enablePush: false } });
  nodeSrv.on('stream', (s) => {
    s.respond({ ':status': 200 });
    s.on('error', () => undefined);
    s.pipe(s);
  });
  nodeSrv.on('connection', (s: tls.TLSSocket) => s.setNoDelay(true));
  await new Promise<void>((r) => nodeSrv.listen(0, '127.0.0.1', r));
  const nodePort = (nodeSrv.address() as { port: number }).port;
  const nodeSession = http2.connect(`https://127.0.0.1:${nodePort}`, { createConnection: () => tls.connect({ host: '127.0.0.1', port: nodePort, ...tlsClient, noDelay: true } as tls.ConnectionOptions) });
  // The same with 1 MiB stream windows announced by both ends (the tunnel keeps node's 64 KiB default).
  const bigSrv = http2.createSecureServer({ ...tlsServer, settings: { enablePush: false, initialWindowSize: 1 << 20 } });
  bigSrv.on('stream', (s) => {
    s.respond({ ':status': 200 });
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((r) => bigSrv.listen(0, '127.0.0.1', r));
  const bigPort = (bigSrv.address() as { port: number }).port;
  const bigSession = http2.connect(`https://127.0.0.1:${bigPort}`, {
    settings: { initialWindowSize: 1 << 20 },
    createConnection: () => tls.connect({ host: '127.0.0.1', port: bigPort, ...tlsClient, noDelay: true } as tls.ConnectionOptions),
  });
  bigSession.on('connect', () => bigSession.setLocalWindowSize(1 << 20));
  const openBig = async (): Promise<Duplex> => {
    const req = bigSession.request({ ':method': 'CONNECT', ':authority': '10.0.0.1:80' }, { endStream: false });
    await once(req, 'response');
    return req;
  };
  const openNode = async (): Promise<Duplex> => {
    const req = nodeSession.request({ ':method': 'CONNECT', ':authority': '10.0.0.1:80' }, { endStream: false });
    await once(req, 'response');
    return req;
  };

  // The codec on both ends.
  const codecSrv = tls.createServer({ ...tlsServer }, (sock) => {
    sock.setNoDelay(true);
    new H2Socket(sock, { role: 'server', connectionWindow: 1 << 20 }, {
      stream: (s) => {
        s.sendHeaders([':status', '200'], false);
        const d = streamDuplex(s);
        d.on('error', () => undefined);
        d.pipe(d);
      },
    });
  });
  await new Promise<void>((r) => codecSrv.listen(0, '127.0.0.1', r));
  const codecPort = (codecSrv.address() as { port: number }).port;
  const cs = tls.connect({ host: '127.0.0.1', port: codecPort, ...tlsClient, noDelay: true } as tls.ConnectionOptions);
  await once(cs, 'secureConnect');
  const codecConn = new H2Socket(cs, { role: 'client', connectionWindow: 1 << 20 });
  const openCodec = async (): Promise<Duplex> => {
    let answered: () => void = () => undefined;
    const ok = new Promise<void>((r) => (answered = r));
    const s = codecConn.request([':method', 'CONNECT', ':authority', '10.0.0.1:80'], false, 'CONNECT', { headers: () => answered() });
    if (s === undefined) throw new Error('the codec connection took no stream');
    await ok;
    return streamDuplex(s);
  };

  console.log(`one CONNECT stream over mTLS on loopback; ${MSG.length} B ping-pong x${ROUNDS} (µs), ${BULK >> 20} MiB echoed (MB/s)`);
  console.log('transport        p50     p90     p99    bulk');
  for (const [name, open] of [['node http2', openNode], ['node 1 MiB', openBig], ['codec', openCodec], ['node http2', openNode], ['node 1 MiB', openBig], ['codec', openCodec]] as const) {
    const c = await open();
    c.on('error', () => undefined);
    await pingPong(c, 300);
    const lat = await pingPong(c, ROUNDS);
    const mbs = await bulk(c);
    console.log(`${name.padEnd(12)} ${pct(lat, 50).toFixed(0).padStart(6)}  ${pct(lat, 90).toFixed(0).padStart(6)}  ${pct(lat, 99).toFixed(0).padStart(6)}  ${mbs.toFixed(0).padStart(6)}`);
    c.destroy();
  }
  nodeSession.destroy();
  bigSession.destroy();
  bigSrv.close();
  codecConn.destroy();
  nodeSrv.close();
  codecSrv.close();
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
