// The cross-node probe's clients (bench/crossnode-probe.ts): an HTTP/1.1 keep-alive client one request
// at a time, an open-loop fixed rate and a closed loop, each over its own connections to a port on
// 127.0.0.1; responses are framed by content-length.
import * as net from 'node:net';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';

const LOCAL = '127.0.0.1';
const REQ = Buffer.from(`GET /probe HTTP/1.1\r\nhost: web.shop.svc.cluster.local\r\n\r\n`);
export const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;

/** Reads content-length framed responses off CONN; each completes the oldest waiter. */
function responses(conn: Duplex): (onDone: () => void) => void {
  let buf = '';
  const waiting: Array<() => void> = [];
  conn.on('data', (d: Buffer) => {
    buf += d.toString('latin1');
    for (;;) {
      const h = buf.indexOf('\r\n\r\n');
      if (h < 0) return;
      const len = Number(/content-length: *(\d+)/i.exec(buf.slice(0, h))?.[1] ?? 0);
      if (buf.length < h + 4 + len) return;
      buf = buf.slice(h + 4 + len);
      waiting.shift()?.();
    }
  });
  return (onDone) => void waiting.push(onDone);
}

/** One request at a time: the round trip in µs. */
export function oneAtATime(conn: Duplex): () => Promise<number> {
  const expect = responses(conn);
  return async () => {
    const t0 = performance.now();
    await new Promise<void>((r) => {
      expect(r);
      conn.write(REQ);
    });
    return (performance.now() - t0) * 1000;
  };
}

export async function tcp(port: number): Promise<net.Socket> {
  const s = net.connect({ host: LOCAL, port, noDelay: true });
  await once(s, 'connect');
  return s;
}

export interface RateResult {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly done: number;
  readonly sent: number;
}

/** `rate` requests/s over `connections` connections for `seconds`, open loop: latency percentiles (ms). */
export async function fixedRate(port: number, rate: number, seconds: number, connections = 16): Promise<RateResult> {
  const conns = await Promise.all(Array.from({ length: connections }, () => tcp(port)));
  const expects = conns.map(responses);
  const lat: number[] = [];
  const start = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const due = Math.min(rate * seconds, Math.floor(((performance.now() - start) / 1000) * rate));
      for (; sent < due; sent++) {
        const t0 = performance.now();
        expects[sent % connections]!(() => lat.push(performance.now() - t0));
        conns[sent % connections]!.write(REQ);
      }
      if (sent >= rate * seconds) {
        clearInterval(tick);
        setTimeout(resolve, 300);
      }
    }, 1);
  });
  for (const c of conns) c.destroy();
  return { p50: pct(lat, 50), p90: pct(lat, 90), p99: pct(lat, 99), done: lat.length, sent };
}

/** Closed loop over `connections` connections for `seconds`: requests completed. */
export async function throughput(port: number, seconds: number, connections = 16): Promise<number> {
  const conns = await Promise.all(Array.from({ length: connections }, () => tcp(port)));
  const expects = conns.map(responses);
  const end = performance.now() + seconds * 1000;
  let done = 0;
  await Promise.all(
    conns.map(
      (c, i) =>
        new Promise<void>((resolve) => {
          const next = (): void => {
            if (performance.now() >= end) return resolve();
            expects[i]!(() => (done++, next()));
            c.write(REQ);
          };
          next();
        }),
    ),
  );
  for (const c of conns) c.destroy();
  return done;
}
