// Where the cross-node latency goes, hop by hop, in one process on loopback (no eBPF, no namespaces, so
// it runs under --cpu-prof): sequential 200-byte ping-pongs to an echo "pod" over
//   tcp:     a plain TCP connection to the pod;
//   stream:  a CONNECT stream of the tunnel pool (mTLS + HTTP/2 both ways, the destination splice);
//   socket:  the same stream as the outbound pools see it (TunnelSocket, upstream/tunnelsock.ts);
//   (the previous design, a Unix socket to a relay splicing into the stream, measured 101–141 µs p50:
//   docs/bench.md)
// Prints round-trip percentiles in microseconds. Usage: node dist/bench/tunnel-hops.js [rounds]
import * as net from 'node:net';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { CLIENT_ID, LOCAL, SERVER_ID, echoServer, pki, startTestServer, testPool } from '../test/integration/tunnel-harness';
import { TunnelRoutes, dialTunnel } from '../src/upstream/tunnelsock';

const ROUNDS = Number(process.argv[2] ?? 3000);
const MSG = Buffer.alloc(200, 0x61);

async function pingPong(conn: Duplex, rounds: number): Promise<number[]> {
  const lat: number[] = [];
  let got = 0;
  let t0 = 0;
  let done: () => void = () => undefined;
  conn.on('data', (c: Buffer) => {
    got += c.length;
    if (got < MSG.length) return;
    got -= MSG.length;
    lat.push((performance.now() - t0) * 1000);
    done();
  });
  for (let i = 0; i < rounds; i++) {
    const p = new Promise<void>((r) => (done = r));
    t0 = performance.now();
    conn.write(MSG);
    await p;
  }
  return lat;
}

const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;

async function main(): Promise<void> {
  const trust = await pki([CLIENT_ID, SERVER_ID]);
  const echo = await echoServer();
  const server = await startTestServer(trust);
  const pool = testPool(trust);
  const route = { identity: CLIENT_ID, target: echo.addr, client: { address: '10.1.2.3', port: 0 } };
  const open = (): Promise<Duplex> => pool.open({ sourceIdentity: CLIENT_ID, destinationIdentities: [SERVER_ID], node: server.addr, target: echo.addr, forwardedFor: route.client });
  const routes = new TunnelRoutes(open);
  const cases: Array<[string, () => Promise<Duplex>]> = [
    ['tcp', async () => {
      const s = net.connect({ host: LOCAL, port: echo.addr.port, noDelay: true });
      await once(s, 'connect');
      return s;
    }],
    ['stream', open],
    ['socket', async () => {
      const s = dialTunnel(routes.ensure(route))!;
      await once(s, 'connect');
      return s;
    }],
  ];
  console.log(`ping-pong of ${MSG.length} B, ${ROUNDS} rounds, round trip in µs`);
  console.log('case      p50     p90     p99');
  for (const [name, make] of cases) {
    const c = await make();
    await pingPong(c, 200); // warm
    c.removeAllListeners('data');
    const lat = await pingPong(c, ROUNDS);
    console.log(`${name.padEnd(8)} ${pct(lat, 50).toFixed(0).padStart(5)}  ${pct(lat, 90).toFixed(0).padStart(6)}  ${pct(lat, 99).toFixed(0).padStart(6)}`);
    c.destroy();
  }
  routes.close();
  await pool.close();
  await server.server.close();
  await echo.close();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
