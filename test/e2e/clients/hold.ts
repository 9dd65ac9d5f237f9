// A pod-side client for e2e tests: one keep-alive connection, one request, then it prints what it saw
// and keeps the connection open until stdin closes, so the test can inspect the kernel maps meanwhile.
import * as net from 'node:net';

const [host = '', portStr = '80'] = (process.argv[2] ?? '').split(':');
const sock = net.connect({ host, port: Number(portStr) }, () => {
  sock.write(`GET /hold HTTP/1.1\r\nhost: ${host}\r\n\r\n`);
});
let buf = '';
sock.on('data', (d) => {
  buf += d.toString();
  if (buf.includes('\r\n\r\n') && !process.stdout.writableEnded) {
    process.stdout.write(`${JSON.stringify({ localPort: sock.localPort, localAddress: sock.localAddress, status: buf.slice(9, 12) })}\n`);
  }
});
sock.on('error', (e) => {
  process.stdout.write(`${JSON.stringify({ error: e.message })}\n`);
  process.exit(1);
});
process.stdin.on('end', () => sock.end(() => process.exit(0)));
process.stdin.resume();
// Bounded: never outlive a forgotten test.
setTimeout(() => process.exit(2), 30_000).unref();
