// A TCP → Unix-socket forwarder run as its own process inside a node's network namespace:
// `node forwarder.js HOST PORT SOCKET`. Filesystem paths cross network namespaces, so a server of the
// test process (host loopback) becomes reachable at HOST:PORT from the namespace cluster.
import * as net from 'node:net';

const [host, port, socket] = process.argv.slice(2);
if (!host || !port || !socket) {
  process.stderr.write('usage: forwarder HOST PORT SOCKET\n');
  process.exit(2);
}
const server = net.createServer((c) => {
  const u = net.connect(socket);
  c.pipe(u).pipe(c);
  const end = (): void => {
    c.destroy();
    u.destroy();
  };
  c.on('error', end);
  u.on('error', end);
  c.on('close', end);
  u.on('close', end);
});
server.listen(Number(port), host, () => process.stdout.write(`forwarding ${host}:${port}\n`));
process.on('SIGTERM', () => process.exit(0));
