// A pod-side server for e2e tests: HTTP on the ports in argv[2] (comma-separated) answering `/status/NNN`
// with status NNN and anything else with 200 "hello <path> at <name>"; a TCP echo on the ports in
// argv[3]. Prints "ready" once all listen.
import * as http from 'node:http';
import * as net from 'node:net';

const ports = (arg: string | undefined, dflt: string): number[] => (arg ?? dflt).split(',').map(Number);
const httpPorts = ports(process.argv[2], '8080');
const tcpPorts = ports(process.argv[3], '9000');
const name = process.argv[4] ?? '';
let listening = 0;
const ready = (): void => {
  if (++listening === httpPorts.length + tcpPorts.length) process.stdout.write('ready\n');
};

const answer: http.RequestListener = (req, res) => {
  req.resume();
  req.on('end', () => {
    const m = /^\/status\/([1-5]\d\d)\b/.exec(req.url ?? '');
    res.statusCode = m ? Number(m[1]) : 200;
    res.end(m ? `status ${m[1]} at ${name}` : `hello ${req.url} at ${name}`);
  });
};
for (const p of httpPorts) http.createServer(answer).listen(p, '0.0.0.0', ready);
for (const p of tcpPorts) {
  net
    .createServer((s) => {
      s.on('error', () => undefined);
      s.pipe(s);
    })
    .listen(p, '0.0.0.0', ready);
}
