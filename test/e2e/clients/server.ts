// A pod-side server for mesh e2e tests: HTTP on argv[2] answering who it saw, TCP echo on argv[3].
import * as http from 'node:http';
import * as net from 'node:net';

const httpPort = Number(process.argv[2] ?? 8080);
const tcpPort = Number(process.argv[3] ?? 9000);
/** Optional: who answers, appended to the HTTP body so clients can tell endpoints apart. */
const name = process.argv[4];
http
  .createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end(`hello ${req.method} ${req.url} from ${req.socket.remoteAddress}${name ? ` at ${name}` : ''}`));
  })
  .listen(httpPort, '0.0.0.0');
net
  .createServer((s) => {
    s.on('error', () => undefined);
    s.pipe(s);
  })
  .listen(tcpPort, '0.0.0.0', () => process.stdout.write('ready\n'));
