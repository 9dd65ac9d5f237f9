// Fixed-rate HTTP/1.1 load from inside a pod: RATE requests/s for SECONDS over CONNS keep-alive
// connections, open loop (a slow answer does not slow the schedule). Prints latency percentiles as JSON.
// Bounded: it stops after SECONDS plus a short grace, whatever happens.
import * as net from 'node:net';

const [host = '', portS = '80', rateS = '1000', secondsS = '5', connsS = '16'] = process.argv.slice(2);
const port = Number(portS);
const rate = Number(rateS);
const seconds = Number(secondsS);
const conns = Number(connsS);
const lat: number[] = [];
let errors = 0;

interface Conn { sock: net.Socket; queue: number[]; buf: string }
const pool: Conn[] = [];
for (let i = 0; i < conns; i++) {
  const c: Conn = { sock: net.connect({ host, port, noDelay: true }), queue: [], buf: '' };
  c.sock.on('data', (d) => {
    c.buf += d.toString('latin1');
    // Responses are small and content-length framed: count complete ones.
    for (;;) {
      const h = c.buf.indexOf('\r\n\r\n');
      if (h < 0) break;
      const m = /content-length: *(\d+)/i.exec(c.buf.slice(0, h));
      const len = m ? Number(m[1]) : 0;
      if (c.buf.length < h + 4 + len) break;
      c.buf = c.buf.slice(h + 4 + len);
      const t0 = c.queue.shift();
      if (t0 !== undefined) lat.push(performance.now() - t0);
    }
  });
  c.sock.on('error', () => errors++);
  pool.push(c);
}
const req = `GET /rate HTTP/1.1\r\nhost: ${host}\r\n\r\n`;
const start = performance.now();
let sent = 0;
const tick = setInterval(() => {
  const due = Math.floor(((performance.now() - start) / 1000) * rate);
  for (; sent < due; sent++) {
    const c = pool[sent % conns]!;
    c.queue.push(performance.now());
    c.sock.write(req);
  }
  if (performance.now() - start > seconds * 1000) {
    clearInterval(tick);
    setTimeout(report, 500);
  }
}, 1);
setTimeout(() => process.exit(3), (seconds + 5) * 1000).unref();

function report(): void {
  lat.sort((a, b) => a - b);
  const q = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN;
  process.stdout.write(`${JSON.stringify({ sent, done: lat.length, errors, p50: q(0.5), p90: q(0.9), p99: q(0.99) })}\n`);
  process.exit(0);
}
